// Issue 15, the publication catalog on a real PostgreSQL (server/catalog/pg-publication.ts): one
// transaction per publication, `latest` by compare-and-swap under the archive's advisory lock, the
// re-sign update, gc's mark (410 state, references dropped), and a publication that never commits
// (a writer killed between upload and commit) leaving readers on the previous latest.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PgPublicationCatalog, type PublishedFile } from '../server/catalog/pg-publication.ts';
import { postgresSource, testPostgres, type TestPostgres } from './helpers/postgres.ts';
import { skipUnless } from './helpers/engines.ts';
import { sha256 } from './helpers/hash.ts';

const sha = sha256;
const file = (path: string, body = path): PublishedFile => ({ path, sha256: sha(body), size: Buffer.byteLength(body) });
const serialFiles = (serial: string): PublishedFile[] => [
  file('dists/stable/InRelease', `InRelease of ${serial}`),
  file('dists/stable/Release', `Release of ${serial}`),
  file('dists/stable/main/binary-amd64/Packages', `Packages of ${serial}`),
  file('pool/main/h/hello/hello_1.0_all.deb', 'hello 1.0'),
];

const source = postgresSource();

describe('the publication catalog on PostgreSQL', { skip: skipUnless(source) }, () => {
  let engine: TestPostgres;
  let url: string;
  let catalog: PgPublicationCatalog;
  before(async () => {
    engine = await testPostgres();
    url = await engine.newDatabase('publication');
    catalog = await PgPublicationCatalog.open(url);
  });
  after(async () => {
    await catalog?.close();
    await engine?.stop();
  });

  it('migrates once, and a second open finds the schema in place', async () => {
    const again = await PgPublicationCatalog.open(url);
    await again.close();
  });

  it('publishes a serial with its file list and moves latest from unset', async () => {
    await catalog.publish({ archive: 'a', serial: '20261205T000000Z', frozen: false, validUntil: '2026-12-12T00:00:00.000Z', files: serialFiles('1'), expectedLatest: null });
    assert.equal(await catalog.latest('a'), '20261205T000000Z');
    const s = await catalog.serial('a', '20261205T000000Z');
    assert.equal(s?.validUntil, '2026-12-12T00:00:00.000Z');
    assert.equal(s?.collectedAt, null);
    assert.deepEqual(await catalog.file('a', '20261205T000000Z', 'dists/stable/Release'), file('dists/stable/Release', 'Release of 1'));
    assert.equal(await catalog.file('a', '20261205T000000Z', 'dists/stable/nothing'), null);
    assert.equal((await catalog.files('a', '20261205T000000Z')).length, 4);
  });

  it('refuses a publication whose expected latest is stale, writing nothing', async () => {
    await assert.rejects(
      catalog.publish({ archive: 'a', serial: '20261205T010000Z', frozen: false, validUntil: null, files: serialFiles('x'), expectedLatest: null }),
      (e: { code?: string }) => e.code === 'CONFLICT',
    );
    assert.equal(await catalog.serial('a', '20261205T010000Z'), null);
    assert.equal(await catalog.latest('a'), '20261205T000000Z');
  });

  it('moves latest by compare-and-swap and marks the previous serial superseded', async () => {
    await catalog.publish({ archive: 'a', serial: '20261205T020000Z', frozen: false, validUntil: null, files: serialFiles('2'), expectedLatest: '20261205T000000Z' });
    assert.equal(await catalog.latest('a'), '20261205T020000Z');
    assert.ok((await catalog.serial('a', '20261205T000000Z'))?.supersededAt);
    assert.equal((await catalog.serial('a', '20261205T020000Z'))?.supersededAt, null);
  });

  it('lets exactly one of two racing writers with the same expectation win', async () => {
    const other = await PgPublicationCatalog.open(url);
    try {
      const race = await Promise.allSettled(
        ['20261205T030000Z', '20261205T030001Z'].map((serial, i) =>
          (i ? other : catalog).publish({ archive: 'a', serial, frozen: false, validUntil: null, files: serialFiles(serial), expectedLatest: '20261205T020000Z' }),
        ),
      );
      assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(race.map((r) => r.status)));
      const rejected = race.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal(rejected.reason.code, 'CONFLICT');
      assert.ok(['20261205T030000Z', '20261205T030001Z'].includes((await catalog.latest('a'))!));
    } finally {
      await other.close();
    }
  });

  it('a writer that dies inside the publication transaction leaves readers on the previous latest', async () => {
    const before = await catalog.latest('a');
    // What a writer killed between upload and commit leaves: an open transaction that never commits
    // (the connection dies with the process; PostgreSQL rolls it back).
    const dying = new pg.Client({ connectionString: url });
    await dying.connect();
    dying.on('error', () => {});
    await dying.query('BEGIN');
    await dying.query("INSERT INTO pub_serials (archive, serial, published_at) VALUES ('a', '20261205T040000Z', now())");
    await dying.query("UPDATE pub_latest SET serial = '20261205T040000Z' WHERE archive = 'a'");
    assert.equal(await catalog.latest('a'), before, 'readers do not see the uncommitted move');
    const pid = (await dying.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await catalog['pool'].query('SELECT pg_terminate_backend($1)', [pid]);
    await dying.end().catch(() => {});
    assert.equal(await catalog.latest('a'), before);
    assert.equal(await catalog.serial('a', '20261205T040000Z'), null);
    // and the next publication goes through
    await catalog.publish({ archive: 'a', serial: '20261205T050000Z', frozen: false, validUntil: null, files: serialFiles('5'), expectedLatest: before });
    assert.equal(await catalog.latest('a'), '20261205T050000Z');
  });

  it('re-signing replaces the signed files and the state in one transaction', async () => {
    const signed = [file('dists/stable/InRelease', 'frozen InRelease'), file('dists/stable/Release.gpg', 'frozen sig')];
    await catalog.resign('a', '20261205T020000Z', { frozen: true, validUntil: null }, signed);
    assert.equal((await catalog.serial('a', '20261205T020000Z'))?.frozen, true);
    assert.deepEqual(await catalog.file('a', '20261205T020000Z', 'dists/stable/InRelease'), signed[0]);
    assert.deepEqual(await catalog.file('a', '20261205T020000Z', 'dists/stable/Release.gpg'), signed[1]);
    assert.equal((await catalog.files('a', '20261205T020000Z')).length, 5);
    await assert.rejects(catalog.resign('a', 'nope', { frozen: true, validUntil: null }, signed), (e: { code?: string }) => e.code === 'NOT_FOUND');
  });

  it("gc's mark: a collected serial keeps its row (410) and stops referencing blobs; latest cannot be collected", async () => {
    const only1 = sha('Packages of 1');
    assert.equal(await catalog.isReferenced(only1), true);
    await catalog.markCollected('a', ['20261205T000000Z']);
    const s = await catalog.serial('a', '20261205T000000Z');
    assert.ok(s?.collectedAt, 'collected serials stay known, so readers answer 410, not 404');
    assert.deepEqual(await catalog.files('a', '20261205T000000Z'), []);
    assert.equal(await catalog.isReferenced(only1), false);
    assert.equal(await catalog.isReferenced(sha('hello 1.0')), true, 'a pool file other serials still name stays referenced');
    await assert.rejects(catalog.markCollected('a', [(await catalog.latest('a'))!]), (e: { code?: string }) => e.code === 'CONFLICT');
  });

  it('keeps archives apart', async () => {
    assert.equal(await catalog.latest('b'), null);
    await catalog.publish({ archive: 'b', serial: '20261205T000000Z', frozen: false, validUntil: null, files: serialFiles('b'), expectedLatest: null });
    assert.equal(await catalog.latest('b'), '20261205T000000Z');
    assert.notEqual(await catalog.latest('a'), '20261205T000000Z');
  });
});
