// Tags, uploads and overlay suites are operations of the one runner: they take their resources
// all-or-none (a conflict is CONFLICT/409 at once, recorded as a failed operation), their audit
// entry is written with their state change, and each shows in GET /api/operations with its
// kind, archive, actor, state and outcome.
// - a tag creation while a snapshot of the same archive runs: the snapshot succeeds, the tag is
//   CONFLICT (409), both in the operations log; the same tag made afterwards succeeds;
// - a tag deletion is an operation with its audit entry; deleting it again is NOT_FOUND, recorded;
// - an upload (dput's PUTs) is an `upload` operation that succeeded, with its uploader as actor;
// - an upload while something else holds the repository is CONFLICT at once, its session kept,
//   and the same .changes sent again is processed; two uploads at once both succeed (a line);
// - the runner's line: the second writer of a repository waits pending holding nothing, then
//   runs once the first ends; a freeze of the repository meanwhile is CONFLICT at once; a runner
//   closed with one still waiting records it failed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages } from './helpers/upstream.ts';
import { api, setUp, snapshot, suite, token, type Fixture } from './helpers/release.ts';
import { buildUpload, keyring, makeUploaderKey, putUpload, repositoryConfig, type UploaderKey } from './helpers/uploads.ts';
import { archiveLock } from '../server/catalog/repo.ts';
import { OperationRunner } from '../server/ops/runner.ts';
import { InlineExecutor, type Dispatch } from '../server/ops/executor.ts';
import { deferred, hold } from './helpers/deferred.ts';

interface Op {
  id: string;
  kind: string;
  archive?: string;
  actor: string;
  state: string;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

let f: Fixture;
let rm: string;
let admin: string;
let uploaderToken: string;
let key: UploaderKey;

async function operations(query: string): Promise<Op[]> {
  const r = await api(f.h, 'GET', `/operations?${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.operations as Op[];
}

function manifest(serial: string) {
  return { origin_references: { debian: { reference: serial } }, packages: { binary: [{ package: 'pkg0', version: '1.0-1', arch: 'amd64' }] } };
}

before(async () => {
  const work = await tmpDir('af-ops-writers');
  key = await makeUploaderKey('team');
  const kr = keyring(work, [key]);
  f = await setUp(work, [suite(makePackages(6))], { config: { repositories: { ours: repositoryConfig(kr, [{ allow: [key.fingerprint] }]) } } });
  rm = token(f.h, 'release-manager', 'rita');
  admin = token(f.h, 'admin', 'ada');
  uploaderToken = f.h.services.tokens.create('ci-uploader', 'uploader', new Date());
  await snapshot(f.h, rm);
});

after(async () => {
  await f?.close();
});

describe('a tag creation and a snapshot of the same archive at the same time', () => {
  it('gives one success and one CONFLICT (409), both in the operations log', async () => {
    const serial = f.h.services.repo.latestSerial('debian')!;
    const held = hold(f.up, (p) => p.endsWith('/InRelease'));
    const snap = api(f.h, 'POST', '/archives/debian/snapshots?wait=1', { token: rm });
    await held.arrived; // the snapshot holds the archive
    const tag = await api(f.h, 'POST', '/tags', { token: rm, body: { name: 'rel-1', manifest: manifest(serial) } });
    held.release();
    const s = await snap;
    assert.equal(s.status, 201, JSON.stringify(s.body));
    assert.equal(tag.status, 409, JSON.stringify(tag.body));
    assert.equal(tag.body.error.code, 'CONFLICT');
    assert.equal((await api(f.h, 'GET', '/tags/rel-1')).status, 404, 'the refused tag made nothing');

    const log = await operations('archive=debian&limit=2');
    const [refused, done] = log;
    assert.equal(refused!.kind, 'tag.create');
    assert.equal(refused!.state, 'failed');
    assert.equal(refused!.error?.code, 'CONFLICT');
    assert.equal(refused!.actor, 'rita');
    assert.equal(done!.kind, 'snapshot');
    assert.equal(done!.state, 'succeeded');
    assert.equal(done!.result?.['serial'], s.body.serial);
  });

  it('makes the tag once the snapshot is done: a tag.create operation that succeeded', async () => {
    const serial = f.h.services.repo.latestSerial('debian')!;
    const r = await api(f.h, 'POST', '/tags', { token: rm, body: { name: 'rel-1', manifest: manifest(serial) } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.name, 'rel-1');
    const [op] = await operations('kind=tag.create&limit=1');
    assert.equal(op!.state, 'succeeded');
    assert.equal(op!.archive, 'debian');
    assert.equal(op!.actor, 'rita');
    assert.equal(op!.result?.['name'], 'rel-1');
    assert.equal(f.h.services.repo.tryLock([archiveLock('debian'), 'tag:rel-1'], process.pid, new Date()).ok, true, 'its locks were released');
    f.h.services.repo.unlock([archiveLock('debian'), 'tag:rel-1'], process.pid);
  });
});

describe('a tag deletion', () => {
  it('is a tag.delete operation with its audit entry, and a second one is NOT_FOUND, recorded', async () => {
    const r = await api(f.h, 'DELETE', '/tags/rel-1', { token: admin });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.deleted.name, 'rel-1');
    const [op] = await operations('kind=tag.delete&limit=1');
    assert.equal(op!.state, 'succeeded');
    assert.equal(op!.actor, 'ada');
    const audit = f.h.services.db.prepare("SELECT actor, target FROM audit_log WHERE action = 'tag-delete'").all() as Array<{ actor: string; target: string }>;
    assert.deepEqual(audit, [{ actor: 'ada', target: 'tag/rel-1' }]);

    const again = await api(f.h, 'DELETE', '/tags/rel-1', { token: admin });
    assert.equal(again.status, 404);
    assert.equal(again.body.error.code, 'NOT_FOUND');
    const [failed] = await operations('kind=tag.delete&limit=1');
    assert.equal(failed!.state, 'failed');
    assert.equal(failed!.error?.code, 'NOT_FOUND');
  });
});

describe('an upload through dput\'s PUTs', () => {
  it('is an upload operation of the repository that succeeded, with the uploader as actor', async () => {
    const up = await buildUpload(key, { source: 'hello-ops', version: '1.0' });
    const r = await putUpload(f.h.url, '/upload/ours', uploaderToken, up.files);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const [op] = await operations('kind=upload&limit=1');
    assert.equal(op!.state, 'succeeded');
    assert.equal(op!.archive, 'ours');
    assert.equal(op!.actor, 'ci-uploader');
    assert.equal(op!.result?.['serial'], r.body.upload.serial);
    assert.equal(op!.result?.['source'], 'hello-ops');
    const audit = f.h.services.db.prepare("SELECT actor FROM audit_log WHERE action = 'upload.accept'").pluck().all();
    assert.deepEqual(audit, ['ci-uploader']);
  });

  it('is CONFLICT (409) at once while something else holds the repository; the session stays and the .changes sent again is processed', async () => {
    const up = await buildUpload(key, { source: 'hello-ops', version: '1.1' });
    const before = f.h.services.repo.listSerials('ours').length;
    // Another process's writer of the repository (a gc sweep, a freeze): its lock row.
    assert.equal(f.h.services.repo.tryLock([archiveLock('ours')], process.pid, new Date()).ok, true);
    let r: Awaited<ReturnType<typeof putUpload>>;
    try {
      r = await putUpload(f.h.url, '/upload/ours/retry', uploaderToken, up.files);
    } finally {
      f.h.services.repo.unlock([archiveLock('ours')], process.pid);
    }
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'CONFLICT');
    assert.equal(f.h.services.repo.listSerials('ours').length, before, 'nothing published');
    const [refused] = await operations('kind=upload&limit=1');
    assert.equal(refused!.state, 'failed');
    assert.equal(refused!.error?.code, 'CONFLICT');
    const root = join(f.h.dataDir, 'incoming', 'ours');
    const staged = existsSync(root) ? readdirSync(root).flatMap((s) => readdirSync(join(root, s))) : [];
    assert.equal(staged.length, up.files.length, 'the session keeps the files');

    const again = await putUpload(f.h.url, '/upload/ours/retry', uploaderToken, [up.changes]);
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.equal(again.body.upload.version, '1.1');
    const [op] = await operations('kind=upload&limit=1');
    assert.equal(op!.state, 'succeeded');
  });

  it('runs two uploads sent at once one after the other (the repository\'s line): both succeed, neither is refused', async () => {
    const a = await buildUpload(key, { source: 'line-a', version: '1.0' });
    const b = await buildUpload(key, { source: 'line-b', version: '1.0' });
    const [ra, rb] = await Promise.all([putUpload(f.h.url, '/upload/ours/a', uploaderToken, a.files), putUpload(f.h.url, '/upload/ours/b', uploaderToken, b.files)]);
    assert.equal(ra.status, 201, JSON.stringify(ra.body));
    assert.equal(rb.status, 201, JSON.stringify(rb.body));
    const ops = await operations('kind=upload&limit=2');
    assert.deepEqual(ops.map((o) => o.state), ['succeeded', 'succeeded']);
    assert.deepEqual(ops.map((o) => o.result?.['source']).sort(), ['line-a', 'line-b']);
  });
});

describe("the runner's line of a repository", () => {
  /** A runner over the real services whose executor runs each operation (for real, inline) once `open()` is called. */
  function gatedRunner() {
    const gate = deferred();
    const services = f.h.services;
    const runner = new OperationRunner(services, (events) => {
      const inner = new InlineExecutor(services, events);
      return { start: (d: Dispatch) => void gate.promise.then(() => inner.start(d)), close: () => inner.close() };
    });
    return { runner, open: gate.resolve };
  }
  const state = (id: string) => f.h.services.db.prepare('SELECT state FROM operations WHERE id = ?').pluck().get(Number(id));

  it('queues a second writer pending, refuses a freeze at once, then runs the second after the first', async () => {
    const { runner, open } = gatedRunner();
    try {
      const first = runner.submit({ kind: 'suite.create', params: { repository: 'ours', suite: 'topic-a', base: 'stable' }, actor: 'test' });
      const second = runner.submit({ kind: 'suite.create', params: { repository: 'ours', suite: 'topic-b', base: 'stable' }, actor: 'test' });
      assert.equal(first.state, 'pending');
      assert.equal(second.state, 'pending', 'recorded, waiting behind the first');
      const serial = f.h.services.repo.latestSerial('ours')!;
      assert.throws(() => runner.submit({ kind: 'freeze', params: { archive: 'ours', serial, until: '2099-01-01', reason: 'r' }, actor: 'test' }), (e: { code?: string }) => e.code === 'CONFLICT');
      assert.equal(f.h.services.repo.tryLock([archiveLock('ours')], process.pid + 1_000_000, new Date()).ok, false, 'the first holds the repository');
      open();
      const a = await runner.whenDone(first.id);
      const b = await runner.whenDone(second.id);
      assert.equal(a.op.state, 'succeeded', JSON.stringify(a.op.error));
      assert.equal(b.op.state, 'succeeded', JSON.stringify(b.op.error));
      assert.ok(Date.parse(b.op.startedAt!) >= Date.parse(a.op.finishedAt!), 'one after the other');
      assert.notEqual((a.result as { serial: string }).serial, (b.result as { serial: string }).serial);
      const free = f.h.services.repo.tryLock([archiveLock('ours')], process.pid, new Date());
      assert.equal(free.ok, true, 'released after the last');
      f.h.services.repo.unlock([archiveLock('ours')], process.pid);
    } finally {
      await runner.close();
    }
  });

  it('records one still waiting when the runner closes as failed (INTERNAL), and answers its waiter', async () => {
    const { runner } = gatedRunner();
    const first = runner.submit({ kind: 'suite.reset', params: { repository: 'ours', overlay: 'topic-a' }, actor: 'test' });
    const second = runner.submit({ kind: 'suite.reset', params: { repository: 'ours', overlay: 'topic-b' }, actor: 'test' });
    const waited = runner.whenDone(second.id);
    await runner.close();
    const o = await waited;
    assert.equal(o.op.state, 'failed');
    assert.equal(o.op.error?.code, 'INTERNAL');
    assert.equal(state(second.id), 'failed');
    f.h.services.repo.unlock([archiveLock('ours')], process.pid);
    assert.equal(state(first.id), 'pending', 'the gated first never ran (a restart records it interrupted)');
  });
});
