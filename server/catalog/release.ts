import type { Db } from './open.ts';
import type { SerialState } from './repo.ts';
import type { ReleaseFields } from '../release/state.ts';

export interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
}

export interface AuditFilter {
  /** Newest first; at most this many (default 100, at most 10,000). */
  limit?: number;
  /** Only entries with an id below this (paging backwards). */
  beforeId?: number;
  actor?: string;
  action?: string;
  /** Exact target, or a prefix ending in '/' (`debian/`). */
  target?: string;
  /** ISO time: only entries at or after it. */
  since?: string;
}

/**
 * The SQL of release management (freeze, thaw, gc, audit reads). Part of the catalog (server/catalog/),
 * split from catalog/repo.ts by domain.
 * Every method is synchronous (better-sqlite3), so a caller can put several
 * in one transaction with `db.transaction(...)`.
 */
export class ReleaseRepo {
  constructor(readonly db: Db) {}

  /** Writes a freeze/thaw result if the serial is still in one of `from`; returns whether it did. */
  applyTransition(archive: string, serial: string, from: readonly SerialState[], after: ReleaseFields): boolean {
    const r = this.db
      .prepare(
        `UPDATE serials SET state = ?, valid_until = ?, frozen_until = ?, freeze_reason = ?, frozen_by = ?, frozen_at = ?
         WHERE archive = ? AND serial = ? AND state IN (${from.map(() => '?').join(', ')})`,
      )
      .run(after.state, after.valid_until, after.frozen_until, after.freeze_reason, after.frozen_by, after.frozen_at, archive, serial, ...from);
    return r.changes === 1;
  }

  /** live and past valid_until -> collected; false when it no longer is (frozen, thawed, gone meanwhile). */
  markCollected(archive: string, serial: string, now: Date): boolean {
    const r = this.db
      .prepare("UPDATE serials SET state = 'collected', collected_at = ? WHERE archive = ? AND serial = ? AND state = 'live' AND valid_until IS NOT NULL AND valid_until < ?")
      .run(now.toISOString(), archive, serial, now.toISOString());
    return r.changes === 1;
  }

  /**
   * The manifests of every serial whose files must stay (published or being frozen/thawed),
   * and of every tag: tags are never collected, their blobs stay until the tag is deleted.
   */
  remainingManifests(): string[] {
    return this.db
      .prepare("SELECT manifest_sha256 FROM serials WHERE state IN ('live', 'frozen') AND manifest_sha256 IS NOT NULL UNION SELECT manifest_sha256 FROM tag_archives")
      .pluck()
      .all() as string[];
  }

  /** Serials that are published but have no manifest (`archive/serial`): gc cannot know their blobs. */
  unmanifested(): string[] {
    return this.db.prepare("SELECT archive || '/' || serial FROM serials WHERE state IN ('live', 'frozen') AND manifest_sha256 IS NULL").pluck().all() as string[];
  }

  /** The names of the triggers on the audit log (fsck checks the append-only ones are there). */
  auditLogTriggers(): string[] {
    return this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'").pluck().all() as string[];
  }

  /** The manifests of every tag's trees. */
  tagManifests(): string[] {
    return this.db.prepare('SELECT DISTINCT manifest_sha256 FROM tag_archives').pluck().all() as string[];
  }

  /**
   * Derived blobs named by the database rather than by a manifest: the parsed
   * pool references of an index (index_refs, a cache keyed by the index's hash).
   */
  derivedBlobs(): Array<{ of: string; blob: string }> {
    return this.db.prepare('SELECT index_sha256 AS of, refs_sha256 AS blob FROM index_refs').all() as Array<{ of: string; blob: string }>;
  }

  /** Serials of an archive in a state, for leftover-tree cleanup. */
  serialStates(archive: string): Map<string, SerialState> {
    const rows = this.db.prepare('SELECT serial, state FROM serials WHERE archive = ?').all(archive) as Array<{ serial: string; state: SerialState }>;
    return new Map(rows.map((r) => [r.serial, r.state]));
  }

  tokenByHash(hash: string): { id: number; created_at: string } | undefined {
    return this.db.prepare('SELECT id, created_at FROM tokens WHERE hash = ?').get(hash) as { id: number; created_at: string } | undefined;
  }

  listAudit(f: AuditFilter = {}): AuditRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.beforeId !== undefined) (where.push('id < ?'), args.push(f.beforeId));
    if (f.actor) (where.push('actor = ?'), args.push(f.actor));
    if (f.action) (where.push('action = ?'), args.push(f.action));
    if (f.target) {
      if (f.target.endsWith('/')) (where.push('substr(target, 1, ?) = ?'), args.push(f.target.length, f.target));
      else (where.push('target = ?'), args.push(f.target));
    }
    if (f.since) (where.push('at >= ?'), args.push(f.since));
    const limit = Math.min(Math.max(1, f.limit ?? 100), 10_000);
    const rows = this.db
      .prepare(`SELECT id, at, actor, action, target, before, after FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`)
      .all(...args, limit) as Array<{ id: number; at: string; actor: string; action: string; target: string; before: string | null; after: string | null }>;
    return rows.map((r) => ({ ...r, before: r.before === null ? null : (JSON.parse(r.before) as unknown), after: r.after === null ? null : (JSON.parse(r.after) as unknown) }));
  }
}
