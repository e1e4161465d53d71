import type { Db } from './open.ts';

/**
 * The SQL the web pages need beyond the services' own queries. Tables added by other features
 * (operations, tags) are read only where they exist, and by the columns they have.
 */
export class WebQueries {
  constructor(readonly db: Db) {}

  hasTable(name: string): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
  }

  /** Package files (name, version, architecture) that appeared in each serial, and that each serial was the last to list. */
  changesBySerial(archive: string): Map<string, { appeared: number; lastIn: number }> {
    const out = new Map<string, { appeared: number; lastIn: number }>();
    const get = (s: string) => out.get(s) ?? (out.set(s, { appeared: 0, lastIn: 0 }), out.get(s)!);
    const key = "package || ' ' || version || ' ' || architecture";
    for (const r of this.db.prepare(`SELECT first_serial AS s, COUNT(DISTINCT ${key}) AS n FROM package_presence WHERE archive = ? GROUP BY first_serial`).all(archive) as Array<{ s: string; n: number }>) get(r.s).appeared = r.n;
    for (const r of this.db.prepare(`SELECT last_serial AS s, COUNT(DISTINCT ${key}) AS n FROM package_presence WHERE archive = ? AND last_serial IS NOT NULL GROUP BY last_serial`).all(archive) as Array<{ s: string; n: number }>) get(r.s).lastIn = r.n;
    return out;
  }

  /** Versions of a binary package any serial listed, at most `limit`. */
  versionsOf(pkg: string, limit = 50): string[] {
    return this.db.prepare('SELECT DISTINCT version FROM package_presence WHERE package = ? LIMIT ?').pluck().all(pkg, limit) as string[];
  }

  /** Operations pending or running, newest first, if this database has an operations table. */
  runningOperations(): Array<Record<string, unknown>> {
    const cols = this.columns('operations');
    if (!cols.includes('state')) return [];
    return this.rows(`SELECT * FROM operations WHERE state IN ('pending', 'running')${this.newestFirst(cols)} LIMIT 50`);
  }

  /** Tags, newest first, if this database has a tags table. */
  tags(): Array<Record<string, unknown>> {
    const cols = this.columns('tags');
    if (!cols.length) return [];
    return this.rows(`SELECT * FROM tags${this.newestFirst(cols)} LIMIT 200`);
  }

  /** The columns of a table (none when it does not exist). */
  private columns(table: string): string[] {
    if (!this.hasTable(table)) return [];
    return (this.db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
  }

  private newestFirst(cols: string[]): string {
    const c = ['created_at', 'createdAt', 'id'].find((x) => cols.includes(x));
    return c ? ` ORDER BY "${c}" DESC` : '';
  }

  private rows(sql: string): Array<Record<string, unknown>> {
    try {
      return this.db.prepare(sql).all() as Array<Record<string, unknown>>;
    } catch {
      return []; // a shape other than expected: the section shows nothing rather than failing the page
    }
  }
}
