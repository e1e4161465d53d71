// The Publisher: the one module that writes a serial's published tree (staging aside, pool trees,
// commit by rename, the latest symlink, recovery). One piece though over 400 lines: staging, pool
// linking, commit and recovery are the halves of one atomic-publication protocol (recover undoes
// exactly what stage, commit and setLatest may leave half done), so they are kept side by side.
import { promises as fsp, existsSync, readlinkSync, mkdirSync, lstatSync, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, dirname } from 'node:path';
import type { BlobStore } from '../store/port.ts';
import { fsBlobFiles, type FsBlobFiles } from '../store/fs-links.ts';
import { AptfreezeError } from '../errors.ts';
import { checkRelativePath } from '../debian/paths.ts';
import { syncDir, writeFileAtomic } from '../util/atomic-write.ts';
import { PoolTrees } from './pool-gc.ts';
import { PublishedReads } from './reads.ts';
import { TagTrees } from './tag-tree.ts';
import { FsTreeSource } from '../http/tree-source.ts';
import type { PublishedTree } from './port.ts';
import { readSigned, replaceSignedSync, signedNames, type SignedFiles, type SignedName } from './signed.ts';
import { archiveEntry, linksPools, latestTempName, parsePoolLink, poolEntry, poolLinkTarget, poolsDirName, poolTempName, stagingName } from './layout.ts';

export interface TreeLink {
  /** Path relative to the serial's root, e.g. pool/main/h/hello/hello_1_amd64.deb */
  path: string;
  sha256: string;
  size: number;
}

/** A new pool tree being linked while its files download (Publisher.beginPool). */
export interface PendingPool {
  id: string;
  dir: string;
  linked: Set<string>;
  failed: boolean;
  link(l: TreeLink): void;
}

/** The pool part of a new serial (see Publisher.stage). Paths start with `pool/`. */
export interface PoolPlan {
  /** A new tree already being linked (when there is no base to extend). */
  pending?: PendingPool;
  /** The previous serial's pool tree, and the files this serial lists that the previous one did not. */
  base: { id: string; added: TreeLink[] } | null;
  /** Every pool file of the serial: asked only when a new pool tree must be built. */
  all: () => Promise<TreeLink[]>;
}

export interface TreeFile {
  path: string;
  data: string | Uint8Array;
}

export { signedNames } from './signed.ts';

/**
 * The published tree: plain static files, hard links into the store, so a
 * stock web server can serve it. A serial is built aside in a dot-directory
 * and renamed into place: a reader sees the whole serial or none of it.
 *
 *   <root>/<archive>/<serial>/...           an immutable snapshot
 *   <root>/<archive>/latest -> <serial>     moved by an atomic symlink rename
 *   <root>/<archive>/project/trace/<archive>
 *   <root>/<archive>/.staging-<serial>-*    being built (never served)
 *   <root>/<archive>/.pools/<id>/           shared pool trees; <serial>/pool -> ../.pools/<id>
 */
export class Publisher implements PublishedTree {
  /** What gc does to the shared pool trees (pool-gc.ts). */
  readonly poolTrees: PoolTrees;
  /** The reading side: a serial's files, listings, trace, the start-up checks (reads.ts). */
  readonly reads: PublishedReads;
  /** The tag trees beside the serials (tag-tree.ts). */
  readonly tags: TagTrees;
  /** The blob store's filesystem side: hard links, inode identity (fs-links.ts). */
  private readonly files: FsBlobFiles;

  constructor(
    readonly root: string,
    store: BlobStore,
  ) {
    this.poolTrees = new PoolTrees(root);
    this.reads = new PublishedReads(root);
    this.tags = new TagTrees(root, store);
    this.files = fsBlobFiles(store);
  }

  /** Whether `st` (a published file's) is the store blob's own inode: a hard link, its bytes the blob's (fsck). */
  isBlobLink(sha256: string, st: { ino: number; dev: number }): boolean {
    return this.files.isSameFile(sha256, st);
  }

  /** Puts the store blob at `dest`, a new name inside the tree (fsck --repair restoring a published file; a hard link). */
  linkBlob(sha256: string, dest: string): Promise<void> {
    return this.files.link(sha256, dest);
  }

  /** Puts a lost store blob back from a published file whose hash the caller has checked (fsck --repair). */
  adoptBlob(sha256: string, published: string): void {
    this.files.adoptSync(sha256, published);
  }

  /** The text of one signed file (Release, Release.gpg, InRelease) of a published serial's suite. */
  readSigned(archive: string, serial: string, suite: string, name: SignedName): Promise<string> {
    return readSigned(this.serialDir(archive, serial), suite, name);
  }

  /** Replaces the signed files of a published serial's suites, all or none (signed.ts); synchronous, inside the caller's transaction. */
  replaceSignedSync(archive: string, serial: string, suites: readonly SignedFiles[]): void {
    replaceSignedSync(this.serialDir(archive, serial), suites);
  }

  serialDir(archive: string, serial: string): string {
    return join(this.root, archive, serial);
  }

  /** Filesystem only (fsck walks it): the directory of an archive's pool trees. */
  poolsDir(archive: string): string {
    return join(this.root, archive, poolsDirName);
  }

  /** Filesystem only (fsck walks it): one pool tree's directory. */
  poolDir(archive: string, id: string): string {
    return join(this.poolsDir(archive), id);
  }

  /**
   * Builds a serial's tree aside. Pool files live in a pool tree shared by
   * serials (`<archive>/.pools/<id>/`), and the serial's `pool` is a relative
   * symlink to it. A new serial EXTENDS the previous serial's pool tree with
   * the files it adds (a 1% churn links ~1% of the files, in directories that
   * mostly exist already): a pool tree holds every file of every serial that
   * links to it, and gc prunes the files no remaining serial lists. Only when
   * a path would need other bytes than the tree holds (an upstream that
   * replaced a file in place), or there is no previous tree, is a new tree
   * built, named by the hash of its content list. Everything else is
   * hard-linked into the serial.
   */
  async stage(archive: string, serial: string, links: TreeLink[], files: TreeFile[], pool: PoolPlan | null = null): Promise<{ dir: string; createdPool: string | null }> {
    // Every path is checked again here: nothing is ever written outside the staging directory.
    for (const l of links) checkRelativePath(l.path, 'tree path');
    for (const f of files) checkRelativePath(f.path, 'tree path');
    const byPath = (a: TreeLink, b: TreeLink) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    const inPool = links.filter((l) => l.path.startsWith('pool/'));
    if (inPool.length) {
      // Callers without a plan (tests, older code) give the pool files among the links.
      const given = inPool;
      pool = { base: null, all: async () => given };
    }
    const rest = links.filter((l) => !l.path.startsWith('pool/')).sort(byPath);
    const base = join(this.root, archive);
    const dir = join(base, stagingName(serial));
    await fsp.mkdir(dir, { recursive: true });
    let createdPool: string | null = null;
    if (pool) {
      let id = pool.base && (await this.extendPool(archive, pool.base.id, pool.base.added)) ? pool.base.id : null;
      if (!id) {
        const all = [...(await pool.all())].sort(byPath);
        for (const l of all) checkRelativePath(l.path, 'tree path');
        if (all.length) {
          // The tree begun while downloading is named already (beginPool hashed the same list).
          id = pool.pending && !pool.pending.failed ? pool.pending.id : poolId(all);
          if (await this.ensurePool(archive, id, all, pool.pending)) createdPool = id;
        }
      }
      if (id) await fsp.symlink(poolLinkTarget(id), join(dir, 'pool'));
    }
    await this.linkAll(dir, rest, 0);
    const order = (p: string) => {
      const n = signedNames.indexOf(p.split('/').pop() as (typeof signedNames)[number]);
      return n < 0 ? -1 : n;
    };
    for (const f of [...files].sort((a, b) => order(a.path) - order(b.path))) {
      await fsp.mkdir(dirname(join(dir, f.path)), { recursive: true });
      await fsp.writeFile(join(dir, f.path), f.data, { flag: 'wx', mode: 0o644 });
    }
    return { dir, createdPool };
  }

  /**
   * Links `added` into an existing pool tree. False (the caller builds a new
   * tree) when the tree is gone or a path holds other bytes. A file already
   * there as the same store blob (left by an earlier serial) is kept. Files
   * linked before a failure stay: harmless extras that gc prunes.
   */
  private async extendPool(archive: string, id: string, added: TreeLink[]): Promise<boolean> {
    const poolDir = this.poolDir(archive, id);
    if (!/^[0-9a-f]{32}$/.test(id) || !existsSync(poolDir)) return false;
    for (const l of added) checkRelativePath(l.path, 'tree path');
    for (const l of added) {
      const dest = join(poolDir, l.path.slice('pool/'.length));
      let st: Stats | null = null;
      try {
        st = lstatSync(dest);
      } catch {
        st = null;
      }
      if (st) {
        if (st.isFile() && this.files.isSameFile(l.sha256, st)) continue;
        return false;
      }
    }
    try {
      await this.linkAll(poolDir, [...added].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), 'pool/'.length, true);
    } catch (e) {
      // A file where this serial needs a directory (or the reverse): a new tree.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') return false;
      throw e;
    }
    return true;
  }

  /**
   * Starts a new pool tree aside (a first snapshot: no tree to extend), so that pool files
   * can be linked into it as they are downloaded instead of all at the end; stage() links
   * the rest and renames it into place. Removed by stage() or, after a crash, by recover().
   */
  beginPool(archive: string, all: TreeLink[]): PendingPool {
    const sorted = [...all].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const id = poolId(sorted);
    const dir = join(this.poolsDir(archive), poolTempName());
    mkdirSync(dir, { recursive: true });
    const mk = dirMaker(dir);
    const pending: PendingPool = {
      id,
      dir,
      linked: new Set(),
      failed: false,
      link: (l) => {
        if (pending.failed || !l.path.startsWith('pool/') || pending.linked.has(l.path)) return;
        try {
          checkRelativePath(l.path, 'tree path');
          const dest = join(dir, l.path.slice('pool/'.length));
          mk(dirname(dest));
          this.files.linkSync(l.sha256, dest);
          pending.linked.add(l.path);
        } catch {
          pending.failed = true; // stage() builds the tree the ordinary way
        }
      },
    };
    return pending;
  }

  /** The pool tree a published serial links to (`<serial>/pool -> ../.pools/<id>`), or null. */
  poolIdOf(archive: string, serial: string): string | null {
    try {
      return parsePoolLink(readlinkSync(join(this.serialDir(archive, serial), 'pool')));
    } catch {
      return null;
    }
  }

  /**
   * Removes a pool directory a failed run made. Only while holding the
   * archive's snapshot lock: no other run of the archive can be linking to it.
   */
  async discardPool(archive: string, id: string): Promise<void> {
    await fsp.rm(this.poolDir(archive, id), { recursive: true, force: true });
  }

  /**
   * Pool directories no serial or staging tree of the archive links to (left
   * by a run killed between building its pool and publishing). Only while
   * holding the archive's snapshot lock, with no run of the archive in this process.
   */
  async removeOrphanPools(archive: string): Promise<string[]> {
    const base = join(this.root, archive);
    const pools = this.poolsDir(archive);
    if (!existsSync(pools)) return [];
    const used = new Set<string>();
    for (const name of await fsp.readdir(base)) {
      if (!linksPools(name)) continue;
      try {
        used.add(readlinkSync(join(base, name, 'pool')).split('/').pop()!);
      } catch {
        // a serial without pool files
      }
    }
    const removed: string[] = [];
    for (const id of await fsp.readdir(pools)) {
      if (id.startsWith('.') || used.has(id)) continue;
      await fsp.rm(join(pools, id), { recursive: true, force: true });
      removed.push(`${archive}/${poolsDirName}/${id}`);
    }
    return removed;
  }

  /** The shared pool directory with exactly these files, made (aside, then renamed) unless it exists. */
  /** Returns whether this call made the directory. */
  private async ensurePool(archive: string, id: string, pool: TreeLink[], pending?: PendingPool): Promise<boolean> {
    const pools = this.poolsDir(archive);
    const dest = join(pools, id);
    const usable = pending && pending.id === id && !pending.failed ? pending : null;
    if (existsSync(dest)) {
      if (pending) await fsp.rm(pending.dir, { recursive: true, force: true });
      return false;
    }
    if (pending && !usable) await fsp.rm(pending.dir, { recursive: true, force: true });
    const tmp = usable ? usable.dir : join(pools, poolTempName());
    await fsp.mkdir(tmp, { recursive: true });
    try {
      await this.linkAll(tmp, usable ? pool.filter((l) => !usable.linked.has(l.path)) : pool, 'pool/'.length);
      await fsp.rename(tmp, dest);
      return true;
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true });
      // Another process made the same pool meanwhile: theirs is identical by construction.
      if (!existsSync(dest)) throw e;
      return false;
    }
  }

  /**
   * Hard-links sorted entries under `dir` (paths minus `strip` leading chars).
   * Synchronous calls in slices: a link or mkdir costs microseconds, and a
   * round trip through the thread pool for each would cost more than the call.
   */
  private async linkAll(dir: string, sorted: TreeLink[], strip: number, skipExisting = false): Promise<void> {
    const mk = dirMaker(dir);
    for (let i = 0; i < sorted.length; i++) {
      const l = sorted[i]!;
      const dest = join(dir, l.path.slice(strip));
      mk(dirname(dest));
      try {
        this.files.linkSync(l.sha256, dest);
      } catch (e) {
        // Extending a pool tree: the same blob may already be there (checked by the caller).
        if (!skipExisting || (e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      if (i % 4096 === 4095) await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Renames the staging directory into place; refuses to replace an existing serial. First the
   * barrier of the bulk writes (util/atomic-write.ts): the store's new blobs and the staging
   * tree (its files, links and pool tree) reach the disk before the rename can; the archive
   * directory is fsync'd after, so the serial is durable before the database records it.
   */
  async commit(archive: string, serial: string, stagingDir: string): Promise<void> {
    const dest = this.serialDir(archive, serial);
    if (existsSync(dest)) throw new AptfreezeError('CONFLICT', `${archive}/${serial} is already published`);
    this.files.flush([stagingDir]);
    await fsp.rename(stagingDir, dest);
    await syncDir(join(this.root, archive));
  }

  async discard(stagingDir: string): Promise<void> {
    await fsp.rm(stagingDir, { recursive: true, force: true });
  }

  /**
   * Removes a serial's tree: a run that failed after its commit, or gc collecting it. fs.rm keeps
   * several unlinks in flight on the thread pool: on a 60,000-link pool directory 12-14 s against
   * 42-52 s for synchronous unlinks in slices (an unlink costs ~0.8 ms on this disk).
   */
  async removeSerial(archive: string, serial: string): Promise<void> {
    await fsp.rm(this.serialDir(archive, serial), { recursive: true, force: true });
  }

  /** Removes the serial trees `drop` names (gc: rows collected or failed whose tree a crash left). */
  async removeSerials(archive: string, drop: (serial: string) => boolean): Promise<string[]> {
    const base = join(this.root, archive);
    if (!existsSync(base)) return [];
    const removed: string[] = [];
    for (const name of await fsp.readdir(base)) {
      if (archiveEntry(name) === 'serial' && drop(name)) {
        await fsp.rm(join(base, name), { recursive: true, force: true });
        removed.push(`${archive}/${name}`);
      }
    }
    return removed;
  }

  /** Writes a published file outside the serials (a repository's kept .buildinfo), atomically; never replaced. */
  async writeExtra(rel: string, data: Uint8Array): Promise<void> {
    const path = this.reads.localFile(rel);
    await fsp.mkdir(dirname(path), { recursive: true });
    await writeAtomic(path, data);
  }

  /** The serving module's view of this tree (http/tree-source.ts): the archives named, or any published. */
  servingSource(archives: Iterable<string>): FsTreeSource {
    return new FsTreeSource(this.root, archives);
  }

  /** Points `latest` at a serial (symlink written aside, then renamed over) and rewrites the trace file. */
  async setLatest(archive: string, serial: string | null, now: Date): Promise<void> {
    const base = join(this.root, archive);
    await fsp.mkdir(base, { recursive: true });
    const link = join(base, 'latest');
    if (serial === null) {
      await fsp.rm(link, { force: true });
      return;
    }
    const tmp = join(base, latestTempName());
    await fsp.symlink(serial, tmp);
    await fsp.rename(tmp, link);
    await syncDir(base);
    const trace = join(base, 'project', 'trace');
    await fsp.mkdir(trace, { recursive: true });
    // The form of Debian's project/trace files, which time-based snapshot tooling reads.
    const text = `Date: ${now.toUTCString()}\nArchive serial: ${serial}\nCreator: aptfreeze\n`;
    await writeAtomic(join(trace, archive), text);
  }

  latestOf(archive: string): string | null {
    return this.reads.latestOf(archive);
  }

  /** Replaces one file of a published serial atomically (freeze/thaw re-signing). */
  async replaceFile(archive: string, serial: string, relPath: string, data: string | Uint8Array): Promise<void> {
    checkRelativePath(relPath, 'tree path');
    await writeAtomic(join(this.serialDir(archive, serial), relPath), data);
  }

  /** Removes every staging leftover of a crashed run, and `keep` decides which serial dirs stay. */
  async recover(skip: (archive: string) => boolean, keep: (archive: string, serial: string) => boolean): Promise<string[]> {
    const removed: string[] = [];
    if (!existsSync(this.root)) return removed;
    for (const archive of await fsp.readdir(this.root)) {
      const base = join(this.root, archive);
      if (archive === 'keys' || skip(archive) || !(await fsp.stat(base)).isDirectory()) continue;
      for (const name of await fsp.readdir(base)) {
        const kind = archiveEntry(name);
        const isStaging = kind === 'leftover';
        const isSerial = kind === 'serial';
        if (kind === 'pools') {
          for (const p of await fsp.readdir(join(base, name))) if (poolEntry(p) === 'building') await fsp.rm(join(base, name, p), { recursive: true, force: true });
          continue;
        }
        if (isStaging || (isSerial && !keep(archive, name))) {
          await fsp.rm(join(base, name), { recursive: true, force: true });
          removed.push(`${archive}/${name}`);
        }
      }
    }
    return removed;
  }
}

/** mkdir -p under an existing `root`, remembering what it made or found (one mkdir per directory). */
function dirMaker(root: string): (dir: string) => void {
  const made = new Set<string>([root]);
  const mk = (d: string): void => {
    if (made.has(d)) return;
    mk(dirname(d));
    try {
      mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    made.add(d);
  };
  return mk;
}

/** A pool directory's name: the sha256 of its sorted `sha256 size path` lines. */
export function poolId(sortedPool: TreeLink[]): string {
  const h = createHash('sha256');
  for (const l of sortedPool) h.update(`${l.sha256} ${l.size} ${l.path}\n`);
  return h.digest('hex').slice(0, 32);
}

/** A file of the tree replaced on its own (the trace file, a re-signed Release): the atomic-write policy. */
export async function writeAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await writeFileAtomic(path, data, { mode });
}
