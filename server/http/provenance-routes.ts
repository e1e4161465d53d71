import type { Router, Request } from 'express';
import type { AppDeps } from './app.ts';
import { AptfreezeError } from '../errors.ts';
import { checkQuery, queryProvenance } from '../provenance/query.ts';

function one(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new AptfreezeError('BAD_REQUEST', `${name}: expected one value`);
  return v;
}

/**
 * GET /api/provenance?package=<name>&version=<version>[&arch=<arch>]: every
 * archive, suite, component and architecture that served it, as runs of
 * published serials, with its sha256 and pool path. Public, like every read.
 */
export function routes(r: Router, deps: AppDeps): void {
  r.get('/provenance', (req, res) => {
    const q = checkQuery({ package: one(req, 'package'), version: one(req, 'version'), arch: one(req, 'arch') });
    res.json({ ...q, results: queryProvenance(deps.repo, q) });
  });
}
