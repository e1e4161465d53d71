// Issue 2 acceptance 5: a snapshot killed with SIGKILL while fetching and while publishing
// leaves the published tree and the database consistent, and the next snapshot succeeds.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readlink, access } from 'node:fs/promises';
import { join } from 'node:path';
import { createUpstreamKey, buildUpstream, makePackages, churn, type UpstreamKey, type FixturePackage } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';

interface SerialJson {
  serial: string;
  state: string;
}

describe('a snapshot killed with SIGKILL', () => {
  let dir: string;
  let key: UpstreamKey;
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let pkgs: FixturePackage[];
  let seed = 1;

  before(async () => {
    dir = await tmpDir('af-crash');
    key = await createUpstreamKey(join(dir, 'keys'));
    pkgs = makePackages(12);
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs }], key);
    up = await serveUpstream(join(dir, 'up'));
    svc = await startService(join(dir, 'svc'), {
      archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
    });
    assert.equal((await svc.cli(['snapshot', 'debian'])).code, 0);
    // The kill points are in the CLI's own run: with no daemon on the data directory, the CLI runs
    // its operations itself (otherwise it would hand them to this process's daemon).
    await svc.daemon.stop();
  });
  after(async () => {
    await svc?.close();
    await up?.close();
  });

  /** The published tree and the database agree (read after a restart: the CLI's recovery runs at open). */
  async function assertConsistent() {
    const r = await svc.cli(['serials', 'debian', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const serials = (JSON.parse(r.stdout) as SerialJson[]).filter((s) => s.state !== 'collected');
    const base = join(svc.dataDir, 'public', 'debian');
    const entries = (await readdir(base)).sort();
    assert.deepEqual(entries, [...serials.map((s) => s.serial), '.pools', 'latest', 'project'].sort(), 'only published serials in the tree');
    assert.deepEqual((await readdir(join(base, '.pools'))).filter((p) => p.startsWith('.')), [], 'no half-built pool');
    assert.equal(await readlink(join(base, 'latest')), serials[0]!.serial, 'latest is the newest published serial');
    for (const s of serials) {
      await access(join(base, s.serial, 'dists', 'bookworm', 'InRelease'));
      await access(join(base, s.serial, 'pool', 'main'));
    }
    assert.deepEqual(await readdir(join(svc.dataDir, 'store', 'tmp')), [], 'no partial downloads');
    return serials;
  }

  for (const point of ['pool-file:2', 'proof', 'stage', 'commit', 'record', 'latest']) {
    it(`recovers when killed at ${point}`, async () => {
      pkgs = churn(pkgs, 0.3, seed++);
      await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs }], key);
      const before = await assertConsistent();
      const killed = await svc.cli(['snapshot', 'debian'], { APTFREEZE_TEST_KILL_AT: point });
      assert.notEqual(killed.code, 0, 'the run was killed');
      const afterKill = await assertConsistent();
      // Killed after the database commit, the serial is published; before it, nothing is.
      assert.equal(afterKill.length, before.length + (point === 'latest' ? 1 : 0));
      const next = await svc.cli(['snapshot', 'debian', '--json']);
      assert.equal(next.code, 0, next.stderr);
      const serial = JSON.parse(next.stdout)[0].serial as string;
      assert.ok(serial > afterKill[0]!.serial, 'a new, higher serial');
      await assertConsistent();
    });
  }
});
