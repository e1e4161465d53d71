import { createHash, randomBytes } from 'node:crypto';
import { processAlive as alive } from '../util/process.ts';
import { createWriteStream, createReadStream, promises as fsp, existsSync, statSync, mkdirSync, rmSync, writeFileSync, readFileSync, openSync, readSync, closeSync, unlinkSync, linkSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import { commitTemp, commitTempSync, syncDirSync, syncFileSystem, writeFileAtomicSync } from '../util/atomic-write.ts';
import { recoverUnsynced } from './unsynced.ts';

export interface BlobRef {
  sha256: string;
  size: number;
}

/**
 * A content-addressed store: each file once, by sha256. This is the one
 * interface the rest of the service uses for file contents, so moving blobs
 * to an object store later touches this folder only.
 */
export interface BlobStore {
  /** Whether a blob with this hash is stored. */
  has(sha256: string): boolean;
  /** Stores a stream; with `expected`, fails (and keeps nothing) unless size and hash match, and stops reading past the size. */
  putStream(source: AsyncIterable<Uint8Array>, expected?: Partial<BlobRef>): Promise<BlobRef>;
  /** Stores bytes held in memory. */
  putBuffer(data: Uint8Array): Promise<BlobRef>;
  /** Reads a stored blob. */
  read(sha256: string): Promise<Buffer>;
  readStream(sha256: string): AsyncIterable<Buffer>;
  /** Removes a blob (gc). */
  remove(sha256: string): Promise<void>;
  /** Every stored hash. */
  list(): AsyncIterable<string>;
  /** Size of a stored blob. */
  size(sha256: string): number;
}

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

export class FsBlobStore implements BlobStore {
  readonly root: string;
  readonly tmp: string;
  /** `<store>/unsynced-<pid>`: present (and durable) while this process has blobs not yet flushed. */
  private readonly marker: string;
  private dirty = false;
  /** Fan-out directories (`ab`) known to exist: created once, not at every commit. */
  private readonly fanOut = new Set<string>();
  /**
   * Told the SHA-1 of every streamed blob (fetched files), computed in the same pass as its
   * sha256: snapshot.debian.org's API names files by SHA-1 (server/snapmr/).
   */
  sha1Sink?: (sha256: string, sha1: string) => void;

  constructor(private readonly base: string) {
    this.root = join(base, 'sha256');
    this.tmp = join(base, 'tmp');
    this.marker = join(base, `unsynced-${process.pid}`);
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
  flush(alsoFlush: string[] = []): void {
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

  /** The blob's file: internal to the store (every method below goes through it). */
  private fileOf(sha256: string): string {
    if (!hexRe.test(sha256)) throw new AptfreezeError('BAD_REQUEST', `not a sha256: ${sha256}`);
    return join(this.root, sha256.slice(0, 2), sha256);
  }

  /**
   * The blob's file, for the filesystem published tree only (server/publish/): a hard link to it
   * is how a tree holds a file without a copy. Not part of the BlobStore port; no other module
   * may call it (test/ownership.test.ts).
   */
  linkSource(sha256: string): string {
    return this.fileOf(sha256);
  }

  /**
   * Reads a whole blob synchronously: refs and manifests (small next to the work they save) are
   * read in loops and in gc's locked step, which is synchronous by design (release/gc.ts).
   */
  readSync(sha256: string): Buffer {
    return readFileSync(this.fileOf(sha256));
  }

  /** The first bytes of a blob (at most `n`), synchronously: a refs blob's header. */
  readHeadSync(sha256: string, n: number): Buffer {
    const fd = openSync(this.fileOf(sha256), 'r');
    try {
      const buf = Buffer.alloc(n);
      return buf.subarray(0, readSync(fd, buf, 0, n, 0));
    } finally {
      closeSync(fd);
    }
  }

  /** Removes a blob synchronously (gc's locked step); its size, or null when it was not there. */
  removeSync(sha256: string): number | null {
    const path = this.fileOf(sha256);
    try {
      const { size } = statSync(path);
      unlinkSync(path);
      return size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** Whether `st` (of a published file) is the blob's own inode: a hard link, its bytes hashed with the blob. */
  isSameFile(sha256: string, st: { ino: number; dev: number }): boolean {
    try {
      const b = statSync(this.fileOf(sha256));
      return b.ino === st.ino && b.dev === st.dev;
    } catch {
      return false;
    }
  }

  /**
   * Puts a lost blob back from a whole copy (fsck --repair: a published file that hashes to it),
   * as a hard link: the caller has checked the copy's hash.
   */
  adoptSync(sha256: string, copy: string): void {
    const dest = this.fileOf(sha256);
    mkdirSync(join(this.root, sha256.slice(0, 2)), { recursive: true });
    rmSync(dest, { force: true });
    linkSync(copy, dest);
  }

  has(sha256: string): boolean {
    return existsSync(this.fileOf(sha256));
  }

  size(sha256: string): number {
    return statSync(this.fileOf(sha256)).size;
  }

  async putBuffer(data: Uint8Array): Promise<BlobRef> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (this.has(sha256)) return { sha256, size: data.length };
    if (data.length <= smallBlobBytes) {
      this.writeSmall(data, sha256);
      return { sha256, size: data.length };
    }
    const temp = this.tempName();
    try {
      await fsp.writeFile(temp, data, { mode: 0o444, flag: 'wx' });
      await this.commit(temp, sha256);
    } catch (e) {
      // A full disk fails the write half-way: no partial file is left behind.
      await fsp.rm(temp, { force: true });
      throw e;
    }
    return { sha256, size: data.length };
  }

  async putStream(source: AsyncIterable<Uint8Array>, expected: Partial<BlobRef> = {}): Promise<BlobRef> {
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

  /** Hard-links a stored blob to a file of the published tree (filesystem only; not part of the port). */
  async linkTo(sha256: string, dest: string): Promise<void> {
    await fsp.link(this.fileOf(sha256), dest);
  }

  read(sha256: string): Promise<Buffer> {
    return fsp.readFile(this.fileOf(sha256));
  }

  readStream(sha256: string): AsyncIterable<Buffer> {
    return createReadStream(this.fileOf(sha256), { highWaterMark: 1 << 20 });
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
