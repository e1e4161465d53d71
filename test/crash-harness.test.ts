// Issue 6 acceptance 2: SIGKILL at more than 50 points across snapshot, freeze, thaw and gc.
// After each kill the service restarts (crash recovery, as the daemon runs it at open), and
// `aptfreeze fsck` (the same code, in-process) must find every published serial whole: every file
// with its hash, every signature valid, latest right. Only a freeze or thaw killed half-way
// through re-signing may leave its suite's Release files disagreeing with the database
// (valid-until / release-mismatch), which `fsck --repair` finishes; after the repair nothing at
// all is left, and the next snapshot succeeds.
//
// Kill points: the snapshot's named steps (APTFREEZE_TEST_KILL_AT=<step>[:n]) and, for every
// operation, "just before its n-th file system write" (test/helpers/kill-preload.mjs), which
// reaches the steps of freeze, thaw and gc that carry no named kill point.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createUpstreamKey, buildUpstream, makePackages, churn, type UpstreamKey, type FixturePackage } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type CliResult, type ServiceHarness } from './helpers/service.ts';
import { snapshotService } from '../server/snapshot/service.ts';
import { runGc } from '../server/release/gc.ts';
import { openForFsck } from '../server/fsck/open.ts';
import { runFsck } from '../server/fsck/fsck.ts';
import type { FsckReport, ProblemKind } from '../server/fsck/report.ts';

const killPreload = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'kill-preload.mjs');
const killed = (r: CliResult) => r.code === 128;

describe('SIGKILL at every step of snapshot, freeze, thaw and gc', () => {
  let dir: string;
  let key: UpstreamKey;
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let pkgs: FixturePackage[];
  let seed = 1;
  // Release dates one second apart, in the past: each build is newer than the last, without waiting.
  let date = Date.now() - 3 * 3600_000;
  const points: Array<{ op: string; point: string; killed: boolean; repaired: string[] }> = [];

  async function churnUpstream(fraction = 0.3) {
    pkgs = churn(pkgs, fraction, seed++);
    date += 1000;
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs, date: new Date(date) }], key);
  }

  async function fsck(repair: boolean): Promise<FsckReport> {
    const ctx = openForFsck(svc.dataDir);
    try {
      return await runFsck(ctx, { repair });
    } finally {
      ctx.close();
    }
  }

  /**
   * After a kill: restart, then fsck finds every published serial whole (only the kinds in
   * `halfDone` may appear), --repair leaves nothing, and a snapshot succeeds.
   */
  async function afterKill(op: string, point: string, r: CliResult, halfDone: { serial: string; kinds: ProblemKind[] } | null = null) {
    await svc.reconfigure(() => {});
    const found = await fsck(false);
    const errors = found.problems.filter((p) => p.severity === 'error' && !(halfDone && p.serial === halfDone.serial && halfDone.kinds.includes(p.kind)));
    assert.deepEqual(errors, [], `${op} killed at ${point}: ${JSON.stringify(found.problems)}`);
    const repaired = await fsck(true);
    assert.deepEqual(repaired.problems, [], `${op} killed at ${point}, after --repair: ${JSON.stringify(repaired.problems)}`);
    points.push({ op, point, killed: killed(r), repaired: repaired.repaired.map((p) => p.kind) });
  }

  /** One command under the fs kill preload: `count` mode returns the writes it makes, in order. */
  async function countWrites(args: string[]): Promise<string[]> {
    const log = join(dir, `writes-${Date.now()}.log`);
    const r = await svc.cli(args, { NODE_OPTIONS: `--import=${killPreload}`, APTFREEZE_TEST_KILL_FS: 'count', APTFREEZE_TEST_KILL_FS_LOG: log });
    assert.equal(r.code, 0, r.stderr);
    return (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => l.replace(svc.dataDir, '<data>'));
  }
  const killAtWrite = (args: string[], n: number) => svc.cli(args, { NODE_OPTIONS: `--import=${killPreload}`, APTFREEZE_TEST_KILL_FS: String(n) });
  const latest = () => svc.services.repo.latestSerial('debian')!;
  const snapshotNow = () => snapshotService(svc.services)('debian', 'harness');

  before(async () => {
    dir = await tmpDir('af-crash-harness');
    key = await createUpstreamKey(join(dir, 'keys'));
    pkgs = makePackages(8);
    await churnUpstream(0);
    up = await serveUpstream(join(dir, 'up'));
    svc = await startService(join(dir, 'svc'), {
      lifetime: '1s', // every serial but the latest is collectable at once: gc has work
      keep: 1,
      archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
    });
    await snapshotNow();
  });
  after(async (t) => {
    await svc?.close();
    await up?.close();
    void t;
  });

  describe('a snapshot', () => {
    const named = ['releases', 'indices', 'parse', 'pool', 'pool-file:1', 'pool-file:2', 'pool-file:3', 'proof', 'sign', 'stage', 'commit', 'record', 'latest'];
    for (const point of named) {
      it(`killed at its "${point}" step`, async () => {
        await churnUpstream();
        const before = svc.services.repo.listSerials('debian').length;
        const r = await svc.cli(['snapshot', 'debian'], { APTFREEZE_TEST_KILL_AT: point });
        assert.ok(killed(r), `killed (exit ${r.code}: ${r.stderr})`);
        await afterKill('snapshot', point, r);
        // Killed after the database commit (at "latest"), the serial is published; before it, nothing is.
        assert.equal(svc.services.repo.listSerials('debian').length, before + (point === 'latest' ? 1 : 0));
        await snapshotNow();
      });
    }

    it('killed before each of a sample of its file system writes', async (t) => {
      await churnUpstream();
      const writes = await countWrites(['snapshot', 'debian']);
      t.diagnostic(`a snapshot with 30% churn makes ${writes.length} writes`);
      assert.ok(writes.length > 20);
      const sample = [...new Set(Array.from({ length: 12 }, (_, i) => 1 + Math.floor((i * (writes.length * 0.9 - 1)) / 11)))];
      for (const n of sample) {
        await churnUpstream();
        const r = await killAtWrite(['snapshot', 'debian'], n);
        assert.ok(killed(r), `killed before write ${n} (exit ${r.code}: ${r.stderr})`);
        await afterKill('snapshot', `write ${n}/${writes.length} (${writes[n - 1]})`, r);
        await snapshotNow();
      }
    });
  });

  describe('a freeze and a thaw', () => {
    it('killed before each of their file system writes', async (t) => {
      await churnUpstream();
      await snapshotNow();
      const serial = latest();
      const freeze = ['freeze', 'debian', serial, '--until', '30d', '--reason', 'crash harness'];
      // Killed between replacing one signed file and the next, a re-signing leaves that serial's
      // Release, Release.gpg and InRelease disagreeing (and the database rolled back): fsck says
      // so, only for that serial, and --repair re-signs it with the recorded Valid-Until.
      const resigning: ProblemKind[] = ['valid-until', 'release-mismatch', 'bad-signature'];
      const thaw = ['thaw', 'debian', serial];
      // The writes of one freeze and one thaw (and the operations succeed).
      const fw = await countWrites(freeze);
      const tw = await countWrites(thaw);
      t.diagnostic(`a freeze makes ${fw.length} writes, a thaw ${tw.length}`);
      assert.ok(fw.length >= 3 && tw.length >= 3, `${fw.join('; ')} / ${tw.join('; ')}`);
      for (let n = 1; n <= fw.length; n++) {
        const r = await killAtWrite(freeze, n);
        assert.ok(killed(r), `freeze killed before write ${n}: ${r.stderr}`);
        await afterKill('freeze', `write ${n}/${fw.length} (${fw[n - 1]})`, r, { serial, kinds: resigning });
        assert.equal(svc.services.repo.getSerial('debian', serial)?.state, 'live', 'the freeze did not happen');
      }
      assert.equal((await svc.cli(freeze)).code, 0);
      for (let n = 1; n <= tw.length; n++) {
        const r = await killAtWrite(thaw, n);
        assert.ok(killed(r), `thaw killed before write ${n}: ${r.stderr}`);
        await afterKill('thaw', `write ${n}/${tw.length} (${tw[n - 1]})`, r, { serial, kinds: resigning });
        assert.equal(svc.services.repo.getSerial('debian', serial)?.state, 'frozen', 'the thaw did not happen');
      }
      assert.equal((await svc.cli(thaw)).code, 0);
      await churnUpstream();
      await snapshotNow();
    });
  });

  describe('a gc', () => {
    it('killed before each of a sample of its file system writes', async (t) => {
      /** One more serial, and the one before it expired at once (lifetime 1s, keep 1): gc collects it and sweeps its blobs. */
      const prepare = async () => {
        await churnUpstream(0.5);
        await snapshotNow();
        await new Promise((r) => setTimeout(r, 1100));
      };
      // Earlier serials of this file are all collectable: collect them first, so that every gc below has the same work.
      await runGc(svc.services, { actor: 'harness' });
      await prepare();
      const writes = await countWrites(['gc']);
      const ops = new Map<string, number>();
      for (const w of writes) ops.set(w.split(' ')[0]!, (ops.get(w.split(' ')[0]!) ?? 0) + 1);
      t.diagnostic(`a gc of one serial makes ${writes.length} writes (${[...ops].map(([k, v]) => `${v} ${k}`).join(', ')})`);
      assert.ok(writes.length >= 3, writes.join('; '));
      // The number of blobs a gc deletes varies from one serial to the next (16 to 19 writes here): every write up to 14.
      const sample = Array.from({ length: Math.min(14, writes.length) }, (_, i) => i + 1);
      for (const n of sample) {
        await prepare();
        const r = await killAtWrite(['gc'], n);
        assert.ok(killed(r), `gc killed before write ${n}: ${r.stderr}`);
        await afterKill('gc', `write ${n}/${writes.length} (${writes[n - 1]})`, r);
        await runGc(svc.services, { actor: 'harness' }); // the next gc succeeds
      }
    });
  });

  it('ran at least 50 kill points, each followed by a consistent fsck and a successful snapshot', async (t) => {
    await churnUpstream();
    await snapshotNow();
    assert.deepEqual((await fsck(false)).problems, []);
    for (const op of ['snapshot', 'freeze', 'thaw', 'gc']) t.diagnostic(`${op}: ${points.filter((p) => p.op === op).length} kill points`);
    const halfDone = points.filter((p) => p.repaired.some((k) => k === 'valid-until' || k === 'release-mismatch' || k === 'bad-signature'));
    t.diagnostic(`half-done re-signings finished by fsck --repair: ${halfDone.map((p) => `${p.op} at ${p.point}`).join('; ') || 'none'}`);
    assert.ok(points.length >= 50, `${points.length} kill points`);
    assert.ok(points.every((p) => p.killed));
  });
});
