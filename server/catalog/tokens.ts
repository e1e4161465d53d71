import type { Db } from './open.ts';

export interface TokenRow {
  id: number;
  name: string;
  role: string;
  created_at: string;
  revoked_at: string | null;
}

/** The SQL of API tokens (only their sha256 is stored). */
export class TokenRepo {
  constructor(readonly db: Db) {}

  insert(name: string, role: string, hash: string, now: Date): void {
    this.db.prepare('INSERT INTO tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)').run(name, role, hash, now.toISOString());
  }

  list(): TokenRow[] {
    return this.db.prepare('SELECT id, name, role, created_at, revoked_at FROM tokens ORDER BY id').all() as TokenRow[];
  }

  /** Revokes the active tokens whose id or name is `idOrName`; returns how many. */
  revoke(idOrName: string, now: Date): number {
    return this.db
      .prepare('UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL AND (CAST(id AS TEXT) = ? OR name = ?)')
      .run(now.toISOString(), idOrName, idOrName).changes;
  }

  /** The active token with this hash, or undefined. */
  activeByHash(hash: string): { name: string; role: string; hash: string } | undefined {
    return this.db.prepare('SELECT name, role, hash FROM tokens WHERE hash = ? AND revoked_at IS NULL').get(hash) as { name: string; role: string; hash: string } | undefined;
  }
}
