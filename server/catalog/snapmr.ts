import type { Db } from './open.ts';

/** A file as snapshot.debian.org's `fileinfo` and `/mr/file/<hash>/info` list it. */
export interface MrFileRow {
  sha1: string;
  sha256: string;
  name: string;
  size: number;
  archive: string;
  path: string;
  /** The publication time (ISO) of the first serial of the archive that served the file. */
  first_published: string | null;
}

export interface MrBinaryRow {
  name: string;
  version: string;
  source: string;
  source_version: string;
  architecture: string;
  sha256: string;
}

/**
 * The SQL of the snapshot.debian.org-compatible reads (migrations/006_sha1.sql), kept beside them
 * rather than in catalog/repo.ts: these tables are derived data, rebuilt from the published serials.
 */
export class MrRepo {
  constructor(readonly db: Db) {}

  // --- SHA-1 of blobs

  putSha1(pairs: ReadonlyArray<readonly [string, string]>): void {
    const st = this.db.prepare('INSERT OR IGNORE INTO blob_sha1 (sha256, sha1) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const [sha256, sha1] of pairs) st.run(sha256, sha1);
    }).immediate();
  }

  /** The files of mr_files with no SHA-1 yet (to hash from the store). */
  filesWithoutSha1(): string[] {
    return this.db.prepare('SELECT DISTINCT f.sha256 FROM mr_files f LEFT JOIN blob_sha1 b USING (sha256) WHERE b.sha1 IS NULL').pluck().all() as string[];
  }

  // --- the indexer's bookkeeping

  /** Published (live, frozen) serials of an archive not indexed yet, oldest first. */
  serialsToIndex(archive: string): Array<{ serial: string; manifest_sha256: string | null }> {
    return this.db
      .prepare(
        "SELECT s.serial, s.manifest_sha256 FROM serials s LEFT JOIN mr_serials m USING (archive, serial) WHERE s.archive = ? AND s.state IN ('live', 'frozen') AND m.serial IS NULL ORDER BY s.serial",
      )
      .all(archive) as Array<{ serial: string; manifest_sha256: string | null }>;
  }

  indexSeen(archive: string, sha256: string): boolean {
    return this.db.prepare('SELECT 1 FROM mr_indices WHERE archive = ? AND sha256 = ?').get(archive, sha256) !== undefined;
  }

  /** Records what one serial's new indices list, and the serial as indexed, in one transaction. */
  recordSerial(
    archive: string,
    serial: string,
    got: { indices: string[]; files: Array<{ sha256: string; path: string; name: string; size: number }>; sources: Array<{ source: string; version: string; sha256: string }>; binaries: MrBinaryRow[] },
  ): void {
    const file = this.db.prepare('INSERT OR IGNORE INTO mr_files (sha256, archive, path, name, size, first_serial) VALUES (?, ?, ?, ?, ?, ?)');
    const src = this.db.prepare('INSERT OR IGNORE INTO mr_sources (source, version, sha256) VALUES (?, ?, ?)');
    const bin = this.db.prepare('INSERT OR IGNORE INTO mr_binaries (name, version, source, source_version, architecture, sha256) VALUES (?, ?, ?, ?, ?, ?)');
    const idx = this.db.prepare('INSERT OR IGNORE INTO mr_indices (archive, sha256) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const f of got.files) file.run(f.sha256, archive, f.path, f.name, f.size, serial);
      for (const s of got.sources) src.run(s.source, s.version, s.sha256);
      for (const b of got.binaries) bin.run(b.name, b.version, b.source, b.source_version, b.architecture, b.sha256);
      for (const i of got.indices) idx.run(archive, i);
      this.db.prepare('INSERT OR IGNORE INTO mr_serials (archive, serial) VALUES (?, ?)').run(archive, serial);
    }).immediate();
  }

  // --- queries

  sourceNames(): string[] {
    return this.db.prepare('SELECT source FROM mr_sources UNION SELECT source FROM mr_binaries ORDER BY 1').pluck().all() as string[];
  }

  sourceVersions(source: string): string[] {
    return this.db.prepare('SELECT version FROM mr_sources WHERE source = ? UNION SELECT source_version FROM mr_binaries WHERE source = ?').pluck().all(source, source) as string[];
  }

  /** The SHA-1 of the files of a source version (those whose SHA-1 is known). */
  sourceFiles(source: string, version: string): string[] {
    return this.db
      .prepare('SELECT DISTINCT b.sha1 FROM mr_sources s JOIN blob_sha1 b USING (sha256) WHERE s.source = ? AND s.version = ? ORDER BY b.sha1')
      .pluck()
      .all(source, version) as string[];
  }

  binariesOfSource(source: string, version: string): Array<MrBinaryRow & { sha1: string | null }> {
    return this.db
      .prepare('SELECT m.*, b.sha1 FROM mr_binaries m LEFT JOIN blob_sha1 b USING (sha256) WHERE m.source = ? AND m.source_version = ? ORDER BY m.name, m.version, m.architecture')
      .all(source, version) as Array<MrBinaryRow & { sha1: string | null }>;
  }

  binaryVersions(name: string): Array<MrBinaryRow & { sha1: string | null }> {
    return this.db
      .prepare('SELECT m.*, b.sha1 FROM mr_binaries m LEFT JOIN blob_sha1 b USING (sha256) WHERE m.name = ? ORDER BY m.version, m.architecture')
      .all(name) as Array<MrBinaryRow & { sha1: string | null }>;
  }

  /** Every place a file (by SHA-1) was served, with its first serial's publication time. */
  fileInfo(sha1: string): MrFileRow[] {
    return this.db
      .prepare(
        'SELECT b.sha1, f.sha256, f.name, f.size, f.archive, f.path, s.published_at AS first_published FROM blob_sha1 b JOIN mr_files f USING (sha256) LEFT JOIN serials s ON s.archive = f.archive AND s.serial = f.first_serial WHERE b.sha1 = ? ORDER BY f.archive, f.path, f.name',
      )
      .all(sha1) as MrFileRow[];
  }
}
