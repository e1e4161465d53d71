/**
 * The SQL of custom repositories (migrations/008_repositories.sql): accepted
 * uploads, the immutable package catalog, what each suite holds, overlay
 * suites and upload sessions. Synchronous (better-sqlite3).
 */
import type { Db } from './open.ts';
import { AptfreezeError } from '../errors.ts';

export interface PoolFile {
  path: string;
  sha256: string;
  size: number;
}

export interface CatalogPackage {
  kind: 'binary' | 'source';
  name: string;
  version: string;
  architecture: string;
  component: string;
  sha256: string;
  size: number;
  filename: string;
  stanza: string;
  files: PoolFile[];
}

export interface PackageRow extends Omit<CatalogPackage, 'files'> {
  id: number;
  repository: string;
  files: string;
  upload_id: number;
}

export interface UploadRow {
  id: number;
  repository: string;
  suite: string;
  source: string;
  version: string;
  signer: string;
  signature_sha256: string;
  signed_at: string;
  changes_name: string;
  changes_sha256: string;
  buildinfo_name: string | null;
  buildinfo_sha256: string | null;
  build_env: string | null;
  tainted_by: string | null;
  actor: string;
  accepted_at: string;
  serial: string | null;
}

export type NewUpload = Omit<UploadRow, 'id' | 'serial'>;

export interface SessionRow {
  id: string;
  repository: string;
  actor: string;
  name: string;
  created_at: string;
  updated_at: string;
  bytes: number;
}

export interface OverlayRow {
  repository: string;
  suite: string;
  base: string;
  created_at: string;
  created_by: string;
}

export class Catalog {
  constructor(readonly db: Db) {}

  // --- packages

  findPackage(repository: string, kind: 'binary' | 'source', name: string, version: string, architecture: string): PackageRow | undefined {
    return this.db
      .prepare('SELECT * FROM repo_packages WHERE repository = ? AND kind = ? AND name = ? AND version = ? AND architecture = ?')
      .get(repository, kind, name, version, architecture) as PackageRow | undefined;
  }

  poolFile(repository: string, path: string): PoolFile | undefined {
    return this.db.prepare('SELECT path, sha256, size FROM repo_pool WHERE repository = ? AND path = ?').get(repository, path) as PoolFile | undefined;
  }

  signatureSeen(sha256: string): UploadRow | undefined {
    return this.db.prepare('SELECT * FROM uploads WHERE signature_sha256 = ?').get(sha256) as UploadRow | undefined;
  }

  /**
   * Records an accepted upload in one transaction: each package is new or the
   * same bytes as before (other bytes: CONFLICT), each pool path likewise, and
   * the suite holds them all. Returns the upload id and whether the suite changed.
   */
  accept(upload: NewUpload, packages: CatalogPackage[]): { id: number; changed: boolean } {
    return this.db
      .transaction(() => {
        const ids: number[] = [];
        const newPackages: CatalogPackage[] = [];
        for (const p of packages) {
          const seen = this.findPackage(upload.repository, p.kind, p.name, p.version, p.architecture);
          if (seen && seen.sha256 !== p.sha256) throw conflict(`${p.name} ${p.version} ${p.architecture}`);
          if (seen) ids.push(seen.id);
          else newPackages.push(p);
          for (const f of p.files) {
            const have = this.poolFile(upload.repository, f.path);
            if (have && (have.sha256 !== f.sha256 || have.size !== f.size)) throw conflict(f.path);
          }
        }
        const held = new Set(this.db.prepare('SELECT package_id FROM repo_suite_packages WHERE repository = ? AND suite = ?').pluck().all(upload.repository, upload.suite) as number[]);
        const changed = newPackages.length > 0 || ids.some((id) => !held.has(id));
        if (!changed) return { id: 0, changed: false };
        // A signature seen before may only repeat what is there (a no-op above); anything else is a replay.
        if (this.signatureSeen(upload.signature_sha256)) throw new AptfreezeError('UPLOAD_REPLAY', 'this .changes signature was accepted before: sign the upload again');
        const id = Number(
          this.db
            .prepare(
              `INSERT INTO uploads (repository, suite, source, version, signer, signature_sha256, signed_at, changes_name, changes_sha256, buildinfo_name, buildinfo_sha256, build_env, tainted_by, actor, accepted_at)
               VALUES (@repository, @suite, @source, @version, @signer, @signature_sha256, @signed_at, @changes_name, @changes_sha256, @buildinfo_name, @buildinfo_sha256, @build_env, @tainted_by, @actor, @accepted_at)`,
            )
            .run(upload).lastInsertRowid,
        );
        const insPkg = this.db.prepare(
          'INSERT INTO repo_packages (repository, kind, name, version, architecture, component, sha256, size, filename, stanza, files, upload_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        );
        const insPool = this.db.prepare('INSERT OR IGNORE INTO repo_pool (repository, path, sha256, size) VALUES (?, ?, ?, ?)');
        for (const p of newPackages) {
          ids.push(Number(insPkg.run(upload.repository, p.kind, p.name, p.version, p.architecture, p.component, p.sha256, p.size, p.filename, p.stanza, JSON.stringify(p.files), id).lastInsertRowid));
          for (const f of p.files) insPool.run(upload.repository, f.path, f.sha256, f.size);
        }
        const member = this.db.prepare('INSERT OR IGNORE INTO repo_suite_packages (repository, suite, package_id) VALUES (?, ?, ?)');
        for (const pid of ids) member.run(upload.repository, upload.suite, pid);
        return { id, changed: true };
      })
      .immediate();
  }

  /** Every package a suite holds, by name then version order of insertion. */
  suitePackages(repository: string, suite: string): PackageRow[] {
    return this.db
      .prepare('SELECT p.* FROM repo_packages p JOIN repo_suite_packages s ON s.package_id = p.id WHERE s.repository = ? AND s.suite = ? ORDER BY p.kind, p.name, p.architecture, p.id')
      .all(repository, suite) as PackageRow[];
  }

  addToSuite(repository: string, suite: string, ids: number[]): void {
    const st = this.db.prepare('INSERT OR IGNORE INTO repo_suite_packages (repository, suite, package_id) VALUES (?, ?, ?)');
    for (const id of ids) st.run(repository, suite, id);
  }

  removeFromSuite(repository: string, suite: string, ids: number[]): void {
    const st = this.db.prepare('DELETE FROM repo_suite_packages WHERE repository = ? AND suite = ? AND package_id = ?');
    for (const id of ids) st.run(repository, suite, id);
  }

  clearSuite(repository: string, suite: string): number {
    return this.db.prepare('DELETE FROM repo_suite_packages WHERE repository = ? AND suite = ?').run(repository, suite).changes;
  }

  // --- uploads

  upload(id: number): UploadRow | undefined {
    return this.db.prepare('SELECT * FROM uploads WHERE id = ?').get(id) as UploadRow | undefined;
  }

  uploadsOf(repository: string): UploadRow[] {
    return this.db.prepare('SELECT * FROM uploads WHERE repository = ? ORDER BY id').all(repository) as UploadRow[];
  }

  /** Marks the uploads up to `upTo` not yet published as published by this serial. */
  setSerial(repository: string, serial: string, upTo: number): number {
    return this.db.prepare('UPDATE uploads SET serial = ? WHERE repository = ? AND serial IS NULL AND id <= ?').run(serial, repository, upTo).changes;
  }

  lastUploadId(repository: string): number {
    return (this.db.prepare('SELECT MAX(id) FROM uploads WHERE repository = ?').pluck().get(repository) as number | null) ?? 0;
  }

  // --- overlays

  overlays(repository: string): OverlayRow[] {
    return this.db.prepare('SELECT * FROM repo_suites WHERE repository = ? ORDER BY suite').all(repository) as OverlayRow[];
  }

  createOverlay(r: OverlayRow): void {
    this.db.prepare('INSERT INTO repo_suites (repository, suite, base, created_at, created_by) VALUES (?, ?, ?, ?, ?)').run(r.repository, r.suite, r.base, r.created_at, r.created_by);
  }

  // --- sessions

  session(repository: string, actor: string, name: string): SessionRow | undefined {
    return this.db.prepare('SELECT * FROM upload_sessions WHERE repository = ? AND actor = ? AND name = ?').get(repository, actor, name) as SessionRow | undefined;
  }

  sessionById(id: string): SessionRow | undefined {
    return this.db.prepare('SELECT * FROM upload_sessions WHERE id = ?').get(id) as SessionRow | undefined;
  }

  openSession(r: Omit<SessionRow, 'bytes'>): SessionRow {
    this.db.prepare('INSERT OR IGNORE INTO upload_sessions (id, repository, actor, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)').run(r.id, r.repository, r.actor, r.name, r.created_at, r.updated_at);
    return this.session(r.repository, r.actor, r.name)!;
  }

  touchSession(id: string, bytes: number, now: Date): void {
    this.db.prepare('UPDATE upload_sessions SET bytes = ?, updated_at = ? WHERE id = ?').run(bytes, now.toISOString(), id);
  }

  deleteSession(id: string): void {
    this.db.prepare('DELETE FROM upload_sessions WHERE id = ?').run(id);
  }

  sessionsIdleSince(repository: string, before: Date): SessionRow[] {
    return this.db.prepare('SELECT * FROM upload_sessions WHERE repository = ? AND updated_at < ?').all(repository, before.toISOString()) as SessionRow[];
  }

  sessions(repository: string): SessionRow[] {
    return this.db.prepare('SELECT * FROM upload_sessions WHERE repository = ? ORDER BY created_at').all(repository) as SessionRow[];
  }
}

function conflict(what: string): AptfreezeError {
  return new AptfreezeError('CONFLICT', `${what} is in the repository already with other bytes: a version, once uploaded, never changes (upload a new version)`);
}
