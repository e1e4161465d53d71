import { createHash, randomBytes } from 'node:crypto';
import { processAlive as alive } from '../util/process.ts';
import { createWriteStream, createReadStream, promises as fsp, existsSync, statSync, type WriteStream } from 'node:fs';
import { join, dirname } from 'node:path';
import { AptfreezeError } from '../errors.ts';

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
  /** Links (hard link) a stored blob to a path of the published tree. */
  linkTo(sha256: string, dest: string): Promise<void>;
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

export class FsBlobStore implements BlobStore {
  readonly root: string;
  readonly tmp: string;

  constructor(root: string) {
    this.root = join(root, 'sha256');
    this.tmp = join(root, 'tmp');
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true });
    await fsp.mkdir(this.tmp, { recursive: true });
    await this.removeStaleTemps();
  }

  pathOf(sha256: string): string {
    if (!hexRe.test(sha256)) throw new AptfreezeError('BAD_REQUEST', `not a sha256: ${sha256}`);
    return join(this.root, sha256.slice(0, 2), sha256);
  }

  has(sha256: string): boolean {
    return existsSync(this.pathOf(sha256));
  }

  size(sha256: string): number {
    return statSync(this.pathOf(sha256)).size;
  }

  async putBuffer(data: Uint8Array): Promise<BlobRef> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (this.has(sha256)) return { sha256, size: data.length };
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
    const temp = this.tempName();
    const hash = createHash('sha256');
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
        if (expected.size !== undefined && size > expected.size) {
          throw new AptfreezeError('SIZE_MISMATCH', `more than the expected ${expected.size} bytes`, { details: { got: size, expected: expected.size } });
        }
        hash.update(chunk);
        if (!out.write(chunk)) await waitDrain(out);
      }
      await closeStream(out);
      const sha256 = hash.digest('hex');
      if (expected.size !== undefined && size !== expected.size) {
        throw new AptfreezeError('SIZE_MISMATCH', `got ${size} bytes, expected ${expected.size}`, { details: { got: size, expected: expected.size } });
      }
      if (expected.sha256 !== undefined && sha256 !== expected.sha256) {
        throw new AptfreezeError('HASH_MISMATCH', `sha256 ${sha256}, expected ${expected.sha256}`);
      }
      await this.commit(temp, sha256);
      return { sha256, size };
    } catch (e) {
      // Wait for the file to be closed (and so created) before removing it: no partial file is left.
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()).destroy());
      await fsp.rm(temp, { force: true });
      throw e;
    }
  }

  async linkTo(sha256: string, dest: string): Promise<void> {
    await fsp.link(this.pathOf(sha256), dest);
  }

  read(sha256: string): Promise<Buffer> {
    return fsp.readFile(this.pathOf(sha256));
  }

  readStream(sha256: string): AsyncIterable<Buffer> {
    return createReadStream(this.pathOf(sha256), { highWaterMark: 1 << 20 });
  }

  async remove(sha256: string): Promise<void> {
    await fsp.rm(this.pathOf(sha256), { force: true });
  }

  async *list(): AsyncIterable<string> {
    for (const d of (await fsp.readdir(this.root)).sort()) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue;
      for (const f of (await fsp.readdir(join(this.root, d))).sort()) if (hexRe.test(f)) yield f;
    }
  }

  /** Temp names carry the writer's pid so that a restart removes only a dead writer's leftovers. */
  private tempName(): string {
    return join(this.tmp, `${process.pid}-${randomBytes(8).toString('hex')}.part`);
  }

  private async commit(temp: string, sha256: string): Promise<void> {
    const dest = this.pathOf(sha256);
    await fsp.mkdir(dirname(dest), { recursive: true });
    // rename is atomic: a blob path holds a whole, verified file or nothing.
    await fsp.rename(temp, dest);
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
