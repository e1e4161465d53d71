// Acceptance 3: gc over a sequence of eight snapshots with freezes, thaws and `keep`, on a fake
// clock (lifetime 10d, keep 2): exactly the expected serials are collected; every pool file and
// index of every remaining serial is still served with its sha256; collected serials answer 410;
// the store holds exactly what the remaining serials reference.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { churn, makePackages, type FixturePackage } from './helpers/upstream.ts';
import { DAY, api, fakeClock, notServed, referencedBlobs, setUp, snapshot, storeBlobs, suite, token, type Fixture } from './helpers/release.ts';
import type { GcReport } from '../server/release/gc.ts';

const clock = fakeClock(new Date(Date.now() + 3600_000));
const day0 = clock.now().getTime();
const at = (d: number) => clock.set(new Date(day0 + d * DAY));

let f: Fixture;
let admin: string;
let rm: string;
/** S[1]..S[8]: the serials in the order taken. */
const S: string[] = [''];
let pkgs: FixturePackage[] = makePackages(8);

async function snapshotOnDay(d: number, i: number): Promise<void> {
  at(d);
  // Some churn each time (a new version of a quarter of the packages, one new package), so that
  // collecting a serial frees pool files and indices only it used.
  pkgs = [...churn(pkgs, 0.25, i), { name: `new${i}`, version: '1.0-1', arch: 'amd64' }];
  await f.publish([suite(pkgs)]);
  S[i] = await snapshot(f.h, rm);
}

async function gc(dryRun = false): Promise<GcReport> {
  const r = await api<GcReport>(f.h, 'POST', '/gc?wait=1', { token: admin, body: { dryRun } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

const names = (r: GcReport) => r.collected.map((c) => c.serial).sort();
const sorted = (...xs: string[]) => [...xs].sort();

function state(serial: string): string {
  return f.h.services.repo.getSerial('debian', serial)!.state;
}

/** gc, checked against the store before and after: what it says it freed is what went. */
async function gcChecked(): Promise<GcReport> {
  const sizes = new Map<string, number>();
  for (const h of await storeBlobs(f.h)) sizes.set(h, await f.h.services.store.size(h));
  const r = await gc();
  assert.equal(r.store.swept, true, r.store.skipped);
  const now = await storeBlobs(f.h);
  const gone = [...sizes.keys()].filter((h) => !now.has(h));
  assert.equal(r.store.blobsRemoved, gone.length);
  assert.equal(r.store.bytesFreed, gone.reduce((n, h) => n + sizes.get(h)!, 0));
  return r;
}

async function assertRemainingServedAndStoreExact(): Promise<void> {
  const remaining = f.h.services.repo.listSerials('debian').map((r) => r.serial);
  for (const s of remaining) assert.deepEqual(await notServed(f.h, 'debian', s), [], `${s} is served whole`);
  const store = await storeBlobs(f.h);
  const referenced = await referencedBlobs(f.h);
  assert.deepEqual([...referenced].filter((h) => !store.has(h)), [], 'no referenced file is missing from the store');
  assert.deepEqual([...store].filter((h) => !referenced.has(h)), [], 'the store holds no file that no remaining serial references');
}

async function assertGone(serial: string): Promise<void> {
  for (const path of ['dists/bookworm/InRelease', 'dists/bookworm/main/binary-amd64/Packages.gz', 'pool/main/p/pkg1/', 'proof.deb']) {
    const res = await fetch(`${f.h.url}/debian/${serial}/${path}`);
    assert.equal(res.status, 410, `${serial}/${path}`);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'GONE');
  }
}

before(async () => {
  const work = await tmpDir('af-gc');
  f = await setUp(work, [suite(pkgs)], { config: { lifetime: '10d', keep: 2 }, now: clock.now });
  admin = token(f.h, 'admin');
  rm = token(f.h, 'release-manager');
});

after(async () => {
  await f?.close();
});

describe('gc across eight snapshots with freezes, thaws and keep 2 (lifetime 10d, fake clock)', () => {
  it('collects nothing while every serial is valid', async () => {
    for (let i = 1; i <= 7; i++) await snapshotOnDay(i - 1, i);
    assert.equal(new Set(S.slice(1)).size, 7);
    at(6);
    const r = await gcChecked();
    assert.deepEqual(r.collected, []);
    await assertRemainingServedAndStoreExact();
  });

  it('after freezing S2 and S3 and thawing S3, a dry run names S1, S4, S5 and changes nothing', async () => {
    for (const s of [S[2]!, S[3]!]) {
      const r = await api(f.h, 'POST', `/archives/debian/serials/${s}/freeze`, { token: rm, body: { until: new Date(day0 + 30 * DAY).toISOString(), reason: 'release' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    at(12);
    assert.equal((await api(f.h, 'POST', `/archives/debian/serials/${S[3]}/thaw`, { token: rm })).status, 200);
    at(17); // valid until: S1 d10, S3 d22 (thawed d12), S4 d13, S5 d14, S6 d15, S7 d16; S2 frozen until d30
    const blobs = await storeBlobs(f.h);
    const r = await gc(true);
    assert.equal(r.dryRun, true);
    assert.deepEqual(names(r), sorted(S[1]!, S[4]!, S[5]!));
    assert.ok(r.store.blobsRemoved > 0 && r.store.bytesFreed > 0, 'the dry run says what would be freed');
    assert.deepEqual(await storeBlobs(f.h), blobs);
    for (const s of S.slice(1)) assert.notEqual(state(s), 'collected');
  });

  it('then collects exactly S1, S4 and S5, keeping S2 (frozen), S3 (thawed, still valid), S6 (newest 2) and S7 (latest)', async () => {
    const r = await gcChecked();
    assert.deepEqual(names(r), sorted(S[1]!, S[4]!, S[5]!));
    const kept = Object.fromEntries(r.kept.map((k) => [k.serial, k.reason]));
    assert.deepEqual(kept, { [S[2]!]: 'frozen', [S[3]!]: 'valid', [S[6]!]: 'newest', [S[7]!]: 'latest' });
    assert.ok(r.store.blobsRemoved > 0);
    for (const s of [S[1]!, S[4]!, S[5]!]) {
      assert.equal(state(s), 'collected');
      await assertGone(s);
    }
    await assertRemainingServedAndStoreExact();
  });

  it('answers 410 to a freeze, a thaw or a diff of a collected serial', async () => {
    const fr = await api(f.h, 'POST', `/archives/debian/serials/${S[1]}/freeze`, { token: rm, body: { until: '2099-01-01', reason: 'too late' } });
    assert.equal(fr.status, 410);
    assert.equal(fr.body.error.code, 'GONE');
    assert.equal((await api(f.h, 'POST', `/archives/debian/serials/${S[4]}/thaw`, { token: rm })).status, 410);
    assert.equal((await api(f.h, 'GET', `/archives/debian/diff?from=${S[1]}&to=${S[7]}`)).status, 410);
    const listed = await api(f.h, 'GET', '/archives/debian/serials');
    assert.equal(listed.body.serials.find((x: { serial: string }) => x.serial === S[1]).state, 'collected');
  });

  it('on day 23, with S8 taken, collects S3 (its thaw grace has passed) and S6 (no longer among the newest 2)', async () => {
    await snapshotOnDay(23, 8);
    const r = await gcChecked();
    assert.deepEqual(names(r), sorted(S[3]!, S[6]!));
    for (const s of [S[3]!, S[6]!]) await assertGone(s);
    await assertRemainingServedAndStoreExact();
  });

  it('keeps a frozen serial past its freeze date until it is thawed, then collects it once the grace has passed', async () => {
    at(31);
    assert.deepEqual(names(await gcChecked()), []);
    assert.equal(state(S[2]!), 'frozen');
    assert.equal((await api(f.h, 'POST', `/archives/debian/serials/${S[2]}/thaw`, { token: rm })).status, 200);
    at(40);
    assert.deepEqual(names(await gcChecked()), []);
    at(42);
    assert.deepEqual(names(await gcChecked()), [S[2]!]);
    await assertGone(S[2]!);
    // Only the latest two remain: S7 and S8, both long expired but kept.
    assert.deepEqual(f.h.services.repo.listSerials('debian').map((r) => r.serial), [S[8]!, S[7]!]);
    await assertRemainingServedAndStoreExact();
  });

  it('records each collection and each gc run in the audit log', async () => {
    const r = await api(f.h, 'GET', '/audit?action=collect&limit=100', { token: admin });
    assert.deepEqual(r.body.entries.map((e: { target: string }) => e.target.split('/')[1]).sort(), sorted(S[1]!, S[2]!, S[3]!, S[4]!, S[5]!, S[6]!));
    for (const e of r.body.entries) {
      assert.equal(e.actor, 'admin-test');
      assert.equal(e.after.state, 'collected');
    }
    const runs = await api(f.h, 'GET', '/audit?action=gc', { token: admin });
    assert.equal(runs.body.entries.length, 6, 'one entry per gc run (dry runs change nothing and are not recorded)');
  });

  it('prints a report from the CLI (real clock: nothing is due) and leaves the store exact', async () => {
    const r = await f.h.cli(['gc']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.replace(/\d+ kept/, 'N kept'), 'collected no serial\nkept 2 serials (1 latest, 1 newest)\nstore: removed 0 files, 0 bytes freed; N kept\n');
    await assertRemainingServedAndStoreExact();
  });
});

describe('aptfreeze serve', () => {
  // The daemon's gc tick, triggered directly (Daemon.tick runs what cron runs on gcSchedule): no waiting for the clock.
  it('runs gc on gcSchedule, as the actor "schedule", recorded as an operation', async () => {
    const { join } = await import('node:path');
    const { writeFile } = await import('node:fs/promises');
    const { loadConfigFile } = await import('../server/config/load.ts');
    const { openServices } = await import('../server/services.ts');
    const { startDaemon } = await import('../server/main.ts');
    const { silentLogger } = await import('../server/log.ts');
    const dir = await tmpDir('af-gc-serve');
    const config = join(dir, 'aptfreeze.yaml');
    await writeFile(config, "listen: 127.0.0.1:0\ngcSchedule: '0 3 * * *'\narchives: {}\n");
    const s = await openServices({ config: loadConfigFile(config), dataDir: join(dir, 'data'), log: silentLogger });
    const d = await startDaemon(s);
    try {
      await d.tick('gc');
      const runs = s.db.prepare("SELECT actor FROM audit_log WHERE action = 'gc'").all() as Array<{ actor: string }>;
      assert.deepEqual(runs, [{ actor: 'schedule' }]);
      const [op] = d.runner!.ops.list({ kind: 'gc' });
      assert.deepEqual([op!.actor, op!.state], ['schedule', 'succeeded']);
    } finally {
      await d.stop();
      s.close();
    }
  });
});
