import { promises as fsp } from 'node:fs';
import { AptfreezeError } from '../errors.ts';
import type { BlobRef, FsBlobStore } from './store.ts';
import { checkRange, type BlobPort, type ByteRange } from './port.ts';

/**
 * FsBlobStore seen through the asynchronous port (port.ts): the same files, with a missing blob
 * reported as NOT_FOUND instead of the raw ENOENT the synchronous store lets through.
 */
export class FsBlobPort implements BlobPort {
  constructor(private readonly store: FsBlobStore) {}

  async has(sha256: string): Promise<boolean> {
    return this.store.has(sha256);
  }

  async size(sha256: string): Promise<number> {
    return (await statBlob(this.store, sha256)).size;
  }

  async putStream(source: AsyncIterable<Uint8Array>, expected?: Partial<BlobRef>): Promise<BlobRef> {
    // A malformed expected hash is the caller's mistake (BAD_REQUEST), not a mismatch of the bytes.
    if (expected?.sha256 !== undefined) this.store.linkSource(expected.sha256);
    return this.store.putStream(source, expected);
  }

  putBuffer(data: Uint8Array): Promise<BlobRef> {
    return this.store.putBuffer(data);
  }

  async read(sha256: string): Promise<Buffer> {
    return fsp.readFile(this.store.linkSource(sha256)).catch((e) => Promise.reject(notFound(e, sha256)));
  }

  async *readStream(sha256: string, range?: ByteRange): AsyncIterable<Buffer> {
    const path = this.store.linkSource(sha256);
    let bounds: { start?: number; end?: number } = {};
    if (range) {
      const { size } = await statBlob(this.store, sha256);
      bounds = checkRange(range, size);
    }
    // Opened here, not lazily by the stream, so that a missing blob is NOT_FOUND and not a stream error.
    const handle = await fsp.open(path, 'r').catch((e) => Promise.reject(notFound(e, sha256)));
    // The stream owns the handle: it closes it at the end, on an error, or when the reader stops early.
    yield* handle.createReadStream({ highWaterMark: 1 << 20, ...bounds }) as AsyncIterable<Buffer>;
  }

  remove(sha256: string): Promise<void> {
    return this.store.remove(sha256);
  }

  list(): AsyncIterable<string> {
    return this.store.list();
  }
}

async function statBlob(store: FsBlobStore, sha256: string) {
  return fsp.stat(store.linkSource(sha256)).catch((e) => Promise.reject(notFound(e, sha256)));
}

function notFound(e: unknown, sha256: string): unknown {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new AptfreezeError('NOT_FOUND', `no blob ${sha256}`, { cause: e });
  return e;
}
