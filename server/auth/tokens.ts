import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Repo } from '../catalog/repo.ts';
import { TokenRepo } from '../catalog/tokens.ts';
import { AptfreezeError } from '../errors.ts';

export type Role = 'admin' | 'release-manager' | 'uploader';
export interface Principal {
  name: string;
  role: Role;
}

/** What each role may do; admin may do everything. */
const allowed: Record<string, Role[]> = {
  snapshot: ['admin', 'release-manager'],
  freeze: ['admin', 'release-manager'],
  thaw: ['admin', 'release-manager'],
  'tag-create': ['admin', 'release-manager'],
  'tag-delete': ['admin'],
  gc: ['admin'],
  tokens: ['admin'],
  audit: ['admin'],
  upload: ['admin', 'uploader'],
  suite: ['admin', 'release-manager'],
};

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newToken(): string {
  return `af_${randomBytes(24).toString('base64url')}`;
}

/**
 * Tokens: only their sha256 is stored. A bootstrap admin token may come from
 * the environment (APTFREEZE_ADMIN_TOKEN) or `<data>/admin-token`.
 */
export class TokenService {
  private readonly tokens: TokenRepo;

  constructor(
    repo: Repo,
    private readonly bootstrap: () => string | undefined,
  ) {
    this.tokens = new TokenRepo(repo.db);
  }

  create(name: string, role: Role, now: Date): string {
    const token = newToken();
    this.tokens.insert(name, role, hashToken(token), now);
    return token;
  }

  list(): Array<{ id: number; name: string; role: Role; created_at: string; revoked_at: string | null }> {
    return this.tokens.list() as Array<{ id: number; name: string; role: Role; created_at: string; revoked_at: string | null }>;
  }

  revoke(idOrName: string, now: Date): number {
    const changes = this.tokens.revoke(idOrName, now);
    if (changes === 0) throw new AptfreezeError('NOT_FOUND', `no active token ${idOrName}`);
    return changes;
  }

  /** The principal of a presented token, or null. Comparisons are constant-time. */
  authenticate(token: string | undefined): Principal | null {
    if (!token) return null;
    const h = hashToken(token);
    const boot = this.bootstrap();
    if (boot && safeEqual(h, hashToken(boot))) return { name: 'admin (bootstrap)', role: 'admin' };
    const row = this.tokens.activeByHash(h) as { name: string; role: Role; hash: string } | undefined;
    if (!row || !safeEqual(row.hash, h)) return null;
    return { name: row.name, role: row.role };
  }
}

export function authorize(p: Principal | null, action: keyof typeof allowed | string): Principal {
  if (!p) throw new AptfreezeError('UNAUTHORIZED', 'a valid bearer token is required');
  const roles = allowed[action] ?? ['admin'];
  if (!roles.includes(p.role)) throw new AptfreezeError('FORBIDDEN', `role ${p.role} may not ${action}`);
  return p;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
