import express, { Router, type Request } from 'express';
import { AptfreezeError } from '../errors.ts';
import type { AppDeps } from './app.ts';
import { authorize, type Principal } from '../auth/tokens.ts';
import { describeSerial, listArchives } from '../snapshot/query.ts';
import * as releaseRoutes from './release-routes.ts';
import * as provenanceRoutes from './provenance-routes.ts';
import * as operationRoutes from './operation-routes.ts';
import { resultOf } from '../ops/client.ts';
import { accepted, waitOf } from './operation-routes.ts';
import * as tagRoutes from './tag-routes.ts';

export function bearer(req: Request): string | undefined {
  const h = req.headers.authorization;
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m?.[1];
}

/** JSON API: reads are public, mutations need a bearer token of a fitting role. */
export function apiRouter(deps: AppDeps): Router {
  const r = Router();
  // Before the 16 KiB body parser: a build manifest is larger (tag-routes.ts parses its own).
  tagRoutes.routes(r, deps);
  r.use(express.json({ limit: '16kb', strict: true }));
  const principal = (req: Request, action: string): Principal => authorize(deps.tokens.authenticate(bearer(req)), action);

  r.get('/archives', (_req, res) => {
    res.json({ archives: listArchives(deps) });
  });
  r.get('/archives/:archive/serials', (req, res) => {
    const a = knownArchive(deps, req.params['archive']!);
    res.json({ archive: a, serials: deps.repo.listSerials(a, { includeCollected: true }).map((s) => describeSerial(deps, s)) });
  });
  r.get('/archives/:archive/serials/:serial', (req, res) => {
    const a = knownArchive(deps, req.params['archive']!);
    const row = deps.repo.getSerial(a, req.params['serial']!);
    if (!row || row.state === 'pending' || row.state === 'failed') throw new AptfreezeError('NOT_FOUND', `no serial ${req.params['serial']} of ${a}`);
    res.json({ ...describeSerial(deps, row), suites: deps.repo.suiteSnapshots(a, row.serial) });
  });
  r.post('/archives/:archive/snapshots', async (req, res) => {
    const who = principal(req, 'snapshot');
    // No parameters: an empty body or `{}`; any field is refused rather than silently ignored.
    const body: unknown = req.body ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).length) throw new AptfreezeError('BAD_REQUEST', 'a snapshot request takes no body fields');
    const a = req.params['archive']!;
    if (!deps.config.archives.some((x) => x.name === a)) throw new AptfreezeError('NOT_FOUND', `unknown archive ${a}`);
    const req0 = { kind: 'snapshot', params: { archive: a }, actor: who.name };
    // A snapshot is long: 202 and the operation to follow, unless the caller waits (?wait=1).
    if (waitOf(req)) {
      res.status(201).json(resultOf(await deps.ops.run(req0)));
      return;
    }
    accepted(res, await deps.ops.submit(req0));
  });
  releaseRoutes.routes(r, deps);
  operationRoutes.routes(r, deps);
  provenanceRoutes.routes(r, deps);
  return r;
}

export function knownArchive(deps: AppDeps, name: string): string {
  if (deps.config.archives.some((a) => a.name === name) || deps.repo.listArchives().some((a) => a.name === name)) return name;
  throw new AptfreezeError('NOT_FOUND', `unknown archive ${name}`);
}
