import { createHash, randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { AptfreezeError } from '../errors.ts';
import { check as checkBlob, tooLarge } from './store.ts';
import { checkRange, rangeNotSatisfiable, type BlobRef, type BlobStore, type ByteRange } from './port.ts';

export interface S3Location {
  bucket: string;
  /** Key prefix of everything this store writes: '' or ending in '/' (see normalizePrefix). */
  prefix: string;
}

export interface S3StoreOptions {
  /**
   * Bytes held in memory before a blob goes multipart, and the size of each part. S3 wants parts of
   * at least 5 MiB (except the last), so this is also the smallest allowed; it bounds memory to
   * this much per concurrent put (16 downloads: 80 MiB).
   */
  partBytes?: number;
}

/** S3's smallest part (except the last), and our default threshold and part size. */
export const minPartBytes = 5 * 1024 * 1024;

const hexRe = /^[0-9a-f]{64}$/;

/**
 * Blobs as write-once objects keyed `<prefix>sha256/<hash>` in one bucket (Ceph RGW, AWS S3 or any
 * S3 service). Nothing appears under a hash before its bytes are checked:
 * - up to partBytes, the stream is gathered in memory (hashed and size-checked chunk by chunk),
 *   verified, then written with one PutObject carrying `If-None-Match: *`: a conditional create,
 *   so an object, once there, is never replaced (412 means the same bytes are already stored);
 * - beyond that, the bytes go up as the parts of a multipart upload while they are hashed. An
 *   upload is invisible until it is completed, and it is completed only once size and hash match
 *   (aborted otherwise, or when the blob turned up meanwhile). When the expected hash is known (a
 *   file listed in a signed index: the usual case) the upload is started under the final key, so
 *   every byte is written once. Without it the key is not known until the end: the upload goes to
 *   a holding key under `<prefix>incoming/` and is copied server-side once verified (our own
 *   generated files only; S3 copies objects up to 5 GiB in one call).
 * Two writers completing the same blob at once write the same bytes under the same name: one
 * object. Crashed writers leave incomplete uploads or holding objects, never a blob:
 * removeStaleUploads removes them (the counterpart of FsBlobStore.removeStaleTemps).
 */
export class S3BlobStore implements BlobStore {
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partBytes: number;

  constructor(
    private readonly client: S3Client,
    location: S3Location,
    opts: S3StoreOptions = {},
  ) {
    this.bucket = location.bucket;
    this.prefix = normalizePrefix(location.prefix);
    this.partBytes = opts.partBytes ?? minPartBytes;
    if (!(this.partBytes >= minPartBytes)) throw new AptfreezeError('CONFIG_INVALID', `S3 part size ${this.partBytes} is below S3's minimum of ${minPartBytes} bytes`);
  }

  /** Checks at start that the bucket is there and the credentials may read it. */
  async init(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (e) {
      const status = statusOf(e);
      const why = status === 404 ? 'does not exist' : status === 403 ? 'refuses these credentials' : 'is not reachable';
      throw new AptfreezeError('STORE_UNAVAILABLE', `S3 bucket ${this.bucket} ${why} (${describe(e)})`, { cause: e });
    }
  }

  keyOf(sha256: string): string {
    if (!hexRe.test(sha256)) throw new AptfreezeError('BAD_REQUEST', `not a sha256: ${sha256}`);
    return `${this.prefix}sha256/${sha256}`;
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.head(sha256)) !== null;
  }

  async size(sha256: string): Promise<number> {
    const size = await this.head(sha256);
    if (size === null) throw new AptfreezeError('NOT_FOUND', `no blob ${sha256}`);
    return size;
  }

  async putBuffer(data: Uint8Array, expected?: Partial<BlobRef>): Promise<BlobRef> {
    // The hash first, so that a large buffer is uploaded once, under its final key; with an
    // expected hash, putStream checks the bytes against it before anything is visible.
    if (expected?.sha256 !== undefined) return this.putStream(once(data), expected);
    return this.putStream(once(data), { size: data.length, sha256: createHash('sha256').update(data).digest('hex'), ...expected });
  }

  async putStream(source: AsyncIterable<Uint8Array>, expected: Partial<BlobRef> = {}): Promise<BlobRef> {
    if (expected.sha256 !== undefined) this.keyOf(expected.sha256);
    const hash = createHash('sha256');
    let size = 0;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    // null: still in memory; 'present': the expected blob is already stored, only check the bytes.
    let upload: Multipart | 'present' | null = null;
    try {
      for await (const chunk of source) {
        size += chunk.length;
        // Endless data: stop at the first byte beyond the size the signed index gives.
        if (expected.size !== undefined && size > expected.size) throw tooLarge(size, expected.size);
        hash.update(chunk);
        if (upload === 'present') continue;
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= this.partBytes) {
          upload ??= await this.startUpload(expected.sha256);
          if (upload !== 'present') await upload.part(Buffer.concat(pending, pendingBytes));
          pending = [];
          pendingBytes = 0;
        }
      }
      const sha256 = hash.digest('hex');
      checkBlob(size, sha256, expected);
      const rest = Buffer.concat(pending, pendingBytes);
      if (upload === null) await this.putSmall(rest, sha256);
      else if (upload !== 'present') {
        if (rest.length > 0) await upload.part(rest);
        const done = upload;
        upload = null;
        await this.finish(done, sha256);
      }
      return { sha256, size };
    } catch (e) {
      if (upload instanceof Multipart) await upload.abort().catch(() => {});
      throw e;
    }
  }

  async read(sha256: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of this.readStream(sha256)) chunks.push(c);
    return Buffer.concat(chunks);
  }

  async *readStream(sha256: string, range?: ByteRange): AsyncIterable<Buffer> {
    const key = this.keyOf(sha256);
    const r = range ? checkRange(range) : undefined;
    let body: AsyncIterable<Buffer>;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: r ? `bytes=${r.start}-${r.end ?? ''}` : undefined }));
      body = res.Body as unknown as AsyncIterable<Buffer>;
    } catch (e) {
      if (statusOf(e) === 416) throw rangeNotSatisfiable(r?.start ?? 0);
      throw storeError(e, sha256);
    }
    // for-await destroys the response body when the consumer stops early.
    yield* body;
  }

  async remove(sha256: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
    } catch (e) {
      if (statusOf(e) !== 404) throw storeError(e, sha256);
    }
  }

  async *list(): AsyncIterable<string> {
    for await (const o of this.listSized()) yield o.sha256;
  }

  /** Every blob with its size, in hash order, from the listing alone (fsck: no request per object). */
  async *listSized(): AsyncIterable<{ sha256: string; size: number }> {
    const base = `${this.prefix}sha256/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, ContinuationToken: token })).catch((e) => Promise.reject(storeError(e)));
      // S3 lists keys in ascending UTF-8 order: the hashes come out sorted, as the fs store's do.
      for (const o of page.Contents ?? []) {
        const name = o.Key?.slice(base.length) ?? '';
        if (hexRe.test(name)) yield { sha256: name, size: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * Removes what crashed writers left under the prefix before `before`: incomplete multipart
   * uploads and holding objects. Never a blob. Returns how many it removed.
   */
  async removeStaleUploads(before: Date): Promise<number> {
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client
        .send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix || undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }))
        .catch((e) => Promise.reject(storeError(e)));
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated >= before) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId })).catch((e) => (statusOf(e) === 404 ? undefined : Promise.reject(storeError(e))));
        removed++;
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.prefix}incoming/`, ContinuationToken: token })).catch((e) => Promise.reject(storeError(e)));
      for (const o of page.Contents ?? []) {
        if (!o.Key || !o.LastModified || o.LastModified >= before) continue;
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: o.Key })).catch((e) => Promise.reject(storeError(e)));
        removed++;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return removed;
  }

  /** The object's size, or null when there is none. */
  private async head(sha256: string): Promise<number | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
      return res.ContentLength ?? 0;
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw storeError(e, sha256);
    }
  }

  /** One conditional create of verified bytes. */
  private async putSmall(data: Buffer, sha256: string): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256), Body: data, ContentLength: data.length, ContentType: 'application/octet-stream', IfNoneMatch: '*' }),
      );
    } catch (e) {
      const status = statusOf(e);
      // 412: the object exists, and its name says it holds these very bytes. 409 is AWS's answer to
      // two conditional creates of one key in flight at once: fine if the other one landed.
      if (status === 412) return;
      if (status === 409 && (await this.has(sha256))) return;
      throw storeError(e, sha256);
    }
  }

  /** Where the parts of a large blob go: its final key when the hash is known, else a holding key. */
  private async startUpload(sha256: string | undefined): Promise<Multipart | 'present'> {
    if (sha256 !== undefined && (await this.has(sha256))) return 'present';
    const key = sha256 !== undefined ? this.keyOf(sha256) : `${this.prefix}incoming/${randomUUID()}`;
    return Multipart.start(this.client, this.bucket, key);
  }

  /** Completes a verified upload: under its final key, or from its holding key by a server-side copy. */
  private async finish(upload: Multipart, sha256: string): Promise<void> {
    const key = this.keyOf(sha256);
    if (upload.key === key) {
      // Complete only what is not there yet: when it is, this upload holds the same bytes.
      if (await this.has(sha256)) await upload.abort();
      else await upload.complete();
      return;
    }
    await upload.complete();
    try {
      if (!(await this.has(sha256))) {
        await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: key, CopySource: copySource(this.bucket, upload.key), MetadataDirective: 'REPLACE', ContentType: 'application/octet-stream' }));
      }
    } catch (e) {
      throw storeError(e, sha256);
    } finally {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: upload.key })).catch(() => {});
    }
  }
}

/** One multipart upload: parts numbered from 1, completed or aborted once. */
class Multipart {
  private readonly parts: { ETag: string; PartNumber: number }[] = [];

  private constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    readonly key: string,
    private readonly uploadId: string,
  ) {}

  static async start(client: S3Client, bucket: string, key: string): Promise<Multipart> {
    try {
      const res = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'application/octet-stream' }));
      if (!res.UploadId) throw new Error('no UploadId in the answer');
      return new Multipart(client, bucket, key, res.UploadId);
    } catch (e) {
      throw storeError(e);
    }
  }

  async part(data: Buffer): Promise<void> {
    const PartNumber = this.parts.length + 1;
    try {
      const res = await this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId, PartNumber, Body: data, ContentLength: data.length }));
      if (!res.ETag) throw new Error(`no ETag for part ${PartNumber}`);
      this.parts.push({ ETag: res.ETag, PartNumber });
    } catch (e) {
      throw storeError(e);
    }
  }

  async complete(): Promise<void> {
    try {
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId, MultipartUpload: { Parts: this.parts } }));
    } catch (e) {
      throw storeError(e);
    }
  }

  async abort(): Promise<void> {
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId }));
  }
}

/** CopySource is `bucket/key`, URL-encoded (keys here are plain, but the SDK passes it verbatim). */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

async function* once(data: Uint8Array): AsyncIterable<Uint8Array> {
  yield data;
}

/** '' or `a/b/`: no leading slash, one trailing slash, no empty or dot segments. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  if (trimmed.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new AptfreezeError('CONFIG_INVALID', `not a usable S3 key prefix: ${prefix}`);
  return `${trimmed}/`;
}

function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function describe(e: unknown): string {
  const status = statusOf(e);
  const name = (e as Error | undefined)?.name ?? 'Error';
  return status ? `${name}, HTTP ${status}` : `${name}: ${(e as Error | undefined)?.message ?? String(e)}`;
}

/** A failed S3 call as the port's error: a missing object is NOT_FOUND, anything else STORE_UNAVAILABLE. */
function storeError(e: unknown, sha256?: string): AptfreezeError {
  if (e instanceof AptfreezeError) return e;
  const name = (e as Error | undefined)?.name;
  if (sha256 && statusOf(e) === 404 && name !== 'NoSuchBucket') return new AptfreezeError('NOT_FOUND', `no blob ${sha256}`, { cause: e });
  return new AptfreezeError('STORE_UNAVAILABLE', `object store: ${describe(e)}`, { cause: e });
}
