import type { Db } from './open.ts';

/** The SQL behind the database-derived metrics (read only). */
export class MetricsQueries {
  constructor(readonly db: Db) {}

  /** The newest successful snapshot of an archive: its publication time and run statistics. */
  lastRun(archive: string): { published_at: string; stats: string | null } | undefined {
    return this.db
      .prepare("SELECT published_at, stats FROM serials WHERE archive = ? AND published_at IS NOT NULL AND state IN ('live', 'frozen', 'collected') ORDER BY serial DESC LIMIT 1")
      .get(archive) as { published_at: string; stats: string | null } | undefined;
  }

  /** Serials by archive and state, `expired` being a live serial past its Valid-Until at `now`. */
  serialStates(now: Date): Array<{ archive: string; st: string; n: number }> {
    return this.db
      .prepare("SELECT archive, CASE WHEN state = 'live' AND valid_until < ? THEN 'expired' ELSE state END AS st, COUNT(*) AS n FROM serials WHERE state != 'pending' GROUP BY archive, st")
      .all(now.toISOString()) as Array<{ archive: string; st: string; n: number }>;
  }

  freezes(): Array<{ archive: string; serial: string; frozen_until: string }> {
    return this.db.prepare("SELECT archive, serial, frozen_until FROM serials WHERE state = 'frozen' AND frozen_until IS NOT NULL").all() as Array<{ archive: string; serial: string; frozen_until: string }>;
  }

  /**
   * Operations by kind and outcome: from the operations table where this database has one (its
   * state is the outcome), else snapshots from the serials and freeze, thaw and gc from the audit log.
   */
  operations(): Array<{ kind: string; outcome: string; n: number }> {
    const hasOps = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'operations'").get() !== undefined;
    if (hasOps) {
      try {
        return this.db.prepare('SELECT kind, state AS outcome, COUNT(*) AS n FROM operations GROUP BY kind, state').all() as Array<{ kind: string; outcome: string; n: number }>;
      } catch {
        // another shape than expected: what the core tables say
      }
    }
    const snapshots = this.db
      .prepare("SELECT 'snapshot' AS kind, CASE WHEN state = 'failed' THEN 'failed' ELSE 'succeeded' END AS outcome, COUNT(*) AS n FROM serials WHERE state != 'pending' GROUP BY outcome")
      .all() as Array<{ kind: string; outcome: string; n: number }>;
    const audited = this.db.prepare("SELECT action AS kind, 'succeeded' AS outcome, COUNT(*) AS n FROM audit_log WHERE action IN ('freeze', 'thaw', 'gc') GROUP BY action").all() as Array<{ kind: string; outcome: string; n: number }>;
    return [...snapshots, ...audited];
  }

  /** Changes whenever something was recorded (every change of the store writes an audit row). */
  lastAuditId(): number {
    return (this.db.prepare('SELECT MAX(id) FROM audit_log').pluck().get() as number | null) ?? 0;
  }
}
