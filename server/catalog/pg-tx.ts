// One PostgreSQL transaction on a pooled connection: BEGIN, the body, COMMIT; ROLLBACK on any
// error (which goes up unchanged); the connection always back to the pool. Shared by the
// publication catalog (pg-publication.ts) and the object store's gc (pg-gc.ts).
import type pg from 'pg';

export async function inTransaction<T>(pool: pg.Pool, body: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await body(c);
    await c.query('COMMIT');
    return out;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}
