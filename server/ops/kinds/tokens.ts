import type { OperationDef } from '../operation.ts';
import { createToken, revokeToken } from '../../release/tokens.ts';
import { objectOf, stringOf } from './params.ts';

type Created = ReturnType<typeof createToken>;

/** Tokens hold no resource: each change is one transaction with its audit entry. The token itself is never recorded. */
export const tokenCreateOp: OperationDef<{ name: unknown; role: unknown }, Created> = {
  kind: 'token.create',
  params(raw) {
    const o = objectOf(raw, 'token.create', ['name', 'role']);
    return { name: o['name'], role: o['role'] };
  },
  resources: () => [],
  run: async (s, p, ctx) => createToken(s, p, ctx.actor),
  record: (r) => ({ id: r.id, name: r.name, role: r.role, createdAt: r.createdAt }),
};

export const tokenRevokeOp: OperationDef<{ idOrName: string }, ReturnType<typeof revokeToken>> = {
  kind: 'token.revoke',
  params(raw) {
    const o = objectOf(raw, 'token.revoke', ['idOrName']);
    return { idOrName: stringOf(o, 'idOrName', 'token.revoke') };
  },
  resources: () => [],
  run: async (s, p, ctx) => revokeToken(s, p.idOrName, ctx.actor),
};
