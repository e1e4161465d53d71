// gc of the object store, its catalog side (issue 15; schema migrations-pg/002_object_gc.sql).
// The mark reads the publication catalog: a blob is referenced while any serial's file list names
// it (collected serials have none). An unreferenced blob is deleted only once it has been seen
// unreferenced for the grace period, and only through a claim: claims and publications serialize
// on one advisory lock, and a publication refuses blobs claimed after its writer looked for them
// in the store (publicationGate), so a blob is never deleted under a serial that names it.
import type pg from 'pg';
import { AptfreezeError } from '../errors.ts';
import { inTransaction } from './pg-tx.ts';

/** The lock gc's claim takes exclusively and every publication shares. */
const gcLockKey = "hashtextextended('aptfreeze:gc', 0)";

export class PgGcCatalog {
  constructor(private readonly pool: pg.Pool) {}

  /** A point in gc's order: a writer takes one before it looks for its blobs in the store. */
  async epoch(): Promise<bigint> {
    return BigInt((await this.pool.query<{ v: string }>("SELECT nextval('pub_gc_seq')::text AS v")).rows[0]!.v);
  }

  /**
   * The mark for a batch of blobs found in the store: the referenced ones leave the unreferenced
   * list; the others join it (keeping the time they were first seen). Returns how many are unreferenced.
   */
  async mark(hashes: string[], now: Date): Promise<number> {
    if (!hashes.length) return 0;
    return inTransaction(this.pool, async (c) => {
      const referenced = new Set(
        (await c.query<{ sha256: string }>('SELECT sha256 FROM pub_files WHERE sha256 = ANY($1::text[]) UNION SELECT sha256 FROM pub_keys WHERE sha256 = ANY($1::text[])', [hashes])).rows.map((r) => r.sha256),
      );
      const unreferenced = hashes.filter((h) => !referenced.has(h));
      if (referenced.size) await c.query('DELETE FROM pub_gc_unreferenced WHERE sha256 = ANY($1::text[])', [[...referenced]]);
      if (unreferenced.length) {
        await c.query('INSERT INTO pub_gc_unreferenced (sha256, first_seen) SELECT h, $2 FROM unnest($1::text[]) AS t(h) ON CONFLICT (sha256) DO NOTHING', [unreferenced, now]);
      }
      return unreferenced.length;
    });
  }

  /** Forgets unreferenced entries whose blob is no longer in the store (deleted by hand, or by an earlier gc). */
  async forget(hashes: string[]): Promise<void> {
    if (hashes.length) await this.pool.query('DELETE FROM pub_gc_unreferenced WHERE sha256 = ANY($1::text[])', [hashes]);
  }

  /** Every blob on the unreferenced list (the sweep drops those the store no longer has). */
  async unreferenced(): Promise<string[]> {
    return (await this.pool.query<{ sha256: string }>('SELECT sha256 FROM pub_gc_unreferenced ORDER BY sha256')).rows.map((r) => r.sha256);
  }

  /**
   * Claims for deletion the blobs unreferenced since before `cutoff` and still unreferenced now,
   * under the gc lock (no publication commits meanwhile). Claims left unfinished by a gc that
   * died are returned too: deleting an object twice is harmless, and they must finish before any
   * publication may name those blobs again.
   */
  async claim(cutoff: Date, limit: number): Promise<string[]> {
    return inTransaction(this.pool, async (c) => {
      await c.query(`SELECT pg_advisory_xact_lock(${gcLockKey})`);
      const claimed = await c.query<{ sha256: string }>(
        `INSERT INTO pub_gc_claims (sha256, claimed_seq)
           SELECT u.sha256, nextval('pub_gc_seq') FROM pub_gc_unreferenced u
            WHERE u.first_seen <= $1 AND NOT EXISTS (SELECT 1 FROM pub_files f WHERE f.sha256 = u.sha256) AND NOT EXISTS (SELECT 1 FROM pub_keys k WHERE k.sha256 = u.sha256)
            ORDER BY u.sha256 LIMIT $2
         ON CONFLICT (sha256) DO UPDATE SET claimed_seq = EXCLUDED.claimed_seq, done_seq = NULL, done_at = NULL
         RETURNING sha256`,
        [cutoff, limit],
      );
      const hashes = claimed.rows.map((r) => r.sha256);
      if (hashes.length) await c.query('DELETE FROM pub_gc_unreferenced WHERE sha256 = ANY($1::text[])', [hashes]);
      const unfinished = await c.query<{ sha256: string }>('SELECT sha256 FROM pub_gc_claims WHERE done_seq IS NULL AND NOT (sha256 = ANY($1::text[]))', [hashes]);
      return [...hashes, ...unfinished.rows.map((r) => r.sha256)];
    });
  }

  /** The claimed objects are deleted: a publication may name these blobs again once it has looked for them after now. */
  async finish(hashes: string[]): Promise<void> {
    if (!hashes.length) return;
    await this.pool.query("UPDATE pub_gc_claims SET done_seq = nextval('pub_gc_seq'), done_at = now() WHERE sha256 = ANY($1::text[]) AND done_seq IS NULL", [hashes]);
  }

  /** Finished claims older than `before` are forgotten (a writer's look at its blobs never lasts that long). */
  async pruneClaims(before: Date): Promise<number> {
    return (await this.pool.query('DELETE FROM pub_gc_claims WHERE done_at IS NOT NULL AND done_at < $1', [before])).rowCount ?? 0;
  }
}

/**
 * Inside a publication's transaction: shares the gc lock (no claim commits until this transaction
 * ends), refuses blobs claimed for deletion after `epoch` or still being deleted (CONFLICT: the
 * writer uploads them again and retries), and takes the named blobs off the unreferenced list.
 */
export async function publicationGate(c: pg.PoolClient, hashes: string[], epoch: bigint | undefined): Promise<void> {
  await c.query(`SELECT pg_advisory_xact_lock_shared(${gcLockKey})`);
  if (epoch !== undefined) {
    const { rows } = await c.query<{ sha256: string }>('SELECT sha256 FROM pub_gc_claims WHERE sha256 = ANY($1::text[]) AND (done_seq IS NULL OR done_seq > $2::bigint)', [hashes, epoch.toString()]);
    if (rows.length) {
      throw new AptfreezeError('CONFLICT', `${rows.length} blob(s) of this publication were collected from the object store while it was prepared (e.g. ${rows[0]!.sha256}); upload them again`, {
        details: { collected: rows.map((r) => r.sha256) },
      });
    }
  }
  await c.query('DELETE FROM pub_gc_unreferenced WHERE sha256 = ANY($1::text[])', [hashes]);
}
