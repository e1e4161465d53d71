// Issue 15: one contract for the content-addressed store (server/store/port.ts), run against the
// filesystem store and against the S3 store on a real Ceph RGW. What lands under a hash is whole
// and verified; a refused put leaves nothing (no blob, no temp file, no upload); a second or a
// concurrent put of the same bytes is one blob; a missing blob is NOT_FOUND.
import { fsBlobFiles } from '../server/store/fs-links.ts';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { FsBlobStore } from '../server/store/store.ts';
import { S3BlobStore, minPartBytes } from '../server/store/s3.ts';
import type { BlobStore } from '../server/store/port.ts';
import { AptfreezeError, type ErrorCode } from '../server/errors.ts';
import { tmpDir } from './helpers/gpg.ts';
import { rgwSource, testS3, type TestS3 } from './helpers/rgw.ts';
import { skipUnless } from './helpers/engines.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Yields `data` in chunks of `size`; `pulled` counts the chunks taken. */
function chunked(data: Buffer, size = 65_536) {
  const it = {
    pulled: 0,
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < data.length; i += size) {
        it.pulled++;
        yield data.subarray(i, i + size);
      }
    },
  };
  return it;
}

/** Yields chunks of `size` forever (endless data). */
function endless(size: number) {
  const it = {
    pulled: 0,
    async *[Symbol.asyncIterator]() {
      for (;;) {
        it.pulled++;
        yield Buffer.alloc(size, 0x41);
      }
    },
  };
  return it;
}

async function* failing(data: Buffer, after: number): AsyncIterable<Uint8Array> {
  yield data.subarray(0, after);
  throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

async function all(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const h of it) out.push(h);
  return out;
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof AptfreezeError && e.code === code);
}

interface Backend {
  store: BlobStore;
  /** Whatever a put leaves beside blobs while it runs (temp files, uploads, holding objects): empty when idle. */
  leftovers(): Promise<string[]>;
}

/** The contract, run against one backend. */
function contract(label: string, open: () => Promise<Backend>, skip: string | false = false): void {
  describe(`the blob store contract on ${label}`, { skip }, () => {
    let b: Backend;
    before(async () => {
      b = await open();
    });

    async function assertNothingLeft(hash: string) {
      assert.equal(await b.store.has(hash), false, 'no blob under the hash');
      assert.deepEqual(await b.leftovers(), [], 'nothing left beside the blobs');
      assert.ok(!(await all(b.store.list())).includes(hash), 'not listed');
    }

    // 3000 bytes: one request; 2 MiB: above the fs store's in-memory limit; 5 MiB + 70 kB: S3 multipart.
    for (const [what, size] of [
      ['a small blob', 3000],
      ['a 2 MiB blob', 2 << 20],
      ['a blob of more than one S3 part', minPartBytes + 70_000],
    ] as const) {
      describe(`${what} (${size} bytes)`, () => {
        const data = randomBytes(size);
        const hash = sha(data);

        it('is stored under its hash, whole, and read back whole and by range', async () => {
          assert.deepEqual(await b.store.putStream(chunked(data), { sha256: hash, size }), { sha256: hash, size });
          assert.equal(await b.store.has(hash), true);
          assert.equal(await b.store.size(hash), size);
          assert.ok((await b.store.read(hash)).equals(data));
          assert.ok((await collect(b.store.readStream(hash))).equals(data));
          assert.ok((await collect(b.store.readStream(hash, { start: 10, end: 1009 }))).equals(data.subarray(10, 1010)));
          assert.ok((await collect(b.store.readStream(hash, { start: size - 7 }))).equals(data.subarray(size - 7)), 'an open range runs to the end');
          assert.ok((await collect(b.store.readStream(hash, { start: size - 3, end: size + 100 }))).equals(data.subarray(size - 3)), 'the end is clamped');
          assert.deepEqual(await b.leftovers(), []);
        });

        it('refuses a wrong hash with HASH_MISMATCH and keeps nothing', async () => {
          const other = Buffer.from(data);
          other[size >> 1] ^= 0xff;
          await rejectsWith(b.store.putStream(chunked(other), { sha256: sha(Buffer.from('something else')), size }), 'HASH_MISMATCH');
          await assertNothingLeft(sha(other));
        });

        it('refuses a short body with SIZE_MISMATCH and keeps nothing', async () => {
          const short = data.subarray(0, size - 1);
          await rejectsWith(b.store.putStream(chunked(short), { sha256: sha(data), size }), 'SIZE_MISMATCH');
          await assertNothingLeft(sha(short));
        });

        it('stops reading endless data at the first byte past the size (SIZE_MISMATCH)', async () => {
          const src = endless(65_536);
          await rejectsWith(b.store.putStream(src, { sha256: hash, size }), 'SIZE_MISMATCH');
          assert.equal(src.pulled, Math.floor(size / 65_536) + 1, 'not one chunk more than needed');
          assert.deepEqual(await b.leftovers(), []);
        });

        it('keeps nothing from a body that breaks off (the error passes through)', async () => {
          const other = randomBytes(size);
          await assert.rejects(b.store.putStream(failing(other, size - 100), { sha256: sha(other), size }), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
          await assertNothingLeft(sha(other));
        });

        it('takes a second put of the same bytes as a no-op, and still checks them', async () => {
          assert.deepEqual(await b.store.putStream(chunked(data, 10_000), { sha256: hash, size }), { sha256: hash, size });
          assert.deepEqual(await b.store.putBuffer(data), { sha256: hash, size });
          const bad = Buffer.from(data);
          bad[0] ^= 1;
          await rejectsWith(b.store.putStream(chunked(bad), { sha256: hash, size }), 'HASH_MISMATCH');
          assert.ok((await b.store.read(hash)).equals(data), 'the stored blob is untouched');
          assert.equal((await all(b.store.list())).filter((h) => h === hash).length, 1);
          assert.deepEqual(await b.leftovers(), []);
        });

        it('stores concurrent puts of the same new bytes once, and all of them succeed', async () => {
          const fresh = randomBytes(size);
          const h = sha(fresh);
          const results = await Promise.all([
            b.store.putStream(chunked(fresh), { sha256: h, size }),
            b.store.putStream(chunked(fresh, 30_000), { sha256: h, size }),
            b.store.putStream(chunked(fresh)),
            b.store.putBuffer(fresh),
          ]);
          for (const r of results) assert.deepEqual(r, { sha256: h, size });
          assert.equal((await all(b.store.list())).filter((x) => x === h).length, 1);
          assert.ok((await b.store.read(h)).equals(fresh));
          assert.deepEqual(await b.leftovers(), []);
        });

        it('checks bytes held in memory against the expected size and hash before keeping them (putBuffer)', async () => {
          const fresh = randomBytes(size);
          const h = sha(fresh);
          const bad = Buffer.from(fresh);
          bad[size >> 1] ^= 0x10;
          await rejectsWith(b.store.putBuffer(bad, { sha256: h, size }), 'HASH_MISMATCH');
          await assertNothingLeft(sha(bad));
          await rejectsWith(b.store.putBuffer(fresh.subarray(0, size - 1), { sha256: h, size }), 'SIZE_MISMATCH');
          await assertNothingLeft(h);
          await rejectsWith(b.store.putBuffer(Buffer.concat([fresh, Buffer.alloc(1)]), { sha256: h, size }), 'SIZE_MISMATCH');
          await assertNothingLeft(h);
          assert.deepEqual(await b.store.putBuffer(fresh, { sha256: h, size }), { sha256: h, size });
          assert.ok((await b.store.read(h)).equals(fresh));
          assert.deepEqual(await b.leftovers(), []);
        });

        it('computes the hash when none is expected', async () => {
          const fresh = randomBytes(size);
          assert.deepEqual(await b.store.putStream(chunked(fresh)), { sha256: sha(fresh), size });
          assert.ok((await b.store.read(sha(fresh))).equals(fresh));
          assert.deepEqual(await b.leftovers(), []);
        });
      });
    }

    it('stores an empty blob', async () => {
      const empty = Buffer.alloc(0);
      assert.deepEqual(await b.store.putBuffer(empty), { sha256: sha(empty), size: 0 });
      assert.equal(await b.store.size(sha(empty)), 0);
      assert.equal((await b.store.read(sha(empty))).length, 0);
    });

    it('answers NOT_FOUND for a blob that is not there, and has() false', async () => {
      const missing = sha(randomBytes(16));
      assert.equal(await b.store.has(missing), false);
      await rejectsWith(b.store.size(missing), 'NOT_FOUND');
      await rejectsWith(b.store.read(missing), 'NOT_FOUND');
      await rejectsWith(collect(b.store.readStream(missing)), 'NOT_FOUND');
      await rejectsWith(collect(b.store.readStream(missing, { start: 0, end: 9 })), 'NOT_FOUND');
      await b.store.remove(missing); // removing what is not there is not an error (gc may race)
    });

    it('refuses a range past the end and a malformed range or hash with BAD_REQUEST', async () => {
      const data = randomBytes(100);
      const { sha256 } = await b.store.putBuffer(data);
      await rejectsWith(collect(b.store.readStream(sha256, { start: 100 })), 'BAD_REQUEST');
      await rejectsWith(collect(b.store.readStream(sha256, { start: 50, end: 10 })), 'BAD_REQUEST');
      await rejectsWith(collect(b.store.readStream(sha256, { start: -1 })), 'BAD_REQUEST');
      await rejectsWith(b.store.has('../../etc/passwd'), 'BAD_REQUEST');
      await rejectsWith(b.store.putStream(chunked(data), { sha256: 'ABC', size: 100 }), 'BAD_REQUEST');
    });

    it('lists every hash once, in ascending order, and forgets a removed one', async () => {
      const hashes = await Promise.all([1, 2, 3, 4, 5].map(async () => (await b.store.putBuffer(randomBytes(64))).sha256));
      const listed = await all(b.store.list());
      assert.deepEqual(listed, [...listed].sort(), 'ascending');
      assert.equal(new Set(listed).size, listed.length, 'each once');
      for (const h of hashes) assert.ok(listed.includes(h));
      await b.store.remove(hashes[0]!);
      assert.equal(await b.store.has(hashes[0]!), false);
      assert.ok(!(await all(b.store.list())).includes(hashes[0]!));
      await rejectsWith(b.store.read(hashes[0]!), 'NOT_FOUND');
    });
  });
}

contract('the filesystem (FsBlobStore)', async () => {
  const fs = new FsBlobStore(join(await tmpDir('af-contract-fs'), 'store'));
  await fs.init();
  return { store: fs, leftovers: () => readdir(fsBlobFiles(fs).tmp) };
});

const rgw = rgwSource();
let s3: TestS3 | undefined;
after(async () => {
  await s3?.stop();
});

/** The suite's RGW (or this file's own), started once for every S3 describe below. */
async function rgwOnce(): Promise<TestS3> {
  s3 ??= await testS3();
  return s3;
}

/** Incomplete uploads and holding objects under a prefix: what a put must never leave behind. */
async function s3Leftovers(t: TestS3, bucket: string, prefix: string): Promise<string[]> {
  const uploads = await t.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  const objects = await t.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}incoming/` }));
  return [...(uploads.Uploads ?? []).map((u) => `upload ${u.Key}`), ...(objects.Contents ?? []).map((o) => `object ${o.Key}`)];
}

contract(
  'Ceph RGW (S3BlobStore)',
  async () => {
    const t = await rgwOnce();
    const bucket = await t.newBucket('contract');
    const store = new S3BlobStore(t.client, { bucket, prefix: 'mirror/blobs' });
    await store.init();
    return { store, leftovers: () => s3Leftovers(t, bucket, 'mirror/blobs/') };
  },
  skipUnless(rgw),
);

describe('S3BlobStore on Ceph RGW, beyond the contract', { skip: skipUnless(rgw) }, () => {
  let t: TestS3;
  let bucket: string;
  before(async () => {
    t = await rgwOnce();
    bucket = await t.newBucket('s3-only');
  });

  it('relies on a conditional create the engine honours: a second If-None-Match PUT is 412', async () => {
    const store = new S3BlobStore(t.client, { bucket, prefix: 'cond' });
    const { sha256 } = await store.putBuffer(Buffer.from('first'));
    await assert.rejects(
      t.client.send(new PutObjectCommand({ Bucket: bucket, Key: store.keyOf(sha256), Body: Buffer.from('other bytes'), IfNoneMatch: '*' })),
      (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 412,
    );
    assert.equal((await store.read(sha256)).toString(), 'first');
  });

  it('keeps stores under different prefixes of one bucket apart', async () => {
    const a = new S3BlobStore(t.client, { bucket, prefix: 'a' });
    const b2 = new S3BlobStore(t.client, { bucket, prefix: 'a2/' });
    const { sha256 } = await a.putBuffer(randomBytes(32));
    assert.equal(await b2.has(sha256), false);
    assert.deepEqual(await all(b2.list()), []);
    assert.deepEqual(await all(a.list()), [sha256]);
  });

  it('removes what a crashed writer left (an open upload, a holding object) and never a blob', async () => {
    const store = new S3BlobStore(t.client, { bucket, prefix: 'crash' });
    const { sha256 } = await store.putBuffer(randomBytes(100));
    const half = randomBytes(64);
    await t.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: store.keyOf(sha(half)) }));
    await t.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'crash/incoming/left-by-a-crash', Body: half }));
    assert.equal((await s3Leftovers(t, bucket, 'crash/')).length, 2);
    // Nothing is older than a time in the past: nothing goes.
    assert.equal(await store.removeStaleUploads(new Date(0)), 0);
    // Uploads started before a time in the future (as a restart sees its dead predecessor's): both go.
    assert.equal(await store.removeStaleUploads(new Date(Date.now() + 3_600_000)), 2);
    assert.deepEqual(await s3Leftovers(t, bucket, 'crash/'), []);
    assert.equal(await store.has(sha256), true);
  });

  it('reports a missing bucket as STORE_UNAVAILABLE at start', async () => {
    await rejectsWith(new S3BlobStore(t.client, { bucket: 'af-no-such-bucket', prefix: '' }).init(), 'STORE_UNAVAILABLE');
  });
});
