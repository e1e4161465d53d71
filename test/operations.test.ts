// Issue 11, operations: every mutation is an operation of the one runner of the data directory.
// - a POST .../snapshots answers 202 + Location, and its operation moves pending -> running ->
//   succeeded with progress counts (observed while a held upstream keeps it running; no sleeps);
// - a snapshot and a freeze of the same archive at the same time: one succeeds, one is CONFLICT
//   (409), both in the operations log;
// - containment: an operation whose thread dies of an uncaught throw is failed with INTERNAL, the
//   daemon keeps serving, the half-built serial is recovered, and the next snapshot succeeds.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages } from './helpers/upstream.ts';
import { api, setUp, suite, token, type Fixture } from './helpers/release.ts';
import { hold } from './helpers/deferred.ts';

let f: Fixture;
let rm: string;

before(async () => {
  f = await setUp(await tmpDir('af-ops'), [suite(makePackages(6))]);
  rm = token(f.h, 'release-manager', 'rita');
});

after(async () => {
  await f?.close();
});

describe('POST /api/archives/<archive>/snapshots', () => {
  it('answers 202 with Location, and the operation moves pending -> running -> succeeded with progress counts', async () => {
    const held = hold(f.up, (p) => p.includes('/pool/'));
    const r = await fetch(`${f.h.url}/api/archives/debian/snapshots`, { method: 'POST', headers: { authorization: `Bearer ${rm}` } });
    assert.equal(r.status, 202);
    const accepted = (await r.json()) as { id: string; state: string; kind: string; archive: string; actor: string; createdAt: string };
    assert.equal(r.headers.get('location'), `/api/operations/${accepted.id}`);
    assert.equal(accepted.state, 'pending', 'recorded before it starts');
    assert.equal(accepted.kind, 'snapshot');
    assert.equal(accepted.archive, 'debian');
    assert.equal(accepted.actor, 'rita');

    // Upstream holds the first pool file: the snapshot is running, in its pool step, with a plan.
    await held.arrived;
    const running = await api(f.h, 'GET', `/operations/${accepted.id}`);
    assert.equal(running.status, 200);
    assert.equal(running.body.state, 'running');
    assert.ok(running.body.startedAt, 'startedAt once running');
    assert.equal(running.body.finishedAt, undefined);
    assert.equal(running.body.progress.step, 'pool');
    assert.ok(running.body.progress.poolFiles > 0, JSON.stringify(running.body.progress));
    assert.ok(running.body.progress.poolFilesFetched < running.body.progress.poolFiles);
    const list = await api(f.h, 'GET', '/operations?state=running');
    assert.deepEqual(list.body.operations.map((o: { id: string }) => o.id), [accepted.id]);

    held.release();
    await f.h.daemon.runner!.whenDone(accepted.id);
    const done = await api(f.h, 'GET', `/operations/${accepted.id}`);
    assert.equal(done.body.state, 'succeeded', JSON.stringify(done.body));
    assert.equal(done.body.progress.poolFilesFetched, done.body.progress.poolFiles, 'every planned pool file counted');
    assert.equal(done.body.progress.bytesFetched > 0, true);
    assert.match(done.body.result.serial, /^\d{10}$/);
    assert.equal(f.h.services.repo.latestSerial('debian'), done.body.result.serial);
    assert.ok(Date.parse(done.body.finishedAt) >= Date.parse(done.body.startedAt));
    assert.equal((await api(f.h, 'GET', '/operations?state=running')).body.operations.length, 0);
  });

  it('answers like the result with ?wait=1 (201 and the serial)', async () => {
    const r = await api(f.h, 'POST', '/archives/debian/snapshots?wait=1', { token: rm });
    assert.equal(r.status, 201);
    assert.match(r.body.serial, /^\d{10}$/);
  });

  it('is 404 for an unknown operation and 400 for a bad state filter', async () => {
    assert.equal((await api(f.h, 'GET', '/operations/999999')).body.error.code, 'NOT_FOUND');
    assert.equal((await api(f.h, 'GET', '/operations/x')).status, 404);
    assert.equal((await api(f.h, 'GET', '/operations?state=sleeping')).body.error.code, 'BAD_REQUEST');
  });
});

describe('a snapshot and a freeze of the same archive at the same time', () => {
  it('gives one success and one CONFLICT (409), both in the operations log', async () => {
    const serial = f.h.services.repo.latestSerial('debian')!;
    const held = hold(f.up, (p) => p.endsWith('/InRelease'));
    const snap = api(f.h, 'POST', '/archives/debian/snapshots?wait=1', { token: rm });
    await held.arrived; // the snapshot holds the archive
    const freeze = await api(f.h, 'POST', `/archives/debian/serials/${serial}/freeze`, { token: rm, body: { until: '2099-01-01', reason: 'release 1' } });
    held.release();
    const s = await snap;
    assert.equal(s.status, 201, JSON.stringify(s.body));
    assert.equal(freeze.status, 409);
    assert.equal(freeze.body.error.code, 'CONFLICT');
    assert.equal(f.h.services.repo.getSerial('debian', serial)!.state, 'live', 'the refused freeze changed nothing');

    const log = (await api(f.h, 'GET', '/operations?archive=debian&limit=2')).body.operations as Array<{ kind: string; state: string; error?: { code: string }; result?: { serial: string } }>;
    assert.deepEqual(
      log.map((o) => [o.kind, o.state, o.error?.code ?? null]).sort(),
      [
        ['freeze', 'failed', 'CONFLICT'],
        ['snapshot', 'succeeded', null],
      ],
    );
    assert.equal(log.find((o) => o.kind === 'snapshot')!.result!.serial, s.body.serial);

    // And once the snapshot has ended, the same freeze succeeds (200 with its result, an operation too).
    const again = await api(f.h, 'POST', `/archives/debian/serials/${serial}/freeze`, { token: rm, body: { until: '2099-01-01', reason: 'release 1' } });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal((await api(f.h, 'GET', '/operations?kind=freeze&limit=1')).body.operations[0].state, 'succeeded');
  });
});

describe('an operation that crashes like an internal error', () => {
  it('is failed with INTERNAL while the daemon keeps serving, and the next snapshot succeeds', async () => {
    const before = f.h.services.repo.latestSerial('debian')!;
    // TEST ONLY hook: the next snapshot's thread throws, uncaught, in its pool step (a serial is pending then).
    f.h.daemon.runner!.injectCrashForTest('snapshot', 'pool');
    const r = await api(f.h, 'POST', '/archives/debian/snapshots?wait=1', { token: rm });
    assert.equal(r.status, 500);
    assert.equal(r.body.error.code, 'INTERNAL');
    const [op] = (await api(f.h, 'GET', '/operations?kind=snapshot&limit=1')).body.operations;
    assert.equal(op.state, 'failed');
    assert.equal(op.error.code, 'INTERNAL');

    // Still serving, the published state intact, the half-built serial recovered, no lock left.
    assert.equal((await api(f.h, 'GET', '/archives')).status, 200);
    const inRelease = await fetch(`${f.h.url}/debian/latest/dists/bookworm/InRelease`);
    assert.equal(inRelease.status, 200);
    await inRelease.arrayBuffer();
    assert.equal(f.h.services.repo.latestSerial('debian'), before);
    assert.deepEqual(f.h.services.repo.pendingSerials(), []);
    assert.equal(f.h.services.repo.lockHolder('archive:debian'), null);

    const next = await api(f.h, 'POST', '/archives/debian/snapshots?wait=1', { token: rm });
    assert.equal(next.status, 201, JSON.stringify(next.body));
    assert.ok(next.body.serial > before);
  });
});
