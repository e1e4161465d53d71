import { openSync, writeSync, fsyncSync, fchmodSync, closeSync, renameSync, linkSync, rmSync, promises as fsp } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tempFileFor } from '../publish/layout.ts';
import { dirname } from 'node:path';

/**
 * The one way the service makes a file appear under its final name, and its fsync policy.
 *
 * Policy (what survives a power cut, not only a crash of the process):
 * - A file written on its own (a re-signed Release, the trace file, a pin, a key file, a large
 *   store blob): written to `<name>.tmp-<random>` in the same directory, fsync'd, closed, renamed
 *   over the name (or linked, where an existing file must never be replaced), then the directory
 *   fsync'd. After a power cut the name holds the old file or the whole new one, and once the
 *   call returns the new one stays.
 * - Files written in bulk (a snapshot's small store blobs, the hard links and files of a staging
 *   tree): written and renamed without an fsync each, and made durable together by one
 *   `syncFileSystem` before anything that survives a crash refers to them (the staging tree's
 *   rename into place, then the database). Why: an fsync is one journal commit, 2.2-3.4 ms here
 *   per small file (a 60,000-file first snapshot would spend 130-200 s in them), while one
 *   syncfs flushed 5,000 such files in 150 ms. The store marks a batch it has not yet flushed
 *   (see store.ts), so start-up recovery checks the blobs a power cut may have left empty.
 *
 * Temp names keep the `.tmp-` infix that crash recovery and fsck already remove.
 */

export interface AtomicWriteOptions {
  mode?: number;
  /** Never replace an existing file: EEXIST instead (a published file is written once). */
  noReplace?: boolean;
  /**
   * Leave the directory fsync to the caller, who writes several files of one directory and
   * fsyncs it once after the last (a journaling filesystem commits the renames in their order,
   * so a power cut keeps a prefix of them: the states an interrupted run leaves anyway).
   */
  deferDirSync?: boolean;
}

export function tempNameFor(path: string): string {
  return tempFileFor(path);
}

/** fsync of a directory: its entries (a rename, link, unlink made in it) survive a power cut. */
export function syncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function syncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** fsync of a file written earlier (a temp file about to be renamed). */
export function syncFileSync(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function syncFile(path: string): Promise<void> {
  const h = await fsp.open(path, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Flushes everything written on the filesystems that hold `paths` (syncfs(2), through
 * coreutils' `sync --file-system`: Node has no binding for it; one process for all of them).
 * The bulk writes' barrier.
 */
export function syncFileSystem(...paths: string[]): void {
  execFileSync('sync', ['--file-system', ...paths], { stdio: 'ignore' });
}

/** Writes `data` to `path` by the policy above (synchronously: for callers inside a database transaction). */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const tmp = tempNameFor(path);
  try {
    const fd = openSync(tmp, 'wx', opts.mode ?? 0o644);
    try {
      // The umask may have removed bits asked for (0644).
      if (opts.mode !== undefined) fchmodSync(fd, opts.mode);
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.noReplace) {
      linkSync(tmp, path);
      rmSync(tmp, { force: true });
    } else renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (!opts.deferDirSync) syncDirSync(dirname(path));
}

/** Writes `data` to `path` by the policy above. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempNameFor(path);
  try {
    const h = await fsp.open(tmp, 'wx', opts.mode ?? 0o644);
    try {
      // The umask may have removed bits asked for (0644).
      if (opts.mode !== undefined) await h.chmod(opts.mode);
      await h.writeFile(data);
      await h.sync();
    } finally {
      await h.close();
    }
    if (opts.noReplace) {
      await fsp.link(tmp, path);
      await fsp.rm(tmp, { force: true });
    } else await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  if (!opts.deferDirSync) await syncDir(dirname(path));
}

/**
 * Renames a temp file written elsewhere (a store blob's download) to its final name.
 * `durable`: fsync the file first and the directory after (a large blob: one fsync is small
 * beside its write); otherwise the caller's batch is flushed by syncFileSystem later.
 */
export function commitTempSync(tmp: string, dest: string, durable: boolean): void {
  if (durable) syncFileSync(tmp);
  renameSync(tmp, dest);
  if (durable) syncDirSync(dirname(dest));
}

export async function commitTemp(tmp: string, dest: string, durable: boolean): Promise<void> {
  if (durable) await syncFile(tmp);
  await fsp.rename(tmp, dest);
  if (durable) await syncDir(dirname(dest));
}
