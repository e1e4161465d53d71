// Issue 6 acceptance 2: SIGKILL at more than 50 points across snapshot, freeze, thaw and gc.
// After each kill the service restarts (crash recovery, as the daemon runs it at open), and
// `aptfreeze fsck` (the same code, in-process) must find every published serial whole: every file
// with its hash, every signature valid, latest right. Only a freeze or thaw killed half-way
// through re-signing may leave that serial's Release files disagreeing with each other and with
// the database (valid-until / release-mismatch / bad-signature), which `fsck --repair` finishes;
// after the repair nothing at all is left, and the next snapshot (or gc) succeeds.
//
// Kill points: the snapshot's named steps (APTFREEZE_TEST_KILL_AT=<step>[:n]) and, for every
// operation, "just before its n-th file system write" (test/helpers/kill-preload.mjs), which
// reaches the steps of freeze, thaw and gc that carry no named kill point. The four lanes run
// side by side, each on its own upstream and data directory.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createUpstreamKey, buildUpstream, makePackages, churn, type FixturePackage } from './helpers/upstream.ts';
import { serveUpstream } from './helpers/http-upstream.ts';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type CliResult } from './helpers/service.ts';
import { snapshotService } from '../server/snapshot/service.ts';
import { runGc } from '../server/release/gc.ts';
import { openForFsck } from '../server/fsck/open.ts';
import { runFsck } from '../server/fsck/fsck.ts';
import type { FsckReport, ProblemKind } from '../server/fsck/report.ts';

const killPreload = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'kill-preload.mjs');
const killed = (r: CliResult) => r.code === 128;

interface Point {
  op: string;
  point: string;
  killed: boolean;
  repaired: string[];
}
const points: Point[] = [];

/** One upstream, one service (lifetime 1s, keep 1: every serial but the latest is collectable at once). */
async function lane(name: string) {
  const dir = await tmpDir(`af-crash-${name}`);
  const key = await createUpstreamKey(join(dir, 'keys'));
  let pkgs: FixturePackage[] = makePackages(8);
  let seed = 1;
  // Release dates one second apart, in the past: each build is newer than the last, without waiting.
  let date = Date.now() - 3 * 3600_000;
  const churnUpstream = async (fraction = 0.3) => {
    pkgs = churn(pkgs, fraction, seed++);
    date += 1000;
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs, date: new Date(date) }], key);
  };
  await churnUpstream(0);
  const up = await serveUpstream(join(dir, 'up'));
  const svc = await startService(join(dir, 'svc'), {
    lifetime: '1s',
    keep: 1,
    archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
  });
  const snapshotNow = () => snapshotService(svc.services)('debian', 'harness');
  await snapshotNow();

  const fsck = async (repair: boolean): Promise<FsckReport> => {
    const ctx = openForFsck(svc.dataDir);
    try {
      return await runFsck(ctx, { repair });
    } finally {
      ctx.close();
    }
  };

  return {
    svc,
    churnUpstream,
    snapshotNow,
    fsck,
    latest: () => svc.services.repo.latestSerial('debian')!,
    /**
     * After a kill: restart, then fsck finds every published serial whole (only `halfDone` kinds,
     * on that serial, may appear), and --repair leaves nothing.
     */
    async afterKill(op: string, point: string, r: CliResult, halfDone: { serial: string; kinds: ProblemKind[] } | null = null) {
      await svc.reconfigure(() => {});
      const found = await fsck(false);
      const errors = found.problems.filter((p) => p.severity === 'error' && !(halfDone && p.serial === halfDone.serial && halfDone.kinds.includes(p.kind)));
      assert.deepEqual(errors, [], `${op} killed at ${point}: ${JSON.stringify(found.problems)}`);
      const repaired = await fsck(true);
      assert.deepEqual(repaired.problems, [], `${op} killed at ${point}, after --repair: ${JSON.stringify(repaired.problems)}`);
      points.push({ op, point, killed: killed(r), repaired: repaired.repaired.map((p) => p.kind) });
    },
    /** One command under the fs kill preload in `count` mode: the writes it makes, in order (and the command succeeds). */
    async countWrites(args: string[]): Promise<string[]> {
      const log = join(dir, `writes-${Date.now()}.log`);
      const r = await svc.cli(args, { NODE_OPTIONS: `--import=${killPreload}`, APTFREEZE_TEST_KILL_FS: 'count', APTFREEZE_TEST_KILL_FS_LOG: log });
      assert.equal(r.code, 0, r.stderr);
      return (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => l.replace(svc.dataDir, '<data>'));
    },
    killAtWrite: (args: string[], n: number) => svc.cli(args, { NODE_OPTIONS: `--import=${killPreload}`, APTFREEZE_TEST_KILL_FS: String(n) }),
    async close() {
      await svc.close();
      await up.close();
    },
  };
}
type Lane = Awaited<ReturnType<typeof lane>>;

describe('SIGKILL at every step of snapshot, freeze, thaw and gc', () => {
  const lanes: Lane[] = [];
  const open = async (name: string) => {
    const l = await lane(name);
    lanes.push(l);
    return l;
  };
  after(async () => {
    for (const l of lanes) await l.close();
  });

  describe('four lanes side by side', { concurrency: true }, () => {
    it('a snapshot killed at each of its named steps', async () => {
      const l = await open('named');
      const named = ['releases', 'indices', 'parse', 'pool', 'pool-file:1', 'pool-file:2', 'pool-file:3', 'proof', 'sign', 'stage', 'commit', 'record', 'latest'];
      for (const point of named) {
        await l.churnUpstream();
        const before = l.svc.services.repo.listSerials('debian').length;
        const r = await l.svc.cli(['snapshot', 'debian'], { APTFREEZE_TEST_KILL_AT: point });
        assert.ok(killed(r), `killed at ${point} (exit ${r.code}: ${r.stderr})`);
        await l.afterKill('snapshot', point, r);
        // Killed after the database commit (at "latest"), the serial is published; before it, nothing is.
        assert.equal(l.svc.services.repo.listSerials('debian').length, before + (point === 'latest' ? 1 : 0), point);
        await l.snapshotNow();
      }
    });

    it('a snapshot killed before each of a sample of its file system writes', async (t) => {
      const l = await open('writes');
      await l.churnUpstream();
      const writes = await l.countWrites(['snapshot', 'debian']);
      t.diagnostic(`a snapshot with 30% churn makes ${writes.length} writes`);
      assert.ok(writes.length > 20);
      // The number of writes varies a little with what changed: stay below 90%.
      const sample = [...new Set(Array.from({ length: 14 }, (_, i) => 1 + Math.floor((i * (writes.length * 0.9 - 1)) / 13)))];
      for (const n of sample) {
        await l.churnUpstream();
        const r = await l.killAtWrite(['snapshot', 'debian'], n);
        assert.ok(killed(r), `killed before write ${n} (exit ${r.code}: ${r.stderr})`);
        await l.afterKill('snapshot', `write ${n}/${writes.length} (${writes[n - 1]})`, r);
        await l.snapshotNow();
      }
    });

    it('a freeze and a thaw killed before each of their file system writes', async (t) => {
      const l = await open('freeze');
      await l.churnUpstream();
      await l.snapshotNow();
      const serial = l.latest();
      const freeze = ['freeze', 'debian', serial, '--until', '30d', '--reason', 'crash harness'];
      const thaw = ['thaw', 'debian', serial];
      // Killed between replacing one signed file and the next, a re-signing leaves that serial's
      // Release, Release.gpg and InRelease disagreeing (and the database rolled back): fsck says
      // so, only for that serial, and --repair re-signs it with the recorded Valid-Until.
      const resigning: ProblemKind[] = ['valid-until', 'release-mismatch', 'bad-signature'];
      // The writes of one freeze and one thaw (and the operations succeed).
      const fw = await l.countWrites(freeze);
      const tw = await l.countWrites(thaw);
      t.diagnostic(`a freeze makes ${fw.length} writes, a thaw ${tw.length}`);
      assert.ok(fw.length >= 3 && tw.length >= 3, `${fw.join('; ')} / ${tw.join('; ')}`);
      for (let n = 1; n <= fw.length; n++) {
        const r = await l.killAtWrite(freeze, n);
        assert.ok(killed(r), `freeze killed before write ${n}: ${r.stderr}`);
        await l.afterKill('freeze', `write ${n}/${fw.length} (${fw[n - 1]})`, r, { serial, kinds: resigning });
        assert.equal(l.svc.services.repo.getSerial('debian', serial)?.state, 'live', 'the freeze did not happen');
      }
      assert.equal((await l.svc.cli(freeze)).code, 0);
      for (let n = 1; n <= tw.length; n++) {
        const r = await l.killAtWrite(thaw, n);
        assert.ok(killed(r), `thaw killed before write ${n}: ${r.stderr}`);
        await l.afterKill('thaw', `write ${n}/${tw.length} (${tw[n - 1]})`, r, { serial, kinds: resigning });
        assert.equal(l.svc.services.repo.getSerial('debian', serial)?.state, 'frozen', 'the thaw did not happen');
      }
      assert.equal((await l.svc.cli(thaw)).code, 0);
      await l.churnUpstream();
      await l.snapshotNow();
    });

    it('a gc killed before each of a sample of its file system writes', async (t) => {
      const l = await open('gc');
      /** One more serial, and the one before it expired at once (lifetime 1s, keep 1): gc collects it and sweeps its blobs. */
      const prepare = async () => {
        await l.churnUpstream(0.5);
        await l.snapshotNow();
        await new Promise((r) => setTimeout(r, 1100));
      };
      await prepare();
      const writes = await l.countWrites(['gc']);
      const ops = new Map<string, number>();
      for (const w of writes) ops.set(w.split(' ')[0]!, (ops.get(w.split(' ')[0]!) ?? 0) + 1);
      t.diagnostic(`a gc of one serial makes ${writes.length} writes (${[...ops].map(([k, v]) => `${v} ${k}`).join(', ')})`);
      assert.ok(writes.length >= 3, writes.join('; '));
      // The number of blobs a gc deletes varies from one serial to the next (16 to 19 writes here): every write up to 12.
      const sample = Array.from({ length: Math.min(12, writes.length) }, (_, i) => i + 1);
      for (const n of sample) {
        await prepare();
        const r = await l.killAtWrite(['gc'], n);
        assert.ok(killed(r), `gc killed before write ${n}: ${r.stderr}`);
        await l.afterKill('gc', `write ${n}/${writes.length} (${writes[n - 1]})`, r);
        await runGc(l.svc.services, { actor: 'harness' }); // the next gc succeeds
      }
      await l.churnUpstream();
      await l.snapshotNow();
    });
  });

  it('ran at least 50 kill points, each followed by a consistent fsck', async (t) => {
    for (const l of lanes) assert.deepEqual((await l.fsck(false)).problems, [], 'every lane ends consistent');
    for (const op of ['snapshot', 'freeze', 'thaw', 'gc']) t.diagnostic(`${op}: ${points.filter((p) => p.op === op).length} kill points`);
    const halfDone = points.filter((p) => p.repaired.some((k) => k === 'valid-until' || k === 'release-mismatch' || k === 'bad-signature'));
    t.diagnostic(`half-done re-signings finished by fsck --repair: ${halfDone.map((p) => `${p.op} at ${p.point}`).join('; ') || 'none'}`);
    assert.ok(points.length >= 50, `${points.length} kill points`);
    assert.ok(points.every((p) => p.killed));
  });
});
