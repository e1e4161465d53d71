// Issue 6 acceptance 2 and issue 11 acceptance 3: a power cut at more than 50 points across
// snapshot, freeze, thaw and gc. At each point the command is killed (SIGKILL) and then what an
// fsync had not yet made durable is dropped as a power cut would drop it: directory entries made
// after the last directory fsync or filesystem flush, and the contents of files not fsync'd since
// they were written (left empty); see test/helpers/power-cut.ts for the model. Then the service
// restarts (crash recovery, as the daemon runs it at open: it also finishes a re-signing a freeze
// or thaw left half-done, and checks the blobs of a batch that was never flushed), and
// `aptfreeze fsck` (the same code, in-process) must find every published serial whole: every file
// with its hash, every signature valid, latest servable, no referenced blob missing; nothing at
// all is an error. `fsck --repair` then leaves nothing, and the next snapshot (or gc) succeeds.
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
import { applyPowerCut, type PowerCut } from './helpers/power-cut.ts';
import { mkdir } from 'node:fs/promises';
import { snapshotService } from '../server/snapshot/service.ts';
import { runGc } from '../server/release/gc.ts';
import { openForFsck } from '../server/fsck/open.ts';
import { runFsck } from '../server/fsck/fsck.ts';
import type { FsckReport } from '../server/fsck/report.ts';

const killPreload = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'kill-preload.mjs');
const killed = (r: CliResult) => r.code === 128;

interface Point {
  op: string;
  point: string;
  killed: boolean;
  repaired: string[];
  cut: PowerCut;
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
  // The kill points are in the CLI's own run: with no daemon on the data directory, the CLI runs
  // its operations itself (otherwise it would hand them to this process's daemon).
  await svc.daemon.stop();
  const snapshotNow = () => snapshotService(svc.services)('debian', 'harness');
  await snapshotNow();
  const backup = join(dir, 'power-backup');
  await mkdir(backup, { recursive: true });
  let runs = 0;
  /** A command under the preload with a fresh power-cut journal; `kill` adds the preload's own kill setting. */
  const underPower = async (args: string[], kill: Record<string, string>) => {
    const journal = join(dir, `power-${++runs}.jsonl`);
    const r = await svc.cli(args, { NODE_OPTIONS: `--import=${killPreload}`, APTFREEZE_TEST_POWER_JOURNAL: journal, APTFREEZE_TEST_POWER_BACKUP: backup, ...kill });
    return { r, cut: killed(r) ? applyPowerCut(journal, svc.dataDir) : null };
  };

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
    /** After a kill and its power cut: restart, then fsck finds no error at all, and --repair leaves nothing. */
    async afterKill(op: string, point: string, run: { r: CliResult; cut: PowerCut | null }) {
      assert.ok(run.cut, `${op} killed at ${point} (exit ${run.r.code}: ${run.r.stderr})`);
      await svc.reconfigure(() => {});
      await svc.daemon.stop(); // the next kill point runs in the CLI itself again
      const found = await fsck(false);
      const errors = found.problems.filter((p) => p.severity === 'error');
      assert.deepEqual(errors, [], `${op} killed at ${point}, ${JSON.stringify(run.cut)}: ${JSON.stringify(found.problems)}`);
      const repaired = await fsck(true);
      assert.deepEqual(repaired.problems, [], `${op} killed at ${point}, after --repair: ${JSON.stringify(repaired.problems)}`);
      points.push({ op, point, killed: killed(run.r), repaired: repaired.repaired.map((p) => p.kind), cut: run.cut });
    },
    /** One command under the fs kill preload in `count` mode: the writes it makes, in order (and the command succeeds). */
    async countWrites(args: string[], env: Record<string, string> = {}): Promise<string[]> {
      // A command's first full load on a data directory also writes the configuration cache
      // (config/cache.ts); the runs killed later find it there: warm it, so that only the
      // command's own writes are counted.
      assert.equal((await svc.cli(['audit', '--limit', '1'])).code, 0);
      const log = join(dir, `writes-${Date.now()}.log`);
      const r = await svc.cli(args, { NODE_OPTIONS: `--import=${killPreload}`, APTFREEZE_TEST_KILL_FS: 'count', APTFREEZE_TEST_KILL_FS_LOG: log, ...env });
      assert.equal(r.code, 0, r.stderr);
      return (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => l.replace(svc.dataDir, '<data>'));
    },
    /** Killed just before its n-th file system write, then the power cut. */
    killAtWrite: (args: string[], n: number, env: Record<string, string> = {}) => underPower(args, { APTFREEZE_TEST_KILL_FS: String(n), ...env }),
    /** Killed at a named step of the snapshot, then the power cut. */
    killAtStep: (args: string[], point: string) => underPower(args, { APTFREEZE_TEST_KILL_AT: point }),
    async close() {
      await svc.close();
      await up.close();
    },
  };
}
type Lane = Awaited<ReturnType<typeof lane>>;

describe('a power cut at every step of snapshot, freeze, thaw and gc', () => {
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
        const run = await l.killAtStep(['snapshot', 'debian'], point);
        await l.afterKill('snapshot', point, run);
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
        const run = await l.killAtWrite(['snapshot', 'debian'], n);
        await l.afterKill('snapshot', `write ${n}/${writes.length} (${writes[n - 1]})`, run);
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
      // Release, Release.gpg and InRelease disagreeing (and the database rolled back): the restart
      // finishes it (re-signed with the recorded Valid-Until), before fsck looks.
      // The writes of one freeze and one thaw (and the operations succeed).
      const fw = await l.countWrites(freeze);
      const tw = await l.countWrites(thaw);
      t.diagnostic(`a freeze makes ${fw.length} writes, a thaw ${tw.length}`);
      assert.ok(fw.length >= 3 && tw.length >= 3, `${fw.join('; ')} / ${tw.join('; ')}`);
      for (let n = 1; n <= fw.length; n++) {
        const run = await l.killAtWrite(freeze, n);
        await l.afterKill('freeze', `write ${n}/${fw.length} (${fw[n - 1]})`, run);
        assert.equal(l.svc.services.repo.getSerial('debian', serial)?.state, 'live', 'the freeze did not happen');
      }
      assert.equal((await l.svc.cli(freeze)).code, 0);
      for (let n = 1; n <= tw.length; n++) {
        const run = await l.killAtWrite(thaw, n);
        await l.afterKill('thaw', `write ${n}/${tw.length} (${tw[n - 1]})`, run);
        assert.equal(l.svc.services.repo.getSerial('debian', serial)?.state, 'frozen', 'the thaw did not happen');
      }
      assert.equal((await l.svc.cli(thaw)).code, 0);
      await l.churnUpstream();
      await l.snapshotNow();
    });

    it('a gc killed before each of a sample of its file system writes', async (t) => {
      const l = await open('gc');
      /**
       * One more serial, and the one before it expired (lifetime 1s, keep 1): gc collects it and
       * sweeps its blobs. The gc process runs 2 s ahead of the real clock (the test clock hook,
       * server/services.ts) instead of the test waiting for the lifetime to pass.
       */
      const prepare = async () => {
        await l.churnUpstream(0.5);
        await l.snapshotNow();
      };
      const ahead = { APTFREEZE_TEST_NOW: '+2000' };
      await prepare();
      const writes = await l.countWrites(['gc'], ahead);
      const ops = new Map<string, number>();
      for (const w of writes) ops.set(w.split(' ')[0]!, (ops.get(w.split(' ')[0]!) ?? 0) + 1);
      t.diagnostic(`a gc of one serial makes ${writes.length} writes (${[...ops].map(([k, v]) => `${v} ${k}`).join(', ')})`);
      assert.ok(writes.length >= 3, writes.join('; '));
      // The number of blobs a gc deletes varies from one serial to the next (16 to 19 writes here): every write up to 12.
      const sample = Array.from({ length: Math.min(12, writes.length) }, (_, i) => i + 1);
      for (const n of sample) {
        await prepare();
        const run = await l.killAtWrite(['gc'], n, ahead);
        await l.afterKill('gc', `write ${n}/${writes.length} (${writes[n - 1]})`, run);
        await runGc(l.svc.services, { actor: 'harness' }); // the next gc succeeds
      }
      await l.churnUpstream();
      await l.snapshotNow();
    });
  });

  it('ran at least 50 power-cut points, each followed by a consistent fsck', async (t) => {
    for (const l of lanes) assert.deepEqual((await l.fsck(false)).problems, [], 'every lane ends consistent');
    for (const op of ['snapshot', 'freeze', 'thaw', 'gc']) {
      const of = points.filter((p) => p.op === op);
      const sum = (k: keyof PowerCut) => of.reduce((n, p) => n + p.cut[k], 0);
      t.diagnostic(`${op}: ${of.length} power-cut points; dropped ${sum('entriesDropped')} directory entries and emptied ${sum('filesEmptied')} files in all`);
    }
    t.diagnostic(`power-cut points: ${points.length}, of which ${points.filter((p) => p.cut.entriesDropped + p.cut.filesEmptied > 0).length} lost something`);
    assert.ok(points.length >= 50, `${points.length} kill points`);
    assert.ok(points.every((p) => p.killed));
    // The model did bite: some points lost entries, some files' contents.
    assert.ok(points.some((p) => p.cut.entriesDropped > 0) && points.some((p) => p.cut.filesEmptied > 0));
  });
});
