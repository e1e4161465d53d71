// Issue 15: gc of the object store on a real Ceph RGW and PostgreSQL (server/s3/gc.ts,
// server/catalog/pg-gc.ts): a blob is deleted only once it has been unreferenced for the grace
// period (measured on a test clock), never while a serial names it, and a publication whose blob
// was collected while it was being prepared is refused (CONFLICT) and, through publishSerial,
// uploads it again. Also the reader's by-hash grace: latest/ still answers the previous serial's
// by-hash indices for `byHashGraceMs` after latest moved on.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { PgPublicationCatalog } from '../server/catalog/pg-publication.ts';
import { S3BlobStore } from '../server/store/s3.ts';
import { createReaderApp } from '../server/http/reader-s3.ts';
import { publishSerial, type SerialFile } from '../server/s3/publish-serial.ts';
import { collectObjects } from '../server/s3/gc.ts';
import { checkObjectStore } from '../server/s3/fsck.ts';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { AptfreezeError } from '../server/errors.ts';
import { postgresSource, testPostgres, type TestPostgres } from './helpers/postgres.ts';
import { rgwSource, testS3, type TestS3 } from './helpers/rgw.ts';
import { skipUnless } from './helpers/engines.ts';
import { sha256 } from './helpers/hash.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { runCli } from './helpers/service.ts';
import { tmpDir } from './helpers/gpg.ts';

const entry = (path: string, body: string | Buffer): SerialFile => {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return { path, bytes: async () => bytes, sha256: sha256(bytes), size: bytes.length };
};
const packagesOf = (n: number) => `Package: hello\nVersion: 1.${n}\nFilename: pool/main/h/hello/hello_1.${n}_all.deb\n`;
const serialOf = (n: number): SerialFile[] => [
  entry('dists/stable/InRelease', `signed Release of serial ${n}`),
  entry('dists/stable/main/binary-amd64/Packages', packagesOf(n)),
  entry(`dists/stable/main/binary-amd64/by-hash/SHA256/${sha256(Buffer.from(packagesOf(n)))}`, packagesOf(n)),
  entry(`pool/main/h/hello/hello_1.${n}_all.deb`, Buffer.alloc(2000 + n, n)),
];

const skip = skipUnless(postgresSource()) || skipUnless(rgwSource());
const hour = 3_600_000;

describe('gc of the object store, and the by-hash grace of latest', { skip }, () => {
  let pgEngine: TestPostgres;
  let s3: TestS3;
  let catalog: PgPublicationCatalog;
  let blobs: S3BlobStore;
  let bucket: string;
  let dbUrl: string;
  let clock = new Date('2026-12-06T00:00:00Z');
  const now = () => clock;
  const listed = async () => {
    const out = new Set<string>();
    for await (const h of blobs.list()) out.add(h);
    return out;
  };

  before(async () => {
    [pgEngine, s3] = await Promise.all([testPostgres(), testS3()]);
    dbUrl = await pgEngine.newDatabase('objgc');
    catalog = await PgPublicationCatalog.open(dbUrl);
    bucket = await s3.newBucket('objgc');
    blobs = new S3BlobStore(s3.client, { bucket, prefix: 'p' });
    let prev: string | null = null;
    for (const n of [0, 1, 2]) {
      const serial = `202612060${n + 1}`;
      await publishSerial(blobs, catalog, { archive: 'deb', serial, frozen: false, validUntil: null, files: serialOf(n), expectedLatest: prev });
      prev = serial;
    }
  });
  after(async () => {
    await catalog?.close();
    await Promise.all([pgEngine?.stop(), s3?.stop()]);
  });

  it('keeps every referenced blob and waits the grace period before deleting an unreferenced one', async () => {
    const orphan = Buffer.from('uploaded by a writer that died before its publication');
    await blobs.putBuffer(orphan);
    await catalog.markCollected('deb', ['2026120601']);
    const gone = [...new Set(serialOf(0).map((f) => f.sha256))]; // the by-hash copy is the Packages blob
    const kept = [...serialOf(1), ...serialOf(2)].map((f) => f.sha256);

    const first = await collectObjects(blobs, catalog.gc(), { graceMs: hour, now });
    assert.equal(first.deleted, 0, 'nothing is deleted before its grace period');
    assert.equal(first.unreferenced, gone.length + 1);
    const afterFirst = await listed();
    for (const h of [...gone, ...kept, sha256(orphan)]) assert.ok(afterFirst.has(h), h);

    clock = new Date(clock.getTime() + hour + 1000);
    const second = await collectObjects(blobs, catalog.gc(), { graceMs: hour, now });
    assert.equal(second.deleted, gone.length + 1);
    const afterSecond = await listed();
    for (const h of [...gone, sha256(orphan)]) assert.ok(!afterSecond.has(h), `${h} deleted`);
    for (const h of kept) assert.ok(afterSecond.has(h), `${h} kept`);

    const third = await collectObjects(blobs, catalog.gc(), { graceMs: hour, now });
    assert.deepEqual([third.deleted, third.unreferenced], [0, 0], 'a second run finds nothing more');
  });

  it('a blob referenced again within its grace period is never deleted', async () => {
    const shared = serialOf(7);
    // uploaded and left unreferenced (a writer that died), seen by gc ...
    for (const f of shared) await blobs.putBuffer(await f.bytes());
    await collectObjects(blobs, catalog.gc(), { graceMs: hour, now });
    // ... then named by a publication before its grace period ended
    await publishSerial(blobs, catalog, { archive: 'deb', serial: '2026120604', frozen: false, validUntil: null, files: shared, expectedLatest: '2026120603' });
    clock = new Date(clock.getTime() + 2 * hour);
    const run = await collectObjects(blobs, catalog.gc(), { graceMs: hour, now });
    assert.equal(run.deleted, 0);
    const present = await listed();
    for (const f of shared) assert.ok(present.has(f.sha256), f.path);
  });

  it('refuses a publication naming a blob claimed for deletion after the writer looked (CONFLICT), and publishSerial uploads it again', async () => {
    const files = serialOf(9);
    for (const f of files) await blobs.putBuffer(await f.bytes());
    await collectObjects(blobs, catalog.gc(), { graceMs: hour, now, dryRun: false });
    const gc = catalog.gc();
    const epoch = await gc.epoch(); // the writer looks: every blob is there
    clock = new Date(clock.getTime() + 2 * hour);
    await collectObjects(blobs, gc, { graceMs: hour, now }); // gc deletes them meanwhile
    const present = await listed();
    assert.ok(!present.has(files[3]!.sha256), 'the pool blob was collected');
    await assert.rejects(
      catalog.publish({ archive: 'deb', serial: '2026120605', frozen: false, validUntil: null, files: files.map(({ path, sha256: h, size }) => ({ path, sha256: h, size })), expectedLatest: '2026120604', gcEpoch: epoch }),
      (e: unknown) => e instanceof AptfreezeError && e.code === 'CONFLICT' && Array.isArray(e.details?.['collected']),
    );
    assert.equal(await catalog.latest('deb'), '2026120604', 'latest did not move');
    const done = await publishSerial(blobs, catalog, { archive: 'deb', serial: '2026120605', frozen: false, validUntil: null, files, expectedLatest: '2026120604' });
    assert.equal(done.uploaded, new Set(files.map((f) => f.sha256)).size, 'every collected blob went up again');
    const again = await listed();
    for (const f of files) assert.ok(again.has(f.sha256), f.path);
    assert.equal(await catalog.latest('deb'), '2026120605');
  });

  it('latest/ answers the previous serial by-hash index within the grace, 404 after it', async () => {
    let readerClock = new Date();
    const server: Server = createReaderApp({ catalog, blobs, log: { info() {}, warn() {}, error() {}, debug() {} } as never, latestTtlMs: 0, byHashGraceMs: hour, now: () => readerClock }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const previous = serialOf(7)[2]!; // serial 2026120604's by-hash Packages; latest is 2026120605 now
      const res = await fetch(`${base}/deb/latest/${previous.path}`);
      assert.equal(res.status, 200);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), previous.sha256);
      const unknown = await fetch(`${base}/deb/latest/dists/stable/main/binary-amd64/by-hash/SHA256/${'0'.repeat(64)}`);
      assert.equal(unknown.status, 404);
      readerClock = new Date(readerClock.getTime() + 2 * hour);
      const late = await fetch(`${base}/deb/latest/${previous.path}`);
      assert.equal(late.status, 404);
      await late.arrayBuffer();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('fsck of the object store is clean, then names a missing blob, a wrong size and (deep) wrong bytes', async () => {
    const clean = await checkObjectStore(catalog, blobs, { deep: true });
    assert.deepEqual(clean.findings, []);
    assert.ok(clean.serials >= 4 && clean.blobs > 0, JSON.stringify(clean));
    const [latestIndex, , , pool] = serialOf(9);
    await blobs.remove(pool!.sha256);
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: blobs.keyOf(latestIndex!.sha256), Body: Buffer.from('x'.repeat(latestIndex!.size)) }));
    const found = await checkObjectStore(catalog, blobs, { deep: true });
    const codes = found.findings.map((f) => `${f.code} ${f.where}`);
    assert.ok(codes.includes(`blob-missing deb/2026120605/${pool!.path}`), codes.join('\n'));
    assert.ok(codes.some((c) => c === `blob-hash ${latestIndex!.sha256}`), codes.join('\n'));
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: blobs.keyOf(latestIndex!.sha256), Body: Buffer.from('short') }));
    const sized = await checkObjectStore(catalog, blobs);
    assert.ok(sized.findings.some((f) => f.code === 'blob-size'), JSON.stringify(sized.findings));
  });

  it('`aptfreeze fsck` on a configuration that exports checks the object store too: clean, then object-missing (exit 1)', async () => {
    const dir = await tmpDir('af-objfsck');
    const data = join(dir, 'data');
    const plain = join(dir, 'plain.yaml');
    await writeFile(plain, YAML.stringify({ listen: '127.0.0.1:0', archives: {} }));
    const init = await runCli(['--config', plain, '--data', data, 'tokens', 'list'], { timeoutMs: 120_000 });
    assert.equal(init.code, 0, init.stderr);
    const config = join(dir, 'aptfreeze.yaml');
    await writeFile(config, YAML.stringify({ listen: '127.0.0.1:0', archives: {}, storage: { kind: 's3', endpoint: s3.endpoint, bucket, region: s3.region, prefix: 'p' }, catalog: { kind: 'postgres' } }));
    const env = { APTFREEZE_DATABASE_URL: dbUrl, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const fsck = () => runCli(['--config', config, '--data', data, 'fsck', '--json'], { env, timeoutMs: 120_000 });
    // The object store is left damaged by the test above: put the missing pool blob back first.
    const pool = serialOf(9)[3]!;
    await blobs.putBuffer(await pool.bytes());
    const index = serialOf(9)[0]!;
    await blobs.remove(index.sha256);
    await blobs.putBuffer(await index.bytes());
    const clean = await fsck();
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    const ok = JSON.parse(clean.stdout) as { ok: boolean; notes: string[] };
    assert.equal(ok.ok, true);
    assert.ok(ok.notes.some((n) => n.startsWith('object store: ')), ok.notes.join('\n'));
    await blobs.remove(pool.sha256);
    const broken = await fsck();
    assert.equal(broken.code, 1, broken.stderr);
    const report = JSON.parse(broken.stdout) as { ok: boolean; problems: Array<{ kind: string; path?: string }> };
    assert.equal(report.ok, false);
    assert.ok(report.problems.some((p) => p.kind === 'object-missing' && p.path === `s3:deb/2026120605/${pool.path}`), JSON.stringify(report.problems));
    await blobs.putBuffer(await pool.bytes());
  });
});
