// The reading side of the published tree (the PublishedTree port, port.ts) on the filesystem:
// a serial's files, a directory listing, the trace file, the signed files the start-up checks
// compare, and the one test a lean command runs to decide whether a full open (with recovery)
// is needed. Synchronous where a start-up check or a lean reader calls it; no writes here.
// Kept free of the HTTP server's and the signing code's modules: `serials` loads it.
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { checkRelativePath } from '../debian/paths.ts';
import { archiveEntry, parsePoolLink, poolEntry, poolsDirName } from './layout.ts';
import type { SignedName } from './signed.ts';

/** What a lean reader knows from the catalog, to tell whether the tree needs a recovery. */
export interface RecoveryFacts {
  /** A serial's state in the catalog, or undefined when it has no row. */
  serialState(serial: string): string | undefined;
  /** Whether the catalog records this tag for the archive. */
  tagKnown(name: string): boolean;
  /** The catalog's latest serial. */
  latest: string | null;
}

export class PublishedReads {
  constructor(private readonly root: string) {}

  private serialDir(archive: string, serial: string): string {
    return join(this.root, archive, serial);
  }

  /** Whether an archive has a published tree (a removed configuration keeps serving history). */
  isArchive(name: string): boolean {
    return /^[a-z0-9][a-z0-9.+-]*$/.test(name) && existsSync(join(this.root, name));
  }

  /** The text of one file of a published serial (a relative path, checked). */
  readText(archive: string, serial: string, rel: string): Promise<string> {
    return readFile(join(this.serialDir(archive, serial), checkRelativePath(rel, 'tree path')), 'utf8');
  }

  /** Whether a serial has the suite's directory (`dists/<suite>`). */
  hasSuite(archive: string, serial: string, suite: string): boolean {
    return existsSync(join(this.serialDir(archive, serial), checkRelativePath(`dists/${suite}`, 'suite path')));
  }

  /** One signed file of a serial's suite, or null when it is missing (start-up checks: synchronous). */
  signedSync(archive: string, serial: string, suite: string, name: SignedName): Buffer | null {
    try {
      return readFileSync(join(this.serialDir(archive, serial), checkRelativePath(`dists/${suite}/${name}`, 'Release path')));
    } catch {
      return null;
    }
  }

  /** The serial the archive's trace file names (`Archive serial:`), or null. */
  traceOf(archive: string): string | null {
    try {
      return /^Archive serial: (\S+)$/m.exec(readFileSync(join(this.root, archive, 'project', 'trace', archive), 'utf8'))?.[1] ?? null;
    } catch {
      return null;
    }
  }

  /** The `latest` link's serial, or null. */
  latestOf(archive: string): string | null {
    try {
      return readlinkSync(join(this.root, archive, 'latest'));
    } catch {
      return null;
    }
  }

  /**
   * The entries of a directory inside an archive's tree (`segs` below the archive), dot names
   * left out, sorted; null when it is not a directory there or leads outside the archive once
   * symlinks are followed.
   */
  listDirectory(archive: string, segs: string[]): Array<{ name: string; isDir: boolean }> | null {
    const abs = this.inside(archive, segs);
    if (abs === null || !statSync(abs).isDirectory()) return null;
    return readdirSync(abs, { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.'))
      .map((e) => ({ name: e.name, isDir: e.isDirectory() || (e.isSymbolicLink() && statSync(join(abs, e.name)).isDirectory()) }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Whether `segs` names a directory inside the archive's tree. */
  isDirectory(archive: string, segs: string[]): boolean {
    const abs = this.inside(archive, segs);
    return abs !== null && statSync(abs).isDirectory();
  }

  /** The real path inside the archive's directory, or null (missing, or leading outside it). */
  private inside(archive: string, segs: string[]): string | null {
    try {
      const archiveReal = realpathSync(join(this.root, archive));
      const abs = realpathSync(join(archiveReal, ...segs));
      return abs === archiveReal || abs.startsWith(archiveReal + sep) ? abs : null;
    } catch {
      return null;
    }
  }

  /**
   * The local file of a published path outside the serials (the service key's public half, a
   * repository's kept .buildinfo files), for a file server that sends it (relative, checked).
   */
  localFile(rel: string): string {
    return join(this.root, checkRelativePath(rel, 'published path'));
  }

  /**
   * Whether the start-up recovery of services.ts would act on an archive's tree: leftovers of a
   * staging, a serial directory without a live or frozen row, a pool tree being built or used by
   * no serial, a tag tree being built or not recorded, `latest` or the trace behind the catalog.
   * A few stats and readdirs: what a lean reading command runs before trusting the tree.
   */
  needsRecovery(archive: string, facts: RecoveryFacts): boolean {
    const base = join(this.root, archive);
    const names = existsSync(base) ? readdirSync(base) : [];
    const usedPools = new Set<string>();
    for (const name of names) {
      const kind = archiveEntry(name);
      if (kind === 'leftover') return true;
      if (kind !== 'serial') continue;
      const state = facts.serialState(name);
      if (state !== 'live' && state !== 'frozen') return true;
      try {
        usedPools.add(parsePoolLink(readlinkSync(join(base, name, 'pool')), false) ?? '');
      } catch {
        // a serial without pool files
      }
    }
    if (names.includes(poolsDirName)) {
      for (const id of readdirSync(join(base, poolsDirName))) {
        const e = poolEntry(id);
        if (e === 'building' || (e === 'pool' && !usedPools.has(id))) return true;
      }
    }
    const tagDir = join(base, 'tags');
    if (existsSync(tagDir)) {
      for (const entry of readdirSync(tagDir)) if (entry.startsWith('.') || !facts.tagKnown(entry)) return true;
    }
    if (this.latestOf(archive) !== facts.latest) return true;
    return facts.latest !== null && this.traceOf(archive) !== facts.latest;
  }
}
