import type BetterSqlite3 from 'better-sqlite3';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

// Required as CommonJS, which it is: an ESM import of it makes node scan its source for named
// exports first (cjs-module-lexer), a few milliseconds of every command (docs/performance.md).
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

export type Db = BetterSqlite3.Database;

/** migrations/ at the package root: two levels up from server/db/, one from the dist/ bundle. */
const migrationsDir = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of [['..', '..'], ['..']]) {
    const d = join(here, ...up, 'migrations');
    if (existsSync(d)) return d;
  }
  throw new Error(`migrations/ not found near ${here}`);
})();

/** Opens the database in WAL mode and applies every numbered migration not yet applied. */
export function openDb(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // FULL: a commit is on disk when it returns (WAL fsync'd at each commit). The database records
  // a publish, a freeze, a gc after their files are durable (util/atomic-write.ts), and a power cut
  // must not roll back a record that builders may already have acted on; a few commits a snapshot.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 10000');
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  const files = readdirSync(migrationsDir)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort();
  for (const f of files) {
    const version = Number(f.split('_')[0]);
    if (applied.has(version)) continue;
    const sql = readFileSync(join(migrationsDir, f), 'utf8');
    // IMMEDIATE: two processes starting together apply each migration once.
    db.transaction(() => {
      const again = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(version);
      if (again) return;
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, f, new Date().toISOString());
    }).immediate();
  }
}
