import type { Db } from './open.ts';
import { processAlive } from '../util/process.ts';
import type { OperationState, OperationView, Progress } from '../ops/operation.ts';

interface Row {
  id: number;
  kind: string;
  archive: string | null;
  actor: string;
  state: OperationState;
  resources: string;
  pid: number;
  progress: string;
  result: string | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface OperationFilter {
  state?: OperationState;
  kind?: string;
  archive?: string;
  /** Newest first; at most this many (default 100, at most 1,000). */
  limit?: number;
}

/**
 * The SQL of the operations log (migrations/005_operations.sql). Synchronous
 * (better-sqlite3), so the runner can put a lock and a record in one transaction.
 */
export class OpsRepo {
  constructor(readonly db: Db) {}

  insert(o: { kind: string; archive: string | undefined; actor: string; state: OperationState; resources: string[]; pid: number; now: Date; error?: { code: string; message: string } }): number {
    const r = this.db
      .prepare('INSERT INTO operations (kind, archive, actor, state, resources, pid, error, created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(o.kind, o.archive ?? null, o.actor, o.state, JSON.stringify(o.resources), o.pid, o.error ? JSON.stringify(o.error) : null, o.now.toISOString(), o.state === 'failed' ? o.now.toISOString() : null);
    return Number(r.lastInsertRowid);
  }

  /**
   * Runs `fn` (a statement or a whole transaction of the caller's) with its commit not flushed to
   * disk on its own (synchronous NORMAL): the WAL keeps commits in order, so the next FULL commit
   * (the operation's own state change, or its recorded end) flushes this one with it. For what an
   * operation records before it has done anything durable: its pending row and lock, its start,
   * its progress. A power cut before that next commit loses the record and nothing it described.
   * An fsync costs 10-60 ms here (docs/performance.md, 2026-12-06): a freeze through the API made
   * four. Inside a caller's transaction the setting cannot change: the caller's commit decides.
   */
  relaxed<T>(fn: () => T): T {
    const relax = !this.db.inTransaction;
    if (relax) this.db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      if (relax) this.db.pragma('synchronous = FULL');
    }
  }

  markRunning(id: number, now: Date): void {
    this.relaxed(() => this.db.prepare("UPDATE operations SET state = 'running', started_at = ? WHERE id = ? AND state = 'pending'").run(now.toISOString(), id));
  }

  /** Progress is shown, not relied on (relaxed, above): a snapshot reports each of its ~12 steps. */
  setProgress(id: number, p: Progress): void {
    this.relaxed(() => this.db.prepare("UPDATE operations SET progress = ? WHERE id = ? AND state IN ('pending', 'running')").run(JSON.stringify(p), id));
  }

  finish(id: number, now: Date, outcome: { result?: unknown; error?: { code: string; message: string } }): void {
    this.db
      .prepare("UPDATE operations SET state = ?, result = ?, error = ?, finished_at = ?, started_at = COALESCE(started_at, ?) WHERE id = ? AND state IN ('pending', 'running')")
      .run(
        outcome.error ? 'failed' : 'succeeded',
        outcome.result === undefined ? null : JSON.stringify(outcome.result),
        outcome.error ? JSON.stringify(outcome.error) : null,
        now.toISOString(),
        now.toISOString(),
        id,
      );
  }

  get(id: number): OperationView | undefined {
    const row = this.db.prepare('SELECT * FROM operations WHERE id = ?').get(id) as Row | undefined;
    return row && view(row);
  }

  list(f: OperationFilter = {}): OperationView[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.state) (where.push('state = ?'), args.push(f.state));
    if (f.kind) (where.push('kind = ?'), args.push(f.kind));
    if (f.archive) (where.push('archive = ?'), args.push(f.archive));
    const limit = Math.min(Math.max(1, f.limit ?? 100), 1000);
    const rows = this.db.prepare(`SELECT * FROM operations ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`).all(...args, limit) as Row[];
    return rows.map(view);
  }

  /**
   * Pending or running operations whose process is gone, or of this process
   * but not among `live` (a runner that restarted): they were interrupted.
   */
  interrupted(pid: number, live: ReadonlySet<number>): Array<{ id: number; resources: string[]; pid: number }> {
    const rows = this.db.prepare("SELECT id, resources, pid FROM operations WHERE state IN ('pending', 'running')").all() as Array<{ id: number; resources: string; pid: number }>;
    return rows.filter((r) => (r.pid === pid ? !live.has(r.id) : !processAlive(r.pid))).map((r) => ({ id: r.id, resources: JSON.parse(r.resources) as string[], pid: r.pid }));
  }
}

function view(r: Row): OperationView {
  return {
    id: String(r.id),
    kind: r.kind,
    ...(r.archive !== null ? { archive: r.archive } : {}),
    actor: r.actor,
    state: r.state,
    progress: JSON.parse(r.progress) as Progress,
    ...(r.result !== null ? { result: JSON.parse(r.result) as unknown } : {}),
    ...(r.error !== null ? { error: JSON.parse(r.error) as { code: string; message: string } } : {}),
    createdAt: r.created_at,
    ...(r.started_at !== null ? { startedAt: r.started_at } : {}),
    ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}),
  };
}
