// Issue 15, the catalog's first step past one machine (a smoke, not the port): the project's
// migrations (migrations/*.sql, written for SQLite) run statement by statement on a throwaway
// PostgreSQL, to show what a dialect layer must translate. It fails when a statement fails on
// PostgreSQL without being a construct listed below (so a new migration's SQLite-ism is named here),
// or when the two engines end up with different tables and columns.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { migrate } from '../server/catalog/open.ts';
import { repoRoot } from './helpers/service.ts';
import { postgresSource, testPostgres, type TestPostgres } from './helpers/postgres.ts';
import { skipUnless } from './helpers/engines.ts';

/** SQLite constructs PostgreSQL refuses, and what a dialect layer would write instead. */
const sqliteOnly: Array<{ construct: string; match: RegExp; postgres: string }> = [
  { construct: 'trigger body with RAISE(ABORT, …)', match: /CREATE\s+TRIGGER[\s\S]*\bRAISE\s*\(/i, postgres: 'a plpgsql function that RAISEs EXCEPTION, and CREATE TRIGGER … EXECUTE FUNCTION it' },
  { construct: 'AUTOINCREMENT', match: /\bAUTOINCREMENT\b/i, postgres: 'GENERATED ALWAYS AS IDENTITY' },
  { construct: 'INSERT OR IGNORE / OR REPLACE', match: /\bINSERT\s+OR\s+(IGNORE|REPLACE)\b/i, postgres: 'INSERT … ON CONFLICT DO NOTHING / DO UPDATE' },
  { construct: 'date functions (strftime, datetime, julianday)', match: /\b(strftime|datetime|julianday|unixepoch)\s*\(/i, postgres: "to_char / now() / extract(epoch …), or timestamps as timestamptz" },
  { construct: 'WITHOUT ROWID tables', match: /\bWITHOUT\s+ROWID\b/i, postgres: 'drop the clause (every PostgreSQL table is a heap)' },
  { construct: 'PRAGMA', match: /^\s*PRAGMA\b/i, postgres: 'drop it, or the matching SET / ALTER TABLE' },
  { construct: 'JSON functions (json_extract, json_each, ->>)', match: /\bjson_(extract|each|group_array|object)\s*\(/i, postgres: 'jsonb operators and jsonb_* functions' },
  { construct: 'GLOB', match: /\bGLOB\b/i, postgres: 'LIKE or ~ (regular expression)' },
  { construct: 'IIF(…)', match: /\bIIF\s*\(/i, postgres: 'CASE WHEN … THEN … ELSE … END' },
];

/**
 * Statements of a migration file: comments dropped, split at a semicolon that ends a line (the
 * files keep a trigger's body on one line, so its inner semicolon is not split on).
 */
function statements(sql: string): string[] {
  return sql
    .split('\n')
    .map((l) => l.replace(/--.*$/, ''))
    .join('\n')
    .split(/;[ \t]*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

const migrationsDir = join(repoRoot, 'migrations');
const files = readdirSync(migrationsDir)
  .filter((f) => /^\d+_.*\.sql$/.test(f))
  .sort();

const source = postgresSource();

describe('the catalog on PostgreSQL (a smoke: the SQLite migrations as they are)', { skip: skipUnless(source) }, () => {
  let engine: TestPostgres;
  let client: pg.Client;
  before(async () => {
    engine = await testPostgres();
    client = new pg.Client({ connectionString: await engine.newDatabase('catalog') });
    await client.connect();
  });
  after(async () => {
    await client?.end();
    await engine?.stop();
  });

  it('talks to a real PostgreSQL 15 or newer over loopback', async () => {
    const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    assert.ok(Number(rows[0]!.v) >= 150000, `server_version_num ${rows[0]!.v}`);
  });

  it('runs every statement but the SQLite-only ones, and ends with the tables and columns SQLite has', async (t) => {
    const refused: Array<{ file: string; statement: string; construct: string | undefined; error: string }> = [];
    /** Tables whose CREATE uses a listed SQLite-only construct (AUTOINCREMENT, WITHOUT ROWID): PostgreSQL lacks them until a dialect layer. */
    const unportable = new Set<string>();
    let ran = 0;
    await client.query('BEGIN');
    for (const file of files) {
      for (const stmt of statements(readFileSync(join(migrationsDir, file), 'utf8'))) {
        ran++;
        await client.query('SAVEPOINT s');
        try {
          await client.query(stmt);
          await client.query('RELEASE SAVEPOINT s');
        } catch (e) {
          await client.query('ROLLBACK TO SAVEPOINT s');
          const err = e as { code?: string; message: string };
          const construct = sqliteOnly.find((c) => c.match.test(stmt))?.construct;
          const created = /^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)/i.exec(stmt)?.[1];
          if (created && construct) unportable.add(created);
          // An index or statement on a table whose CREATE was a listed SQLite-only construct fails only because of it.
          const onTable = err.code === '42P01' ? /relation "(\w+)" does not exist/.exec(err.message)?.[1] : undefined;
          const follows = onTable && unportable.has(onTable) ? `follows from table ${onTable} (a listed construct)` : undefined;
          refused.push({ file, statement: stmt.split('\n')[0]!.slice(0, 90), construct: construct ?? follows, error: `${err.code}: ${err.message}` });
        }
      }
    }
    await client.query('COMMIT');
    for (const r of refused) t.diagnostic(`not portable: ${r.file}: ${r.statement} — ${r.construct ?? 'UNLISTED'} (${r.error})`);
    assert.ok(ran > 0, 'the migrations hold statements');
    assert.deepEqual(
      refused.filter((r) => r.construct === undefined).map((r) => `${r.file}: ${r.statement} (${r.error})`),
      [],
      'every statement PostgreSQL refuses is a listed SQLite-only construct',
    );

    const sqlite = new Database(':memory:');
    migrate(sqlite);
    const sqliteTables = new Map<string, string[]>();
    for (const { name } of sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name").all() as { name: string }[]) {
      if (unportable.has(name)) continue;
      sqliteTables.set(name, (sqlite.prepare(`SELECT name FROM pragma_table_info(?) ORDER BY name`).all(name) as { name: string }[]).map((c) => c.name));
    }
    sqlite.close();
    const { rows } = await client.query<{ table_name: string; column_name: string }>(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name",
    );
    const pgTables = new Map<string, string[]>();
    for (const r of rows) pgTables.set(r.table_name, [...(pgTables.get(r.table_name) ?? []), r.column_name]);
    assert.deepEqual(new Map([...pgTables].sort()), new Map([...sqliteTables].sort()));
  });

  it('shows what runs on both yet means something else: INTEGER PRIMARY KEY numbers rows only in SQLite', async () => {
    // SQLite makes `id INTEGER PRIMARY KEY` an alias of the rowid and numbers new rows; PostgreSQL
    // takes it as a plain integer column, so an insert without an id breaks its NOT NULL (23502).
    const insert = "INSERT INTO audit_log (at, actor, action, target) VALUES ('2026-12-05T00:00:00Z', 'test', 'smoke', 'catalog')";
    const sqlite = new Database(':memory:');
    migrate(sqlite);
    assert.equal(sqlite.prepare(insert).run().lastInsertRowid, 1);
    sqlite.close();
    await assert.rejects(client.query(insert), (e: { code?: string }) => e.code === '23502');
  });
});
