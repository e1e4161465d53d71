import { AptfreezeError } from '../errors.ts';

/** A stored blob: its name (sha256, hex) and its size in bytes. */
export interface BlobRef {
  sha256: string;
  size: number;
}

/** A byte range of a blob, both ends inclusive (as in HTTP's `Range: bytes=start-end`). */
export interface ByteRange {
  start: number;
  /** Clamped to the blob's last byte, as HTTP does; absent: to the end. */
  end?: number;
}

/**
 * The content-addressed store: each file once, by sha256. The one interface the rest of the
 * service uses for file contents; asynchronous only, the shape every backend can offer, a local
 * directory (FsBlobStore, store.ts) or an object store across the network (S3BlobStore, s3.ts).
 * No path leaves it. What only a filesystem store can do (hard-link a blob into the published
 * tree, compare inodes, adopt a file, the flush barrier) is FsBlobFiles (fs-links.ts), which
 * only server/store/ and server/publish/ import (test/ownership.test.ts). One contract test
 * suite (test/store-contract.test.ts) runs against both backends.
 *
 * The contract:
 * - a blob is written once under its sha256 and never changes; a second put of the same bytes is
 *   a no-op, and two concurrent puts of the same bytes both succeed with one blob;
 * - with `expected`, a put fails with SIZE_MISMATCH or HASH_MISMATCH and nothing becomes visible
 *   under any hash; reading stops at the first byte past the expected size;
 * - reading a blob that is not there is NOT_FOUND; a range starting past its end is BAD_REQUEST.
 */
export interface BlobStore {
  /** Whether a blob with this hash is stored. */
  has(sha256: string): Promise<boolean>;
  /** Size in bytes of a stored blob. */
  size(sha256: string): Promise<number>;
  /** Stores a stream; with `expected`, fails (and keeps nothing) unless size and hash match. */
  putStream(source: AsyncIterable<Uint8Array>, expected?: Partial<BlobRef>): Promise<BlobRef>;
  /** Stores bytes held in memory (hashed once); with `expected`, fails (and keeps nothing) unless size and hash match. */
  putBuffer(data: Uint8Array, expected?: Partial<BlobRef>): Promise<BlobRef>;
  /** Reads a whole blob into memory (small files: Release, manifests). */
  read(sha256: string): Promise<Buffer>;
  /** Streams a blob or a range of it; a missing blob fails on the first read. */
  readStream(sha256: string, range?: ByteRange): AsyncIterable<Buffer>;
  /** Removes a blob (gc); removing a missing blob is not an error. */
  remove(sha256: string): Promise<void>;
  /** Every stored hash, in ascending order. */
  list(): AsyncIterable<string>;
}

/**
 * The port's range rule, shared by every backend: inclusive ends, the end clamped to the last byte,
 * the start inside the blob. Without `size` (an object store checks it server-side), only the form.
 */
export function checkRange(range: ByteRange, size?: number): { start: number; end?: number } {
  const { start } = range;
  if (!Number.isSafeInteger(start) || start < 0 || (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < start))) {
    throw new AptfreezeError('BAD_REQUEST', `not a byte range: ${start}-${range.end ?? ''}`);
  }
  if (size === undefined) return { start, end: range.end };
  if (start >= size) throw rangeNotSatisfiable(start, size);
  return { start, end: Math.min(range.end ?? size - 1, size - 1) };
}

export function rangeNotSatisfiable(start: number, size?: number): AptfreezeError {
  return new AptfreezeError('BAD_REQUEST', `range starts at ${start}, past the blob's end`, { details: { start, size } });
}

/** The items whose blob the store holds, in their order (one `has` at a time: a local store answers at once). */
export async function whereStored<T>(store: Pick<BlobStore, 'has'>, items: Iterable<T>, sha256Of: (item: T) => string): Promise<T[]> {
  const out: T[] = [];
  for (const x of items) if (await store.has(sha256Of(x))) out.push(x);
  return out;
}
