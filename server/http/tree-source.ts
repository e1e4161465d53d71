import { realpathSync, statSync, openSync, fstatSync, readSync, read, closeSync, createReadStream, existsSync, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * A file of the published tree as the serving module sees it: no path, only what it needs to
 * answer and to cache. `key` names the bytes' storage (an inode here, an object key in an
 * object store); `version` changes whenever the bytes under that key may have.
 */
export interface TreeFile {
  readonly key: string;
  readonly version: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Where the serving module reads the published tree. The filesystem implementation is below;
 * an object-store reader implements the same five methods. Reads take a file `lookup` gave
 * and answer null when the tree no longer holds that version of it (renamed over, removed):
 * the caller then looks it up again, so headers and bytes always belong to one version.
 */
export interface TreeSource<F extends TreeFile = TreeFile> {
  /** Whether `name` is an archive of the tree (configured, or published earlier and still there). */
  hasArchive(name: string): boolean;
  /**
   * A value that changes whenever a serial of the archive is published or removed, and whether
   * it has settled (a change within the same clock tick would not move it); null if unknown.
   */
  archiveStamp(archive: string): { stamp: number; settled: boolean } | null;
  /** The file at these decoded segments under the archive (symlinks followed, never leaving it), or null. */
  lookup(archive: string, segs: readonly string[]): F | null;
  /** The whole file, synchronously (small files: cheaper than a thread-pool round trip). */
  readSync(f: F): Buffer | null;
  /** The whole file, off the event loop. */
  read(f: F): Promise<Buffer | null>;
  /** A stream of bytes start..end (inclusive). */
  stream(f: F, start: number, end: number): Readable | null;
}

interface FsFile extends TreeFile {
  readonly abs: string;
  readonly st: Stats;
}

/**
 * Whether an open descriptor's stat is the file `st` describes. A file is replaced by rename
 * (re-signing), never rewritten in place, so a new inode means new bytes; size, mtime and ctime
 * guard against an inode number reused after a removal (a new file's ctime is its creation,
 * after the old one was stat'ed) and against an in-place write.
 */
function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/** A descriptor of the file `f` describes, or null when its path now names another file. */
function openChecked(f: FsFile): number | null {
  let fd: number;
  try {
    fd = openSync(f.abs, 'r');
  } catch {
    return null;
  }
  try {
    if (sameFile(fstatSync(fd), f.st)) return fd;
  } catch {
    // fall through
  }
  closeSync(fd);
  return null;
}

/**
 * The published tree on the local filesystem (`<data>/public`). The rule that only a file
 * inside the archive's directory is served, after symlinks are followed, lives here: a symlink
 * planted in a tree does not leak files. Every read goes through a descriptor checked against
 * the stat the caller's headers were made from.
 */
export class FsTreeSource implements TreeSource<FsFile> {
  private readonly rootReal: string;
  private readonly configured: Set<string>;
  private readonly archiveDirs = new Map<string, string>();

  constructor(
    publicRoot: string,
    configured: Iterable<string>,
    /** The clock that says when an archive directory's mtime is safely in the past. */
    private readonly now: () => number = Date.now,
  ) {
    this.rootReal = realpathSync(publicRoot);
    this.configured = new Set(configured);
  }

  /** An archive is served if configured, or if it has a published tree (a removed config keeps serving history). */
  hasArchive(name: string): boolean {
    return this.configured.has(name) || (/^[a-z0-9][a-z0-9.+-]*$/.test(name) && existsSync(join(this.rootReal, name)));
  }

  private dirOf(archive: string): string {
    let d = this.archiveDirs.get(archive);
    if (!d) {
      d = this.rootReal + sep + archive;
      if (this.archiveDirs.size < 1024) this.archiveDirs.set(archive, d);
    }
    return d;
  }

  /**
   * The archive directory's mtime: it changes when a serial directory is renamed in or removed.
   * Trusted only once it is safely in the past: timestamps are coarse (a clock tick, or a second
   * on some file systems), and a serial removed within the same tick as an earlier change of the
   * directory would otherwise leave it unchanged.
   */
  archiveStamp(archive: string): { stamp: number; settled: boolean } | null {
    try {
      const stamp = statSync(this.dirOf(archive)).mtimeMs;
      return { stamp, settled: this.now() - stamp >= 2000 };
    } catch {
      return null;
    }
  }

  lookup(archive: string, segs: readonly string[]): FsFile | null {
    const dir = this.dirOf(archive);
    try {
      const abs = realpathSync.native(join(dir, ...segs));
      if (!abs.startsWith(dir + sep)) return null;
      const st = statSync(abs);
      if (!st.isFile()) return null;
      // mtime as Node rounds it to the millisecond (Stats.mtime), the validators' unit.
      return { abs, st, key: `${st.dev}:${st.ino}`, version: `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`, size: st.size, mtimeMs: st.mtime.getTime() };
    } catch {
      return null;
    }
  }

  readSync(f: FsFile): Buffer | null {
    const fd = openChecked(f);
    if (fd === null) return null;
    try {
      const body = Buffer.allocUnsafe(f.size);
      let off = 0;
      while (off < f.size) {
        const n = readSync(fd, body, off, f.size - off, off);
        if (n === 0) return null;
        off += n;
      }
      return body;
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
  }

  /** Open and fstat (cheap) here, the read on the thread pool. */
  read(f: FsFile): Promise<Buffer | null> {
    const fd = openChecked(f);
    if (fd === null) return Promise.resolve(null);
    // Not from the shared pool: a cached body lives long, and must not pin a pool slab.
    const body = Buffer.allocUnsafeSlow(f.size);
    return new Promise((resolve) => {
      const step = (off: number) => {
        if (off === f.size) {
          closeSync(fd);
          return resolve(body);
        }
        read(fd, body, off, f.size - off, off, (err, n) => {
          if (err || n === 0) {
            closeSync(fd);
            return resolve(null);
          }
          step(off + n);
        });
      };
      step(0);
    });
  }

  stream(f: FsFile, start: number, end: number): Readable | null {
    const fd = openChecked(f);
    if (fd === null) return null;
    return createReadStream(f.abs, { fd, start, end, highWaterMark: 1 << 20 });
  }
}
