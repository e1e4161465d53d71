import type { Router, Request } from 'express';
import type { AppDeps } from './app.ts';
import { bearer } from './api.ts';
import { authorize, type Principal } from '../auth/tokens.ts';
import { AptfreezeError } from '../errors.ts';
import { diffSerials } from '../release/diff.ts';
import { ReleaseRepo } from '../catalog/release.ts';
import { listTokens } from '../release/tokens.ts';
import { resultOf } from '../ops/client.ts';
import type { SubmitRequest } from '../ops/operation.ts';
import { accepted, waitOf } from './operation-routes.ts';

/**
 * A mutation that answers with its result: freeze, thaw and tokens are quick
 * (a few small files re-signed, a row), so they answer 200/201 as before while
 * being recorded as operations like every mutation.
 */
async function finished(deps: AppDeps, req: SubmitRequest): Promise<unknown> {
  return resultOf(await deps.ops.run(req));
}

/** A JSON object body (express.json leaves `{}` for an empty one); anything else is BAD_REQUEST. */
function bodyOf(req: Request, allowed: readonly string[]): Record<string, unknown> {
  const b: unknown = req.body ?? {};
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new AptfreezeError('BAD_REQUEST', 'expected a JSON object body');
  const unknown = Object.keys(b).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new AptfreezeError('BAD_REQUEST', `unknown field(s) ${unknown.join(', ')} (expected ${allowed.join(', ') || 'none'})`);
  return b as Record<string, unknown>;
}

function query(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new AptfreezeError('BAD_REQUEST', `${name}: expected one value`);
  return v;
}

function intQuery(req: Request, name: string): number | undefined {
  const v = query(req, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v)) throw new AptfreezeError('BAD_REQUEST', `${name}: expected a non-negative integer`);
  return Number(v);
}

/**
 * Freeze, thaw, gc, audit, tokens and diff under /api. Mutations take a
 * bearer token: freeze/thaw need release-manager or admin, gc and tokens
 * admin (auth/tokens.ts); reading the audit log is admin only. The actor
 * written to the audit log is the token's name. Every mutation is an
 * operation (server/ops/), handed to the runner through deps.ops.
 */
export function routes(r: Router, deps: AppDeps): void {
  const principal = (req: Request, action: string): Principal => authorize(deps.tokens.authenticate(bearer(req)), action);

  r.post('/archives/:archive/serials/:serial/freeze', async (req, res) => {
    const who = principal(req, 'freeze');
    const b = bodyOf(req, ['until', 'reason']);
    res.json(await finished(deps, { kind: 'freeze', params: { archive: req.params['archive']!, serial: req.params['serial']!, until: b['until'], reason: b['reason'] }, actor: who.name }));
  });

  r.post('/archives/:archive/serials/:serial/thaw', async (req, res) => {
    const who = principal(req, 'thaw');
    bodyOf(req, []);
    res.json(await finished(deps, { kind: 'thaw', params: { archive: req.params['archive']!, serial: req.params['serial']! }, actor: who.name }));
  });

  r.post('/gc', async (req, res) => {
    const who = principal(req, 'gc');
    const b = bodyOf(req, ['dryRun']);
    if (b['dryRun'] !== undefined && typeof b['dryRun'] !== 'boolean') throw new AptfreezeError('BAD_REQUEST', 'dryRun: expected true or false');
    const op = { kind: 'gc', params: { dryRun: b['dryRun'] === true }, actor: who.name };
    // gc sweeps the store, which can take a while: 202 unless the caller waits (?wait=1). A dry
    // run changes nothing and is asked for its answer: it always answers with the report.
    if (waitOf(req) || op.params.dryRun) res.json(await finished(deps, op));
    else accepted(res, await deps.ops.submit(op));
  });

  r.get('/audit', (req, res) => {
    principal(req, 'audit');
    const since = query(req, 'since');
    if (since !== undefined && Number.isNaN(Date.parse(since))) throw new AptfreezeError('BAD_REQUEST', 'since: expected an ISO date');
    const entries = new ReleaseRepo(deps.db).listAudit({
      limit: intQuery(req, 'limit'),
      beforeId: intQuery(req, 'before'),
      actor: query(req, 'actor'),
      action: query(req, 'action'),
      target: query(req, 'target'),
      since: since === undefined ? undefined : new Date(since).toISOString(),
    });
    res.json({ entries });
  });

  r.get('/tokens', (req, res) => {
    principal(req, 'tokens');
    res.json({ tokens: listTokens(deps) });
  });

  r.post('/tokens', async (req, res) => {
    const who = principal(req, 'tokens');
    const b = bodyOf(req, ['name', 'role']);
    res.status(201).json(await finished(deps, { kind: 'token.create', params: { name: b['name'], role: b['role'] }, actor: who.name }));
  });

  r.delete('/tokens/:id', async (req, res) => {
    const who = principal(req, 'tokens');
    const id = req.params['id']!;
    if (!/^\d{1,9}$/.test(id)) throw new AptfreezeError('BAD_REQUEST', 'expected a token id');
    res.json({ revoked: await finished(deps, { kind: 'token.revoke', params: { idOrName: id }, actor: who.name }) });
  });

  r.get('/archives/:archive/diff', async (req, res) => {
    const from = query(req, 'from');
    const to = query(req, 'to');
    if (!from || !to) throw new AptfreezeError('BAD_REQUEST', 'from and to: expected two serials');
    res.json(await diffSerials(deps, req.params['archive']!, from, to));
  });
}
