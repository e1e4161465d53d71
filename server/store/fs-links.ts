import { linkSync, mkdirSync, rmSync, statSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import type { BlobStore } from './port.ts';

const hexRe = /^[0-9a-f]{64}$/;

/** `<store>/sha256/ab/<hash>`: the one rule naming a blob's file (store.ts and this module use it). */
export function blobFile(root: string, sha256: string): string {
  if (!hexRe.test(sha256)) throw new AptfreezeError('BAD_REQUEST', `not a sha256: ${sha256}`);
  return join(root, sha256.slice(0, 2), sha256);
}

/**
 * What only a filesystem blob store can do, for the filesystem published tree (server/publish/):
 * a hard link is how a tree holds a blob without a copy, an inode comparison tells a published
 * file that IS its blob, a whole published copy can be adopted back as a lost blob. No synchronous
 * read is offered: every reader (refs, manifests, gc's and fsck's locked steps) goes through the
 * asynchronous port; the synchronous calls here are links and stats in staging loops. Hard links
 * are an optimisation of the filesystem backends, never part of the BlobStore port: only
 * server/store/ and server/publish/ import this module (test/ownership.test.ts), and no path it
 * knows is handed further.
 */
export class FsBlobFiles {
  constructor(
    /** `<store>/sha256` */
    readonly root: string,
    /** `<store>/tmp`: partial downloads */
    readonly tmp: string,
    private readonly flushStore: (alsoFlush: string[]) => void,
  ) {}

  /** The blob's file (to link from, or for a test that damages it on purpose). */
  fileOf(sha256: string): string {
    return blobFile(this.root, sha256);
  }

  /** Hard-links a stored blob to `dest` (a file of a tree being staged). */
  async link(sha256: string, dest: string): Promise<void> {
    await fsp.link(this.fileOf(sha256), dest);
  }

  /**
   * The same, synchronously: a staging loop links tens of thousands of files, and a link costs
   * less than the thread-pool round trip an asynchronous one would take.
   */
  linkSync(sha256: string, dest: string): void {
    linkSync(this.fileOf(sha256), dest);
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

  /**
   * Makes every blob written so far durable (one syncfs: util/atomic-write.ts), together with the
   * trees named in `alsoFlush` (a staging tree written in bulk), before a commit refers to them.
   */
  flush(alsoFlush: string[] = []): void {
    this.flushStore(alsoFlush);
  }
}

const registry = new WeakMap<object, FsBlobFiles>();

/** Called by FsBlobStore's constructor: its files, for fsBlobFiles below. */
export function registerFsBlobFiles(store: BlobStore, files: FsBlobFiles): void {
  registry.set(store, files);
}

/**
 * The filesystem side of a blob store, for the filesystem published tree. A store without one
 * (an object store) cannot back a hard-linked tree: INTERNAL, a wiring mistake (services.ts
 * refuses such a configuration before it gets here).
 */
export function fsBlobFiles(store: BlobStore): FsBlobFiles {
  const files = registry.get(store);
  if (!files) throw new AptfreezeError('INTERNAL', 'the filesystem published tree needs the filesystem blob store');
  return files;
}
