import type { Router, Request, Response } from 'express';
import type { AppDeps } from './app.ts';
import { AptfreezeError } from '../errors.ts';
import { OpsRepo } from '../catalog/operations.ts';
import type { OperationState, OperationView } from '../ops/operation.ts';

const states: readonly OperationState[] = ['pending', 'running', 'succeeded', 'failed'];

function one(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new AptfreezeError('BAD_REQUEST', `${name}: expected one value`);
  return v;
}

/** `?wait=1` (or `true`): answer like the operation's result once it has ended, rather than 202. */
export function waitOf(req: Request): boolean {
  const v = one(req, 'wait');
  if (v === undefined || v === '0' || v === 'false') return false;
  if (v === '1' || v === 'true') return true;
  throw new AptfreezeError('BAD_REQUEST', 'wait: expected 1 or 0');
}

/** 202 Accepted, Location: /api/operations/<id>, the operation as recorded. */
export function accepted(res: Response, op: OperationView): void {
  res.status(202).location(`/api/operations/${op.id}`).json(op);
}

/**
 * GET /api/operations[?state=&kind=&archive=&limit=] (newest first) and
 * GET /api/operations/<id>. Public, like every read: an operation shows what
 * the serials and the audit already show (kind, archive, actor, outcome);
 * secrets (a new token) are never recorded.
 */
export function routes(r: Router, deps: AppDeps): void {
  const ops = new OpsRepo(deps.db);
  r.get('/operations', (req, res) => {
    const state = one(req, 'state');
    if (state !== undefined && !states.includes(state as OperationState)) throw new AptfreezeError('BAD_REQUEST', `state: expected one of ${states.join(', ')}`);
    const limit = one(req, 'limit');
    if (limit !== undefined && !/^\d{1,4}$/.test(limit)) throw new AptfreezeError('BAD_REQUEST', 'limit: expected a number');
    res.json({ operations: ops.list({ state: state as OperationState | undefined, kind: one(req, 'kind'), archive: one(req, 'archive'), limit: limit === undefined ? undefined : Number(limit) }) });
  });
  r.get('/operations/:id', (req, res) => {
    const id = req.params['id']!;
    const op = /^\d{1,15}$/.test(id) ? ops.get(Number(id)) : undefined;
    if (!op) throw new AptfreezeError('NOT_FOUND', `no operation ${id}`);
    res.json(op);
  });
}
