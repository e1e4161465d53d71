// The publication catalog on PostgreSQL (issue 15): which serials an archive has published, the
// path → blob list of each, and `latest`. Stateless readers answer from it and the object store;
// the writer fills it in one transaction per publication, after every object it names is confirmed
// present in the store. All of its SQL lives here (test/ownership.test.ts); the schema is
// migrations-pg/*.sql.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { AptfreezeError } from '../errors.ts';
import { PgGcCatalog, publicationGate } from './pg-gc.ts';
import { inTransaction } from './pg-tx.ts';

/** migrations-pg/ at the package root: two levels up from server/catalog/, one from the dist/ bundle (as open.ts finds migrations/). */
const migrationsDir = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of [['..', '..'], ['..']]) {
    const d = join(here, ...up, 'migrations-pg');
    if (existsSync(d)) return d;
  }
  return join(here, '..', '..', 'migrations-pg'); // absent: open() says so (STORE_UNAVAILABLE)
})();

export interface PublishedFile {
  /** Relative to the serial's root, e.g. `dists/stable/InRelease`, `pool/main/h/hello/hello_1_all.deb`. */
  path: string;
  sha256: string;
  size: number;
}

export interface PublishedSerial {
  archive: string;
  serial: string;
  publishedAt: string;
  frozen: boolean;
  validUntil: string | null;
  supersededAt: string | null;
  collectedAt: string | null;
}

export interface Publication {
  archive: string;
  serial: string;
  frozen: boolean;
  validUntil: string | null;
  files: PublishedFile[];
  /** What `latest` must be for the move to happen (null: the archive has none yet). */
  expectedLatest: string | null;
  /**
   * Default true. False: the serial is added beside a newer latest, which stays (a writer catching
   * up on an older serial it had not exported); the compare-and-swap on `expectedLatest` still applies.
   */
  moveLatest?: boolean;
  /** gc's epoch taken before the writer looked for the blobs in the store (pg-gc.ts); absent: not checked. */
  gcEpoch?: bigint;
}

type Row = { archive: string; serial: string; published_at: Date; frozen: boolean; valid_until: Date | null; superseded_at: Date | null; collected_at: Date | null };
const toSerial = (r: Row): PublishedSerial => ({
  archive: r.archive,
  serial: r.serial,
  publishedAt: r.published_at.toISOString(),
  frozen: r.frozen,
  validUntil: r.valid_until?.toISOString() ?? null,
  supersededAt: r.superseded_at?.toISOString() ?? null,
  collectedAt: r.collected_at?.toISOString() ?? null,
});

/** The advisory lock key of an archive (a 64-bit key from a namespaced text). */
const lockSql = "SELECT pg_advisory_xact_lock(hashtextextended('aptfreeze:publish:' || $1, 0))";

export class PgPublicationCatalog {
  private constructor(private readonly pool: pg.Pool) {}

  /** Connects and applies the pending migrations-pg/*.sql (each in one transaction, under a global advisory lock). */
  static async open(url: string, options: { max?: number; onIdleError?: (e: Error) => void; connectTimeoutMs?: number } = {}): Promise<PgPublicationCatalog> {
    // A bounded connect (an unreachable server fails the call instead of hanging it); idle
    // connections do not keep a one-shot command's process alive.
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 4, connectionTimeoutMillis: options.connectTimeoutMs ?? 15_000, allowExitOnIdle: true });
    // An idle pooled connection that the server ends (a restart, pg_terminate_backend, the database
    // stopped at shutdown) is reported as an 'error' event of the pool; unheard, it would throw out of
    // the process. The pool drops that client by itself and the next query connects again.
    pool.on('error', (e) => options.onIdleError?.(e));
    const catalog = new PgPublicationCatalog(pool);
    try {
      await catalog.migrate();
    } catch (e) {
      await pool.end();
      throw new AptfreezeError('STORE_UNAVAILABLE', `publication catalog: ${(e as Error).message}`, { cause: e });
    }
    return catalog;
  }

  /** The object store's gc, its catalog side (pg-gc.ts), on this catalog's connections. */
  gc(): PgGcCatalog {
    return new PgGcCatalog(this.pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async migrate(): Promise<void> {
    const files = readdirSync(migrationsDir).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
    await this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock(hashtextextended('aptfreeze:migrate', 0))");
      await c.query('CREATE TABLE IF NOT EXISTS pub_schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      const done = new Set((await c.query<{ name: string }>('SELECT name FROM pub_schema_migrations')).rows.map((r) => r.name));
      for (const f of files) {
        if (done.has(f)) continue;
        await c.query(readFileSync(join(migrationsDir, f), 'utf8'));
        await c.query('INSERT INTO pub_schema_migrations (name) VALUES ($1)', [f]);
      }
    });
  }

  private tx<T>(body: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, body);
  }


  /**
   * Publishes a serial: its row, its file list and the move of `latest`, in ONE transaction under
   * the archive's advisory lock. `latest` moves by compare-and-swap: when it is not
   * `expectedLatest`, nothing is written and CONFLICT is thrown. Call only once every blob in
   * `files` is confirmed present in the object store.
   */
  async publish(p: Publication): Promise<void> {
    await this.tx(async (c) => {
      await c.query(lockSql, [p.archive]);
      const cur = (await c.query<{ serial: string }>('SELECT serial FROM pub_latest WHERE archive = $1', [p.archive])).rows[0]?.serial ?? null;
      if (cur !== p.expectedLatest) {
        throw new AptfreezeError('CONFLICT', `latest of ${p.archive} is ${cur ?? 'unset'}, not ${p.expectedLatest ?? 'unset'}: another writer published`, {
          details: { archive: p.archive, latest: cur, expected: p.expectedLatest },
        });
      }
      const exists = await c.query('SELECT 1 FROM pub_serials WHERE archive = $1 AND serial = $2', [p.archive, p.serial]);
      if (exists.rowCount) throw new AptfreezeError('CONFLICT', `serial ${p.archive}/${p.serial} is already published`);
      await publicationGate(c, [...new Set(p.files.map((f) => f.sha256))], p.gcEpoch);
      await c.query('INSERT INTO pub_serials (archive, serial, published_at, frozen, valid_until) VALUES ($1, $2, now(), $3, $4)', [p.archive, p.serial, p.frozen, p.validUntil]);
      await insertFiles(c, p.archive, p.serial, p.files);
      if (p.moveLatest !== false) await setLatest(c, p.archive, cur, p.serial);
      else await c.query('UPDATE pub_serials SET superseded_at = now() WHERE archive = $1 AND serial = $2', [p.archive, p.serial]);
    });
  }

  /**
   * Moves `latest` to a serial already published and not collected, by compare-and-swap: CONFLICT
   * (nothing written) when `latest` is not `expected`, NOT_FOUND when the serial cannot be latest.
   */
  async moveLatest(archive: string, expected: string | null, serial: string): Promise<void> {
    await this.tx(async (c) => {
      await c.query(lockSql, [archive]);
      const cur = (await c.query<{ serial: string }>('SELECT serial FROM pub_latest WHERE archive = $1', [archive])).rows[0]?.serial ?? null;
      if (cur !== expected) {
        throw new AptfreezeError('CONFLICT', `latest of ${archive} is ${cur ?? 'unset'}, not ${expected ?? 'unset'}: another writer moved it`, { details: { archive, latest: cur, expected } });
      }
      const ok = await c.query('SELECT 1 FROM pub_serials WHERE archive = $1 AND serial = $2 AND collected_at IS NULL', [archive, serial]);
      if (!ok.rowCount) throw new AptfreezeError('NOT_FOUND', `no published serial ${archive}/${serial} to be latest`);
      if (cur === serial) return;
      await setLatest(c, archive, cur, serial);
      await c.query('UPDATE pub_serials SET superseded_at = NULL WHERE archive = $1 AND serial = $2', [archive, serial]);
    });
  }

  /** Re-signing (freeze/thaw): the serial's state and its replaced files (new signed Release objects), in one transaction. */
  async resign(archive: string, serial: string, state: { frozen: boolean; validUntil: string | null }, files: PublishedFile[], gcEpoch?: bigint): Promise<void> {
    await this.tx(async (c) => {
      await c.query(lockSql, [archive]);
      await publicationGate(c, [...new Set(files.map((f) => f.sha256))], gcEpoch);
      const r = await c.query('UPDATE pub_serials SET frozen = $3, valid_until = $4 WHERE archive = $1 AND serial = $2 AND collected_at IS NULL', [archive, serial, state.frozen, state.validUntil]);
      if (!r.rowCount) throw new AptfreezeError('NOT_FOUND', `no published serial ${archive}/${serial}`);
      await c.query('DELETE FROM pub_files WHERE archive = $1 AND serial = $2 AND path = ANY($3::text[])', [archive, serial, files.map((f) => f.path)]);
      await insertFiles(c, archive, serial, files);
    });
  }

  /** gc's mark: the serials answer 410 from now on and their file rows stop referencing blobs. `latest` is never collected. */
  async markCollected(archive: string, serials: string[]): Promise<void> {
    await this.tx(async (c) => {
      await c.query(lockSql, [archive]);
      const latest = (await c.query<{ serial: string }>('SELECT serial FROM pub_latest WHERE archive = $1', [archive])).rows[0]?.serial;
      if (latest !== undefined && serials.includes(latest)) throw new AptfreezeError('CONFLICT', `serial ${archive}/${latest} is latest and cannot be collected`);
      await c.query('UPDATE pub_serials SET collected_at = now() WHERE archive = $1 AND serial = ANY($2::text[]) AND collected_at IS NULL', [archive, serials]);
      await c.query('DELETE FROM pub_files WHERE archive = $1 AND serial = ANY($2::text[])', [archive, serials]);
    });
  }

  /** The service's public key files as exported (name → blob), after a publication gate like any publication. */
  async setKeys(keys: PublishedFile[], gcEpoch?: bigint): Promise<void> {
    await this.tx(async (c) => {
      await publicationGate(c, [...new Set(keys.map((k) => k.sha256))], gcEpoch);
      for (const k of keys) {
        await c.query('INSERT INTO pub_keys (name, sha256, size, exported_at) VALUES ($1, $2, $3, now()) ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, exported_at = EXCLUDED.exported_at', [k.path, k.sha256, k.size]);
      }
    });
  }

  /** One exported key file (`aptfreeze.asc`, `aptfreeze.gpg`), or null. */
  async key(name: string): Promise<PublishedFile | null> {
    const r = (await this.pool.query<{ sha256: string; size: string }>('SELECT sha256, size FROM pub_keys WHERE name = $1', [name])).rows[0];
    return r ? { path: name, sha256: r.sha256, size: Number(r.size) } : null;
  }

  /** `latest` with the time it moved (the trace file readers answer), or null. */
  async latestMove(archive: string): Promise<{ serial: string; movedAt: string } | null> {
    const r = (await this.pool.query<{ serial: string; moved_at: Date }>('SELECT serial, moved_at FROM pub_latest WHERE archive = $1', [archive])).rows[0];
    return r ? { serial: r.serial, movedAt: r.moved_at.toISOString() } : null;
  }

  /** Every archive with a published serial. */
  async archives(): Promise<string[]> {
    return (await this.pool.query<{ archive: string }>('SELECT DISTINCT archive FROM pub_serials ORDER BY archive')).rows.map((r) => r.archive);
  }

  async latest(archive: string): Promise<string | null> {
    return (await this.pool.query<{ serial: string }>('SELECT serial FROM pub_latest WHERE archive = $1', [archive])).rows[0]?.serial ?? null;
  }

  async serial(archive: string, serial: string): Promise<PublishedSerial | null> {
    const r = (await this.pool.query<Row>('SELECT * FROM pub_serials WHERE archive = $1 AND serial = $2', [archive, serial])).rows[0];
    return r ? toSerial(r) : null;
  }

  async serials(archive: string): Promise<PublishedSerial[]> {
    return (await this.pool.query<Row>('SELECT * FROM pub_serials WHERE archive = $1 ORDER BY published_at, serial', [archive])).rows.map(toSerial);
  }

  /** The blob behind a path of a serial (null when the serial does not answer that path). */
  async file(archive: string, serial: string, path: string): Promise<PublishedFile | null> {
    const r = (await this.pool.query<{ sha256: string; size: string }>('SELECT sha256, size FROM pub_files WHERE archive = $1 AND serial = $2 AND path = $3', [archive, serial, path])).rows[0];
    return r ? { path, sha256: r.sha256, size: Number(r.size) } : null;
  }

  async files(archive: string, serial: string): Promise<PublishedFile[]> {
    const { rows } = await this.pool.query<{ path: string; sha256: string; size: string }>('SELECT path, sha256, size FROM pub_files WHERE archive = $1 AND serial = $2 ORDER BY path', [archive, serial]);
    return rows.map((r) => ({ path: r.path, sha256: r.sha256, size: Number(r.size) }));
  }

  /**
   * A by-hash path that `latest` no longer answers, from a serial superseded since `since` (a client
   * that read the previous InRelease just before latest moved asks for its indices by hash).
   */
  async supersededFile(archive: string, path: string, since: Date): Promise<PublishedFile | null> {
    const r = (
      await this.pool.query<{ sha256: string; size: string }>(
        `SELECT f.sha256, f.size FROM pub_files f JOIN pub_serials s ON s.archive = f.archive AND s.serial = f.serial
          WHERE f.archive = $1 AND f.path = $2 AND s.superseded_at >= $3 AND s.collected_at IS NULL
          ORDER BY s.superseded_at DESC LIMIT 1`,
        [archive, path, since],
      )
    ).rows[0];
    return r ? { path, sha256: r.sha256, size: Number(r.size) } : null;
  }

  /** Whether any serial not collected still references the blob: gc's mark, read from the catalog. */
  async isReferenced(sha256: string): Promise<boolean> {
    return ((await this.pool.query('SELECT 1 FROM pub_files WHERE sha256 = $1 LIMIT 1', [sha256])).rowCount ?? 0) > 0;
  }
}

/** Inside a transaction holding the archive's lock: `latest` from `cur` to `serial`, `cur` marked superseded. */
async function setLatest(c: pg.PoolClient, archive: string, cur: string | null, serial: string): Promise<void> {
  if (cur !== null) await c.query('UPDATE pub_serials SET superseded_at = now() WHERE archive = $1 AND serial = $2', [archive, cur]);
  await c.query(
    'INSERT INTO pub_latest (archive, serial, moved_at) VALUES ($1, $2, now()) ON CONFLICT (archive) DO UPDATE SET serial = EXCLUDED.serial, moved_at = EXCLUDED.moved_at',
    [archive, serial],
  );
}

async function insertFiles(c: pg.PoolClient, archive: string, serial: string, files: PublishedFile[]): Promise<void> {
  for (let i = 0; i < files.length; i += 5000) {
    const chunk = files.slice(i, i + 5000);
    await c.query(
      'INSERT INTO pub_files (archive, serial, path, sha256, size) SELECT $1, $2, p, h, s FROM unnest($3::text[], $4::text[], $5::bigint[]) AS t(p, h, s)',
      [archive, serial, chunk.map((f) => f.path), chunk.map((f) => f.sha256), chunk.map((f) => f.size)],
    );
  }
}
