import type { Router, Request } from 'express';
import type { AppDeps } from './app.ts';
import { bearer } from './api.ts';
import { authorize, type Principal } from '../auth/tokens.ts';
import { AptfreezeError } from '../errors.ts';
import { freezeSerial, thawSerial } from '../release/service.ts';
import { runGc } from '../release/gc.ts';
import { diffSerials } from '../release/diff.ts';
import { ReleaseRepo } from '../release/release-repo.ts';
import { createToken, listTokens, revokeToken } from '../release/tokens.ts';

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
 * written to the audit log is the token's name.
 */
export function routes(r: Router, deps: AppDeps): void {
  const principal = (req: Request, action: string): Principal => authorize(deps.tokens.authenticate(bearer(req)), action);

  r.post('/archives/:archive/serials/:serial/freeze', async (req, res) => {
    const who = principal(req, 'freeze');
    const b = bodyOf(req, ['until', 'reason']);
    const result = await freezeSerial(deps, req.params['archive']!, req.params['serial']!, { until: b['until'], reason: b['reason'], actor: who.name });
    res.json(result);
  });

  r.post('/archives/:archive/serials/:serial/thaw', async (req, res) => {
    const who = principal(req, 'thaw');
    bodyOf(req, []);
    res.json(await thawSerial(deps, req.params['archive']!, req.params['serial']!, who.name));
  });

  r.post('/gc', async (req, res) => {
    const who = principal(req, 'gc');
    const b = bodyOf(req, ['dryRun']);
    if (b['dryRun'] !== undefined && typeof b['dryRun'] !== 'boolean') throw new AptfreezeError('BAD_REQUEST', 'dryRun: expected true or false');
    res.json(await runGc(deps, { dryRun: b['dryRun'] === true, actor: who.name }));
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

  r.post('/tokens', (req, res) => {
    const who = principal(req, 'tokens');
    const b = bodyOf(req, ['name', 'role']);
    res.status(201).json(createToken(deps, { name: b['name'], role: b['role'] }, who.name));
  });

  r.delete('/tokens/:id', (req, res) => {
    const who = principal(req, 'tokens');
    const id = req.params['id']!;
    if (!/^\d{1,9}$/.test(id)) throw new AptfreezeError('BAD_REQUEST', 'expected a token id');
    res.json({ revoked: revokeToken(deps, id, who.name) });
  });

  r.get('/archives/:archive/diff', async (req, res) => {
    const from = query(req, 'from');
    const to = query(req, 'to');
    if (!from || !to) throw new AptfreezeError('BAD_REQUEST', 'from and to: expected two serials');
    res.json(await diffSerials(deps, req.params['archive']!, from, to));
  });
}
