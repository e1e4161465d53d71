// Acceptance 4: gc run while a snapshot is publishing (both started together, repeated) never
// leaves a remaining serial with a missing file.
//
// The upstream alternates between two package sets A and B, with lifetime 1s and keep 1: the
// snapshot taking set A needs exactly the pool files, indices and pool directory that only the
// A-serial before last used, which is what the concurrent gc collects. A gc that swept the store
// while the snapshot ran would delete a file the snapshot had found "already stored" and is
// about to link (see THE RULE in server/release/gc.ts). Each round mixes where the two run:
// both in the daemon's process (API), or one of them as a separate `aptfreeze` process.
//
// Nothing waits for time to pass: the service's clock is moved past the serials' lifetime, and the
// two sides are staggered by event-loop turns (in process) or started once the other process's
// operation is recorded (across processes).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages, type FixturePackage } from './helpers/upstream.ts';
import { api, brokenFiles, notServed, setUp, suite, token, type Fixture } from './helpers/release.ts';
import type { GcReport } from '../server/release/gc.ts';

const ROUNDS_IN_PROCESS = 10;
const ROUNDS_CROSS_PROCESS = 8;

const setA: FixturePackage[] = makePackages(12, { prefix: 'a', payloadBytes: 2000 });
const setB: FixturePackage[] = makePackages(12, { prefix: 'b', payloadBytes: 2000 });

/** The service's clock, moved forward by `advance` instead of waiting. */
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);
/** Every serial but the newest past its 1s lifetime. */
const pastLifetime = () => void (offsetMs += 1100);

let f: Fixture;
let admin: string;
let rm: string;

before(async () => {
  const work = await tmpDir('af-gc-race');
  f = await setUp(work, [suite(setA)], { config: { lifetime: '1s', keep: 1 }, now });
  admin = token(f.h, 'admin');
  rm = token(f.h, 'release-manager');
});

after(async () => {
  await f?.close();
});

/** Lets `n` turns of the event loop go by: a stagger between the two sides, no wait for time. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}
const operationsRecorded = () => (f.h.services.db.prepare('SELECT count(*) AS n FROM operations').get() as { n: number }).n;
/** Resolves once the daemon has recorded an operation more than `seen` (the other process's, handed over its control socket). */
async function operationRecordedAfter(seen: number): Promise<void> {
  for (let i = 0; operationsRecorded() <= seen; i++) {
    if (i > 2_000_000) throw new Error('the other process never handed its operation over');
    await turns(1);
  }
}
const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));

type SnapOutcome = 'published' | 'conflict';
type GcOutcome = 'swept' | 'skipped';

async function snapshotVia(where: 'api' | 'cli', start: () => Promise<void>): Promise<SnapOutcome> {
  await start();
  if (where === 'api') {
    const r = await api(f.h, 'POST', '/archives/debian/snapshots?wait=1', { token: rm });
    if (r.status === 201) return 'published';
    assert.equal(r.body.error?.code, 'CONFLICT', `snapshot: ${r.status} ${JSON.stringify(r.body)}`);
    return 'conflict';
  }
  const r = await f.h.cli(['snapshot', 'debian']);
  if (r.code === 0) return 'published';
  assert.match(r.stderr, /^aptfreeze: CONFLICT: /m, r.stderr);
  return 'conflict';
}

async function gcVia(where: 'api' | 'cli', start: () => Promise<void>): Promise<GcOutcome> {
  await start();
  let report: GcReport;
  if (where === 'api') {
    const r = await api<GcReport>(f.h, 'POST', '/gc?wait=1', { token: admin });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    report = r.body;
  } else {
    const r = await f.h.cli(['gc', '--json']);
    assert.equal(r.code, 0, r.stderr);
    report = JSON.parse(r.stdout) as GcReport;
  }
  if (!report.store.swept) assert.match(report.store.skipped ?? '', /snapshot is running/);
  return report.store.swept ? 'swept' : 'skipped';
}

async function assertEveryRemainingSerialWhole(round: number): Promise<void> {
  const remaining = f.h.services.repo.listSerials('debian');
  assert.ok(remaining.length >= 1);
  for (const r of remaining) assert.deepEqual(await brokenFiles(f.h, 'debian', r.serial), [], `round ${round}: ${r.serial} lost files`);
  const latest = f.h.services.repo.latestSerial('debian')!;
  assert.deepEqual(await notServed(f.h, 'debian', latest), [], `round ${round}: latest ${latest} is served whole`);
}

describe('gc and a snapshot started together, repeatedly', () => {
  it('never leaves a remaining serial with a missing file, in one process or two', async () => {
    // A first serial of each set, so that rounds start with collectable history.
    await f.publish([suite(setB)]);
    const atOnce = () => Promise.resolve();
    assert.equal(await snapshotVia('api', atOnce), 'published');
    const tally = { published: 0, conflict: 0, swept: 0, skipped: 0, sweptWhilePublished: 0 };
    const rounds = ROUNDS_IN_PROCESS + ROUNDS_CROSS_PROCESS;
    for (let round = 0; round < rounds; round++) {
      await f.publish([suite(round % 2 === 0 ? setA : setB)]);
      pastLifetime();
      let snap: Promise<SnapOutcome>;
      let gc: Promise<GcOutcome>;
      if (round < ROUNDS_IN_PROCESS) {
        snap = snapshotVia('api', () => turns(rand(0, 40)));
        gc = gcVia('api', () => turns(rand(0, 40)));
      } else {
        // A CLI process takes ~1.5-2.5 s to reach its work: the in-process side starts when the
        // daemon records the CLI's operation, a few turns later or at once.
        const seen = operationsRecorded();
        const afterCli = () => operationRecordedAfter(seen).then(() => turns(rand(0, 3)));
        if (round % 2 === 0) {
          gc = gcVia('cli', atOnce);
          snap = snapshotVia('api', afterCli);
        } else {
          snap = snapshotVia('cli', atOnce);
          gc = gcVia('api', afterCli);
        }
      }
      const [s, g] = await Promise.all([snap, gc]);
      tally[s]++;
      tally[g]++;
      if (s === 'published' && g === 'swept') tally.sweptWhilePublished++;
      await assertEveryRemainingSerialWhole(round);
    }
    // Settle: with no snapshot running, a gc sweeps, and everything left is still whole.
    pastLifetime();
    assert.equal(await gcVia('api', atOnce), 'swept');
    await assertEveryRemainingSerialWhole(rounds);
    // The rounds did exercise both sides (the exact mix depends on timing).
    assert.ok(tally.published >= rounds / 2, JSON.stringify(tally));
    assert.ok(tally.swept >= 1, JSON.stringify(tally));
    process.stderr.write(`gc/snapshot race: ${JSON.stringify(tally)}\n`);
  });
});
