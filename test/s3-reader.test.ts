// Issue 15, a first slice of the stateless reader on a real Ceph RGW and PostgreSQL: serials are
// published through publishSerial (blobs first, then one catalog transaction), and two readers
// (createReaderApp on two loopback ports, no data directory) answer them: bytes match their
// hashes, Range/416, Cache-Control per path kind, 404/410 bodies, and latest staying on the
// previous serial when a publication dies between upload and commit.
// Not yet here: the real writer (snapshots of a fixture upstream), apt-get and gpgv through a
// reader, the 8-client torn-state run (`serve --role reader` as a process: serve-role.test.ts).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { PgPublicationCatalog } from '../server/catalog/pg-publication.ts';
import { S3BlobStore } from '../server/store/s3.ts';
import { createReaderApp, immutableCacheControl } from '../server/http/reader-s3.ts';
import { publishSerial, type SerialFile } from '../server/s3/publish-serial.ts';
import { postgresSource, testPostgres, type TestPostgres } from './helpers/postgres.ts';
import { rgwSource, testS3, type TestS3 } from './helpers/rgw.ts';
import { skipUnless } from './helpers/engines.ts';
import { sha256 } from './helpers/hash.ts';

const sha = sha256;
const entry = (path: string, body: string | Buffer): SerialFile => {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return { path, bytes: async () => bytes, sha256: sha(bytes), size: bytes.length };
};
const deb = Buffer.alloc(300_000, 7);
const serialOf = (n: number): SerialFile[] => {
  const packages = `Package: hello\nVersion: 1.${n}\nFilename: pool/main/h/hello/hello_1_all.deb\n`;
  return [
    entry('dists/stable/InRelease', `signed Release of serial ${n}`),
    entry('dists/stable/main/binary-amd64/Packages', packages),
    entry(`dists/stable/main/binary-amd64/by-hash/SHA256/${sha(Buffer.from(packages))}`, packages),
    entry('pool/main/h/hello/hello_1_all.deb', deb),
  ];
};
const serials = ['2026120501', '2026120502', '2026120503'];

const skip = skipUnless(postgresSource()) || skipUnless(rgwSource());

describe('the stateless reader on Ceph RGW and PostgreSQL', { skip }, () => {
  let pgEngine: TestPostgres;
  let s3: TestS3;
  let catalog: PgPublicationCatalog;
  let blobs: S3BlobStore;
  const servers: Server[] = [];
  const bases: string[] = [];
  before(async () => {
    [pgEngine, s3] = await Promise.all([testPostgres(), testS3()]);
    catalog = await PgPublicationCatalog.open(await pgEngine.newDatabase('reader'));
    blobs = new S3BlobStore(s3.client, { bucket: await s3.newBucket('reader'), prefix: 'blobs' });
    const log = { info() {}, warn() {}, error() {}, debug() {} } as never;
    for (let i = 0; i < 2; i++) {
      // each reader has its own catalog pool: they share nothing but PostgreSQL and the bucket
      const own = await PgPublicationCatalog.open((catalog as unknown as { pool: { options: { connectionString: string } } }).pool.options.connectionString);
      const server = createReaderApp({ catalog: own, blobs, log, latestTtlMs: 0 }).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      servers.push(server);
      server.on('close', () => void own.close());
      bases.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
    let prev: string | null = null;
    for (const [i, serial] of serials.entries()) {
      await publishSerial(blobs, catalog, { archive: 'deb', serial, frozen: false, validUntil: null, files: serialOf(i), expectedLatest: prev });
      prev = serial;
    }
  });
  after(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
    await catalog?.close();
    await Promise.all([pgEngine?.stop(), s3?.stop()]);
  });

  it('both readers answer every file of every serial with bytes matching its hash', async () => {
    for (const base of bases) {
      for (const [i, serial] of serials.entries()) {
        for (const f of serialOf(i)) {
          const res = await fetch(`${base}/deb/${serial}/${f.path}`);
          assert.equal(res.status, 200, f.path);
          const body = Buffer.from(await res.arrayBuffer());
          assert.equal(sha(body), f.sha256, `${serial}/${f.path}`);
        }
      }
    }
  });

  it('latest resolves through the catalog, with a short Cache-Control; serial, by-hash and pool paths are immutable', async () => {
    const latest = await fetch(`${bases[0]}/deb/latest/dists/stable/InRelease`);
    assert.equal(await latest.text(), 'signed Release of serial 2');
    assert.equal(latest.headers.get('cache-control'), 'public, max-age=10');
    const pool = await fetch(`${bases[1]}/deb/${serials[0]}/pool/main/h/hello/hello_1_all.deb`, { method: 'HEAD' });
    assert.equal(pool.headers.get('cache-control'), immutableCacheControl);
    assert.equal(pool.headers.get('content-length'), String(deb.length));
    const packages = serialOf(0)[2]!;
    const byHash = await fetch(`${bases[1]}/deb/${serials[0]}/${packages.path}`);
    assert.equal(byHash.headers.get('cache-control'), immutableCacheControl);
    const index = await fetch(`${bases[1]}/deb/${serials[0]}/dists/stable/main/binary-amd64/Packages`);
    assert.equal(index.headers.get('cache-control'), immutableCacheControl);
  });

  it('answers a Range with 206 from a ranged GetObject, and 416 past the end', async () => {
    const res = await fetch(`${bases[0]}/deb/${serials[1]}/pool/main/h/hello/hello_1_all.deb`, { headers: { range: 'bytes=1000-1999' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 1000-1999/${deb.length}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), deb.subarray(1000, 2000));
    const past = await fetch(`${bases[0]}/deb/${serials[1]}/pool/main/h/hello/hello_1_all.deb`, { headers: { range: `bytes=${deb.length}-` } });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), `bytes */${deb.length}`);
  });

  it('refuses traversal and dot names, and answers 404 with the contract body', async () => {
    const missing = await fetch(`${bases[0]}/deb/${serials[0]}/dists/stable/nothing`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
    assert.equal((await fetch(`${bases[0]}/deb/${serials[0]}/a%2Fb`)).status, 400, 'an encoded slash');
    assert.equal((await fetch(`${bases[0]}/deb/${serials[0]}/.tmp/x`)).status, 404);
    assert.equal((await fetch(`${bases[0]}/nope/latest/dists/stable/InRelease`)).status, 404);
  });

  it('a publication that dies between upload and commit leaves both readers on the previous latest; the next one goes through', async () => {
    const next = '2026120504';
    await assert.rejects(
      publishSerial(blobs, catalog, { archive: 'deb', serial: next, frozen: false, validUntil: null, files: serialOf(3), expectedLatest: serials[2]! }, {
        beforeCommit: () => {
          throw new Error('killed between upload and commit');
        },
      }),
      /killed/,
    );
    assert.equal(await blobs.has(serialOf(3)[0]!.sha256), true, 'the objects went up');
    for (const base of bases) {
      assert.equal(await (await fetch(`${base}/deb/latest/dists/stable/InRelease`)).text(), 'signed Release of serial 2');
      assert.equal((await fetch(`${base}/deb/${next}/dists/stable/InRelease`)).status, 404);
    }
    const { uploaded } = await publishSerial(blobs, catalog, { archive: 'deb', serial: next, frozen: false, validUntil: null, files: serialOf(3), expectedLatest: serials[2]! });
    assert.equal(uploaded, 0, 'the retry finds every object in place');
    for (const base of bases) assert.equal(await (await fetch(`${base}/deb/latest/dists/stable/InRelease`)).text(), 'signed Release of serial 3');
  });

  it('answers 410 for a collected serial on both readers, while the others still serve the shared pool file', async () => {
    await catalog.markCollected('deb', [serials[0]!]);
    for (const base of bases) {
      const gone = await fetch(`${base}/deb/${serials[0]}/dists/stable/InRelease`);
      assert.equal(gone.status, 410);
      assert.equal(((await gone.json()) as { error: { code: string } }).error.code, 'GONE');
      assert.equal((await fetch(`${base}/deb/${serials[1]}/pool/main/h/hello/hello_1_all.deb`)).status, 200);
    }
  });

  it('serves /keys/ once the writer exported them (404 before), and the trace file naming latest', async () => {
    const none = await fetch(`${bases[0]}/keys/aptfreeze.asc`);
    assert.equal(none.status, 404);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
    const asc = Buffer.from('-----BEGIN PGP PUBLIC KEY BLOCK-----\n(a test key)\n-----END PGP PUBLIC KEY BLOCK-----\n');
    const gpg = Buffer.from([0x99, 0x01, 0x0d, 0x04, 0x01, 0x02]);
    const refs = [await blobs.putBuffer(asc), await blobs.putBuffer(gpg)];
    await catalog.setKeys([{ path: 'aptfreeze.asc', ...refs[0]! }, { path: 'aptfreeze.gpg', ...refs[1]! }]);
    for (const base of bases) {
      const a = await fetch(`${base}/keys/aptfreeze.asc`);
      assert.equal(a.status, 200);
      assert.equal(a.headers.get('content-type'), 'application/pgp-keys');
      assert.deepEqual(Buffer.from(await a.arrayBuffer()), asc);
      const g = await fetch(`${base}/keys/aptfreeze.gpg`);
      assert.deepEqual(Buffer.from(await g.arrayBuffer()), gpg);
    }
    const trace = await fetch(`${bases[1]}/deb/project/trace/deb`);
    assert.equal(trace.status, 200);
    const latest = await catalog.latest('deb');
    assert.ok(latest);
    assert.match(await trace.text(), new RegExp(`^Archive serial: ${latest}$`, 'm'));
    const other = await fetch(`${bases[1]}/deb/project/trace/other`);
    assert.equal(other.status, 404);
    await other.arrayBuffer();
  });
});
