// Issue 6, disk full: a snapshot that runs out of space fails cleanly (one line, a non-zero
// exit), the published state stays byte-identical, the store keeps no partial file, and once
// space is back `aptfreeze fsck` finds nothing wrong and the next snapshot succeeds.
//
// Where the test may mount (root, CAP_SYS_ADMIN), the data directory is a small tmpfs and the
// disk really fills up: while downloading pool files (through the CLI), and, filled to the last
// byte on purpose, at each later step of a snapshot (proof, manifest, staging, the database
// record). Elsewhere, the same steps get an injected ENOSPC write error instead.
import { archiveLock } from '../server/catalog/repo.ts';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createUpstreamKey, buildUpstream, makePackages, churn, type UpstreamKey, type FixturePackage } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { fillDisk } from './helpers/fill.ts';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { treeState, corruptBlobs } from './helpers/hostile.ts';
import { snapshotService } from '../server/snapshot/service.ts';
import { openForFsck } from '../server/fsck/open.ts';
import { runFsck } from '../server/fsck/fsck.ts';
import { isAptfreezeError } from '../server/errors.ts';

const sizeMiB = 48;

/** Fills a file system to its last block; returns the filler's path (remove it to get the space back). */
function fill(dir: string): string {
  const file = join(dir, `filler-${process.pid}-${Date.now()}`);
  fillDisk(file);
  return file;
}

function freeBytes(dir: string): number {
  const r = spawnSync('df', ['-B1', '--output=avail', dir], { encoding: 'utf8' });
  return Number(r.stdout.trim().split('\n').pop());
}

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write (injected)'), { code: 'ENOSPC', errno: -28 });

describe('a snapshot that runs out of disk space', () => {
  let dir: string;
  let key: UpstreamKey;
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let pkgs: FixturePackage[];
  let mounted = false;
  let dataDir: string;

  const state = async () => ({
    tree: await treeState(join(dataDir, 'public')),
    serials: JSON.stringify(svc.services.repo.listSerials('debian', { includeCollected: true })),
  });
  /**
   * Every published path keeps its bytes, and nothing new is served: a failure after the shared
   * pool tree was linked may leave it (or a staging tree) under a dot-directory, which is never
   * served and which the next start, gc or fsck --repair removes (checked by assertFsckClean).
   */
  async function assertIntact(before: Awaited<ReturnType<typeof state>>) {
    const now = await state();
    for (const [p, h] of before.tree) assert.equal(now.tree.get(p), h, `${p} unchanged`);
    const added = [...now.tree.keys()].filter((p) => !before.tree.has(p));
    assert.deepEqual(added.filter((p) => !/^debian\/\.(pools|staging-)/.test(p)), [], 'nothing new is published');
    assert.equal(now.serials, before.serials, 'no serial published, none lost');
    assert.deepEqual(await readdir(join(dataDir, 'store', 'tmp')), [], 'no partial file in the store');
    assert.deepEqual(await corruptBlobs(dataDir), [], 'every blob whole');
  }
  /**
   * After a restart (crash recovery, as the daemon runs it), fsck finds no error; --repair removes
   * the leftovers (an unused pool tree), and then the published tree is exactly as before.
   */
  async function assertFsckClean(before?: Awaited<ReturnType<typeof state>>) {
    await svc.reconfigure(() => {});
    const ctx = openForFsck(dataDir);
    try {
      const found = await runFsck(ctx);
      assert.equal(found.ok, true, JSON.stringify(found.problems));
      const r = await runFsck(ctx, { repair: true });
      assert.deepEqual(r.problems, []);
    } finally {
      ctx.close();
    }
    if (before) assert.deepEqual((await state()).tree, before.tree, 'the published tree is exactly as before');
  }
  async function nextUpstream(payloadBytes?: number) {
    pkgs = churn(pkgs, 0.5, Math.floor(Math.random() * 1e6)).map((p) => (payloadBytes ? { ...p, payloadBytes } : p));
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs }], key);
  }

  before(async () => {
    dir = await tmpDir('af-diskfull');
    dataDir = join(dir, 'svc', 'data');
    await mkdir(dataDir, { recursive: true });
    // APTFREEZE_TEST_NO_MOUNT=1 runs the injected-error variant even where mounting works.
    if (!process.env['APTFREEZE_TEST_NO_MOUNT']) {
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dataDir], { encoding: 'utf8' });
      mounted = m.status === 0;
    }
    key = await createUpstreamKey(join(dir, 'keys'));
    pkgs = makePackages(6);
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs }], key);
    up = await serveUpstream(join(dir, 'up'));
    svc = await startService(join(dir, 'svc'), {
      archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
      fetch: { retries: 1, backoffMs: 10 },
    });
    const r = await svc.cli(['snapshot', 'debian']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await svc?.close();
    await up?.close();
    if (mounted) spawnSync('umount', ['-l', dataDir]);
  });

  it('fails cleanly when the disk fills up while downloading pool files (CLI, real ENOSPC)', async (t) => {
    if (!mounted) {
      t.diagnostic('no tmpfs (not root?): injected ENOSPC while storing pool files instead');
      await nextUpstream();
      const before = await state();
      const store = svc.services.store;
      const real = store.putStream.bind(store);
      store.putStream = async () => {
        throw enospc();
      };
      try {
        await assert.rejects(snapshotService(svc.services)('debian', 'test'), (e) => isAptfreezeError(e) && /ENOSPC/.test(e.message));
      } finally {
        store.putStream = real;
      }
      await assertIntact(before);
      return;
    }
    // New pool files of 3 MiB each, and 2 MiB left: the first one cannot be stored.
    await nextUpstream(3 << 20);
    const keep = freeBytes(dataDir) - (2 << 20);
    const filler2 = join(dataDir, 'filler');
    const fd = openSync(filler2, 'w');
    writeSync(fd, Buffer.alloc(keep));
    closeSync(fd);
    t.diagnostic(`tmpfs of ${sizeMiB} MiB, ${freeBytes(dataDir)} bytes free`);
    const before = await state();
    const r = await svc.cli(['snapshot', 'debian']);
    assert.notEqual(r.code, 0);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('aptfreeze:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^aptfreeze: DISK_FULL: .*ENOSPC/);
    await assertIntact(before);
    await rm(filler2);
    await assertFsckClean(before);
    const next = await svc.cli(['snapshot', 'debian']);
    assert.equal(next.code, 0, next.stderr);
    await assertFsckClean();
  });

  for (const step of ['proof', 'sign', 'stage', 'record']) {
    it(`fails cleanly when the disk is full at the "${step}" step`, async (t) => {
      await nextUpstream();
      const before = await state();
      let filler: string | undefined;
      const store = svc.services.store;
      const realPutBuffer = store.putBuffer.bind(store);
      const run = snapshotService(svc.services, {
        step: (name) => {
          if (name !== step) return;
          if (mounted) filler = fill(dataDir);
          else store.putBuffer = async () => Promise.reject(enospc());
          if (!mounted && (step === 'stage' || step === 'record')) throw enospc();
        },
      });
      try {
        await assert.rejects(run('debian', 'test'), (e) => {
          assert.ok(isAptfreezeError(e), String(e));
          t.diagnostic(`${step}: ${e.code}: ${e.message}`);
          return true;
        });
      } finally {
        store.putBuffer = realPutBuffer;
        if (filler) await rm(filler);
        // On a full disk even the lock row's DELETE can fail: the test's in-process driver
        // (snapshotService) leaves its row, held by this live process; free it with the disk.
        svc.services.repo.unlock([archiveLock('debian')], process.pid);
      }
      await assertIntact(before);
      await assertFsckClean(before);
      const next = await svc.cli(['snapshot', 'debian']);
      assert.equal(next.code, 0, next.stderr);
    });
  }
});
