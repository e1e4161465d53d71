import express, { type Request, type Response, type NextFunction } from 'express';
import { AptfreezeError, asAptfreezeError, httpStatus } from '../errors.ts';
import type { Services } from '../services.ts';
import { apiRouter } from './api.ts';
import type { OpsClient } from '../ops/client.ts';

import { mountPeople } from '../web/mount.ts';
import type { HttpMetrics } from '../metrics/http.ts';
import { uploadRouter, uploadChallenge, buildinfoRouter, repositoryApi } from './upload-routes.ts';
import { UploadsService } from '../uploads/service.ts';

export interface AppDeps extends Services {
  /** Where mutations go: the operations runner (server/ops/), in this process or through the control socket. */
  ops: OpsClient;
  /** This process's HTTP counters (made by the daemon, which also counts the tree's answers). */
  metrics?: HttpMetrics;
  /** The published tree's serving module, set once it exists (it is made after the app it falls back to). */
  tree?: { handle?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void };
}

/** The HTTP face: the JSON API under /api and the keys (the published tree is served in front of it: serve-tree.ts). */
export function createApp(deps: AppDeps) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  // Custom repositories (server/uploads/): dput's PUTs, the API's uploads list, kept .buildinfo files.
  const uploads = new UploadsService(deps, deps.ops);
  app.use('/upload', uploadRouter(deps, uploads), uploadChallenge);
  app.use('/api/repositories', repositoryApi(deps, uploads));
  app.use(buildinfoRouter(deps));
  app.use('/api', apiRouter(deps));
  app.get(['/keys/aptfreeze.asc', '/keys/aptfreeze.gpg'], (req, res, next) => {
    const f = req.path.endsWith('.asc') ? 'aptfreeze.asc' : 'aptfreeze.gpg';
    res.type(f.endsWith('.asc') ? 'application/pgp-keys' : 'application/octet-stream');
    res.sendFile(deps.publisher.reads.localFile(`keys/${f}`), { dotfiles: 'deny' }, (e) => e && next(e));
  });
  mountPeople(app, deps);
  // A request the people's side rewrote to a serial's file (/archive/<a>/<id>/…) goes to the tree's serving module.
  // Only such a rewritten request: the tree hands everything else to this app, and would hand it back.
  app.use((req: Request, res: Response, next: NextFunction) => (res.locals['treeRewrite'] === true && deps.tree?.handle ? deps.tree.handle(req, res) : next()));
  app.use((_req: Request, _res: Response, next: NextFunction) => next(new AptfreezeError('NOT_FOUND', 'not found')));
  app.use(errorMiddleware(deps));
  return app;
}

/** The one error middleware: codes to statuses, a JSON body, no stack traces to clients. */
export function errorMiddleware(deps: Pick<Services, 'log'>) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const bodyError = err as { type?: string; status?: number };
    let e: AptfreezeError;
    if (bodyError?.type === 'entity.too.large') e = new AptfreezeError('PAYLOAD_TOO_LARGE', 'request body too large');
    else if (bodyError?.type === 'entity.parse.failed') e = new AptfreezeError('BAD_REQUEST', 'request body is not valid JSON');
    // The client's fault, reported by express itself: an undecodable %-escape in a route parameter
    // (URIError, status 400), an unsupported charset or content encoding, a corrupt gzip body (400/415).
    else if (err instanceof URIError) e = new AptfreezeError('BAD_REQUEST', 'malformed percent-encoding in the URL');
    else if (!(err instanceof AptfreezeError) && typeof bodyError?.status === 'number' && bodyError.status >= 400 && bodyError.status < 500) {
      e = new AptfreezeError('BAD_REQUEST', `request refused: ${(err as Error).message}`);
    } else e = asAptfreezeError(err);
    const status = httpStatus(e.code);
    if (status >= 500) deps.log.error({ code: e.code, path: req.path, err: e.message }, 'request failed');
    if (res.headersSent) return res.end();
    res.status(status).json({ error: { code: e.code, message: e.message } });
  };
}
