import { createHash, randomBytes } from 'node:crypto';
import { processAlive as alive } from '../util/process.ts';
import { createWriteStream, promises as fsp, existsSync, mkdirSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import { blobFile, FsBlobFiles, registerFsBlobFiles } from './fs-links.ts';
import { checkRange, type BlobRef, type BlobStore, type ByteRange } from './port.ts';
import { commitTemp, commitTempSync, syncDirSync, syncFileSystem, writeFileAtomicSync } from '../util/atomic-write.ts';
import { recoverUnsynced } from './unsynced.ts';

export type { BlobRef, BlobStore, ByteRange } from './port.ts';

const hexRe = /^[0-9a-f]{64}$/;

/**
 * Blobs up to this size are written in one go: a stream whose expected size is at most this is
 * gathered in memory (hashed and size-checked chunk by chunk as it arrives), verified, and only
 * then written to a temp file and renamed into place. The write is synchronous: for a small
 * file, open + write + close + rename cost less than the four thread-pool round trips that the
 * asynchronous calls take (and less than hashing the same bytes, which is synchronous anyway).
 * Larger blobs stream to disk through the thread pool.
 */
export const smallBlobBytes = 1 << 20;

/** Temp names: `<pid>-<random per process>-<counter>.part`, unique without a random draw per file. */
const tempPrefix = `${process.pid}-${randomBytes(6).toString('hex')}-`;
let tempCounter = 0;

/**
 * The directories of a filesystem store under its base (`<data>/store`): the blobs' fan-out and the
 * partial downloads. For fsck, which walks a data directory as files (strays, dead writers'
 * temps), never for reading or writing a blob: that is the store's.
 */
export function fsStoreDirs(base: string): { blobs: string; partial: string } {
  return { blobs: join(base, 'sha256'), partial: join(base, 'tmp') };
}

/**
 * The filesystem backend of BlobStore (port.ts): `<store>/sha256/ab/<hash>`, temp-then-rename.
 * Its filesystem-only side (links into the published tree, inode identity, adoption, the flush
 * barrier) is its FsBlobFiles (fs-links.ts), reached by server/store/ and server/publish/ only.
 */
export class FsBlobStore implements BlobStore {
  private readonly root: string;
  private readonly tmp: string;
  /** `<store>/unsynced-<pid>`: present (and durable) while this process has blobs not yet flushed. */
  private readonly marker: string;
  private dirty = false;
  /** Fan-out directories (`ab`) known to exist: created once, not at every commit. */
  private readonly fanOut = new Set<string>();
  /**
   * Told the SHA-1 of every streamed blob and of every buffer put against an expected ref (fetched
   * files), computed with its sha256: snapshot.debian.org's API names files by SHA-1
   * (server/snapmr/). Its `flush` runs at the flush barrier: the pairs it holds are written then.
   */
  sha1Sink?: ((sha256: string, sha1: string) => void) & { flush?(): void };

  constructor(private readonly base: string) {
    ({ blobs: this.root, partial: this.tmp } = fsStoreDirs(base));
    this.marker = join(base, `unsynced-${process.pid}`);
    registerFsBlobFiles(this, new FsBlobFiles(this.root, this.tmp, (also) => this.flush(also)));
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true });
    await fsp.mkdir(this.tmp, { recursive: true });
    // Before the temp files go: a batch a power cut interrupted may have left blobs empty.
    await recoverUnsynced(this.base, this.root);
    await this.removeStaleTemps();
  }

  /**
   * Makes every blob written so far durable (the bulk policy of util/atomic-write.ts): one
   * syncfs, then the marker goes. Called before anything that survives a crash refers to them;
   * `alsoFlush` names other trees written in bulk (a staging tree), flushed in the same call.
   */
  private flush(alsoFlush: string[]): void {
    // The SHA-1s of the blobs are recorded (in their own transaction) before anything refers to them.
    this.sha1Sink?.flush?.();
    if (!this.dirty && !alsoFlush.length) return;
    syncFileSystem(...(this.dirty ? [this.root] : []), ...alsoFlush);
    if (!this.dirty) return;
    rmSync(this.marker, { force: true });
    this.dirty = false;
  }

  /** Before the first blob of a batch is written without its own fsync: the durable marker recovery looks for. */
  private markDirty(): void {
    if (this.dirty) return;
    writeFileAtomicSync(this.marker, `${new Date().toISOString()}\n`);
    this.dirty = true;
  }

  /** The blob's file: internal to the store (and its FsBlobFiles). */
  private fileOf(sha256: string): string {
    return blobFile(this.root, sha256);
  }

  async has(sha256: string): Promise<boolean> {
    return existsSync(this.fileOf(sha256));
  }

  async size(sha256: string): Promise<number> {
    return (await this.statBlob(sha256)).size;
  }

  /**
   * With `expected` (a downloaded file, fetch.ts: the whole body in memory), the bytes are
   * checked against it before anything is written, and their SHA-1 goes to sha1Sink as a
   * streamed download's does. A blob already stored is left as it is (its inode may be linked
   * into a published tree).
   */
  async putBuffer(data: Uint8Array, expected?: Partial<BlobRef>): Promise<BlobRef> {
    // A malformed expected hash is the caller's mistake (BAD_REQUEST), not a mismatch of the bytes.
    if (expected?.sha256 !== undefined) this.fileOf(expected.sha256);
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (expected) check(data.length, sha256, expected);
    const sha1 = expected && this.sha1Sink ? createHash('sha1').update(data).digest('hex') : null;
    if (!existsSync(this.fileOf(sha256))) {
      if (data.length > smallBlobBytes) await this.putLarge(data, sha256);
      else this.writeSmall(data, sha256);
    }
    if (sha1 !== null) this.sha1Sink?.(sha256, sha1);
    return { sha256, size: data.length };
  }

  private async putLarge(data: Uint8Array, sha256: string): Promise<void> {
    const temp = this.tempName();
    try {
      await fsp.writeFile(temp, data, { mode: 0o444, flag: 'wx' });
      await this.commit(temp, sha256);
    } catch (e) {
      // A full disk fails the write half-way: no partial file is left behind.
      await fsp.rm(temp, { force: true });
      throw e;
    }
  }

  async putStream(source: AsyncIterable<Uint8Array>, expected: Partial<BlobRef> = {}): Promise<BlobRef> {
    // A malformed expected hash is the caller's mistake (BAD_REQUEST), not a mismatch of the bytes.
    if (expected.sha256 !== undefined) this.fileOf(expected.sha256);
    if (expected.size !== undefined && expected.size <= smallBlobBytes) return this.putSmallStream(source, expected.size, expected.sha256);
    const temp = this.tempName();
    const hash = createHash('sha256');
    const sha1 = this.sha1Sink ? createHash('sha1') : null;
    let size = 0;
    const out = createWriteStream(temp, { mode: 0o444, flags: 'wx' });
    // An error of the file (ENOSPC, or a write still in flight when a failed download destroys
    // the stream) must never go unhandled: it would take the whole process down. It is
    // rethrown by waitDrain / closeStream, or dropped when the download failed anyway.
    out.on('error', () => {});
    try {
      for await (const chunk of source) {
        size += chunk.length;
        // Endless data: stop at the first byte beyond the size the signed index gives.
        if (expected.size !== undefined && size > expected.size) throw tooLarge(size, expected.size);
        hash.update(chunk);
        sha1?.update(chunk);
        if (!out.write(chunk)) await waitDrain(out);
      }
      await closeStream(out);
      const sha256 = hash.digest('hex');
      check(size, sha256, expected);
      await this.commit(temp, sha256);
      if (sha1) this.sha1Sink?.(sha256, sha1.digest('hex'));
      return { sha256, size };
    } catch (e) {
      // Wait for the file to be closed (and so created) before removing it: no partial file is left.
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()).destroy());
      await fsp.rm(temp, { force: true });
      throw e;
    }
  }

  /**
   * A stream of at most smallBlobBytes: hashed and size-checked chunk by chunk as it arrives,
   * held in memory, and written only once it is verified. A failed download leaves no file at all.
   */
  private async putSmallStream(source: AsyncIterable<Uint8Array>, expectedSize: number, expectedSha256: string | undefined): Promise<BlobRef> {
    const hash = createHash('sha256');
    const sha1 = this.sha1Sink ? createHash('sha1') : null;
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of source) {
      size += chunk.length;
      // Endless data: stop at the first byte beyond the size the signed index gives.
      if (size > expectedSize) throw tooLarge(size, expectedSize);
      hash.update(chunk);
      sha1?.update(chunk);
      chunks.push(chunk);
    }
    const sha256 = hash.digest('hex');
    check(size, sha256, { size: expectedSize, sha256: expectedSha256 });
    this.writeSmall(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), sha256);
    if (sha1) this.sha1Sink?.(sha256, sha1.digest('hex'));
    return { sha256, size };
  }

  /** Writes verified bytes to a temp file and renames it into place (synchronously: see smallBlobBytes). */
  private writeSmall(data: Uint8Array, sha256: string): void {
    const temp = this.tempName();
    try {
      this.markDirty();
      writeFileSync(temp, data, { mode: 0o444, flag: 'wx' });
      this.commitSync(temp, sha256);
    } catch (e) {
      // A full disk fails the write half-way: no partial file is left behind.
      rmSync(temp, { force: true });
      throw e;
    }
  }

  async read(sha256: string): Promise<Buffer> {
    return fsp.readFile(this.fileOf(sha256)).catch((e) => Promise.reject(notFound(e, sha256)));
  }

  async *readStream(sha256: string, range?: ByteRange): AsyncIterable<Buffer> {
    const path = this.fileOf(sha256);
    let bounds: { start?: number; end?: number } = {};
    if (range) bounds = checkRange(range, (await this.statBlob(sha256)).size);
    // Opened here, not lazily by the stream, so that a missing blob is NOT_FOUND and not a stream error.
    const handle = await fsp.open(path, 'r').catch((e) => Promise.reject(notFound(e, sha256)));
    // The stream owns the handle: it closes it at the end, on an error, or when the reader stops early.
    yield* handle.createReadStream({ highWaterMark: 1 << 20, ...bounds }) as AsyncIterable<Buffer>;
  }

  private statBlob(sha256: string) {
    return fsp.stat(this.fileOf(sha256)).catch((e) => Promise.reject(notFound(e, sha256)));
  }

  async remove(sha256: string): Promise<void> {
    await fsp.rm(this.fileOf(sha256), { force: true });
  }

  async *list(): AsyncIterable<string> {
    for (const d of (await fsp.readdir(this.root)).sort()) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue;
      for (const f of (await fsp.readdir(join(this.root, d))).sort()) if (hexRe.test(f)) yield f;
    }
  }

  /** Temp names carry the writer's pid so that a restart removes only a dead writer's leftovers. */
  private tempName(): string {
    return join(this.tmp, `${tempPrefix}${++tempCounter}.part`);
  }

  /** A large blob: fsync'd before its rename and its directory after (one fsync is small beside its write). */
  private async commit(temp: string, sha256: string): Promise<void> {
    const dest = this.fileOf(sha256);
    const fan = sha256.slice(0, 2);
    if (!this.fanOut.has(fan)) {
      await this.makeFan(fan);
      this.fanOut.add(fan);
    }
    // rename is atomic: a blob path holds a whole, verified file or nothing.
    try {
      await commitTemp(temp, dest, true);
    } catch (e) {
      // The fan-out directory was removed behind our back: create it again, once.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await this.makeFan(fan);
      await commitTemp(temp, dest, true);
    }
  }

  /** A fan-out directory, its entry in the store made durable (a large blob's fsyncs do not cover it). */
  private async makeFan(fan: string): Promise<void> {
    if (existsSync(join(this.root, fan))) return;
    await fsp.mkdir(join(this.root, fan), { recursive: true });
    syncDirSync(this.root);
  }

  private commitSync(temp: string, sha256: string): void {
    const dest = this.fileOf(sha256);
    const fan = sha256.slice(0, 2);
    if (!this.fanOut.has(fan)) {
      mkdirSync(join(this.root, fan), { recursive: true });
      this.fanOut.add(fan);
    }
    // rename is atomic: a blob path holds a whole, verified file or nothing; durable at the next flush().
    try {
      commitTempSync(temp, dest, false);
    } catch (e) {
      // The fan-out directory was removed behind our back: create it again, once.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(join(this.root, fan), { recursive: true });
      commitTempSync(temp, dest, false);
    }
  }

  async removeStaleTemps(): Promise<string[]> {
    const removed: string[] = [];
    for (const f of await fsp.readdir(this.tmp).catch(() => [] as string[])) {
      const pid = Number(f.split('-')[0]);
      if (pid && pid !== process.pid && alive(pid)) continue;
      if (pid === process.pid) continue;
      await fsp.rm(join(this.tmp, f), { force: true, recursive: true });
      removed.push(f);
    }
    return removed;
  }
}

function notFound(e: unknown, sha256: string): unknown {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new AptfreezeError('NOT_FOUND', `no blob ${sha256}`, { cause: e });
  return e;
}

export function tooLarge(got: number, expected: number): AptfreezeError {
  return new AptfreezeError('SIZE_MISMATCH', `more than the expected ${expected} bytes`, { details: { got, expected } });
}

/** The whole body is in: its size and hash against what the signed index says. */
export function check(size: number, sha256: string, expected: Partial<BlobRef>): void {
  if (expected.size !== undefined && size !== expected.size) {
    throw new AptfreezeError('SIZE_MISMATCH', `got ${size} bytes, expected ${expected.size}`, { details: { got: size, expected: expected.size } });
  }
  if (expected.sha256 !== undefined && sha256 !== expected.sha256) {
    throw new AptfreezeError('HASH_MISMATCH', `sha256 ${sha256}, expected ${expected.sha256}`);
  }
}

function waitDrain(s: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.errored) return reject(s.errored);
    const done = (e?: Error) => {
      s.off('error', done);
      s.off('drain', done);
      s.off('close', done);
      if (e instanceof Error) reject(e);
      else if (s.errored || s.destroyed) reject(s.errored ?? new Error('the file was closed while writing'));
      else resolve();
    };
    s.on('error', done);
    s.on('drain', done);
    s.on('close', done);
  });
}

function closeStream(s: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.errored) return reject(s.errored);
    s.once('error', reject);
    s.end(() => (s.errored ? reject(s.errored) : resolve()));
  });
}
