import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import { hashToken, type Role } from '../auth/tokens.ts';
import { ReleaseRepo } from '../catalog/release.ts';

export type TokenDeps = Pick<Services, 'tokens' | 'repo' | 'db' | 'now'>;

const roles: readonly Role[] = ['admin', 'release-manager', 'uploader'];
const nameRe = /^[A-Za-z][A-Za-z0-9._@+-]{0,63}$/;

export function parseRole(v: unknown): Role {
  if (typeof v !== 'string' || !roles.includes(v as Role)) throw new AptfreezeError('BAD_REQUEST', `role: expected ${roles.join(' or ')}`);
  return v as Role;
}

export function parseTokenName(v: unknown): string {
  if (typeof v !== 'string' || !nameRe.test(v)) throw new AptfreezeError('BAD_REQUEST', 'name: expected 1-64 letters, digits and . _ @ + -, starting with a letter (who holds the token)');
  return v;
}

/** Makes a token; it is returned once and only its sha256 is stored. Audited without the token. */
export function createToken(s: TokenDeps, req: { name: unknown; role: unknown }, actor: string) {
  const name = parseTokenName(req.name);
  const role = parseRole(req.role);
  const now = s.now();
  // The token row and its audit entry in one transaction.
  return s.db.transaction(() => {
    const token = s.tokens.create(name, role, now);
    const row = new ReleaseRepo(s.db).tokenByHash(hashToken(token))!;
    s.repo.appendAudit({ actor, action: 'token.create', target: `token:${row.id}`, after: { id: row.id, name, role } }, now);
    return { id: row.id, name, role, createdAt: row.created_at, token };
  }).immediate();
}

export function listTokens(s: TokenDeps) {
  return s.tokens.list().map((t) => ({ id: t.id, name: t.name, role: t.role, createdAt: t.created_at, revokedAt: t.revoked_at }));
}

/** Revokes the active token(s) with this id or name; NOT_FOUND when none. */
export function revokeToken(s: TokenDeps, idOrName: string, actor: string) {
  const now = s.now();
  // The revocation and its audit entries in one transaction.
  return s.db.transaction(() => {
    const before = s.tokens.list().filter((t) => t.revoked_at === null && (String(t.id) === idOrName || t.name === idOrName));
    s.tokens.revoke(idOrName, now);
    for (const t of before) {
      s.repo.appendAudit({ actor, action: 'token.revoke', target: `token:${t.id}`, before: { id: t.id, name: t.name, role: t.role, revokedAt: null }, after: { revokedAt: now.toISOString() } }, now);
    }
    return before.map((t) => ({ id: t.id, name: t.name, role: t.role }));
  }).immediate();
}
