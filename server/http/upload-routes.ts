import { Router, type Request, type Response, type NextFunction } from 'express';
import { AptfreezeError } from '../errors.ts';
import type { AppDeps } from './app.ts';
import { authorize, type Principal } from '../auth/tokens.ts';
import { bearer } from './api.ts';
import { UploadsService } from '../uploads/service.ts';
import { buildinfoPath } from '../uploads/buildinfo-files.ts';
import { checkUploadFileName } from '../uploads/changes.ts';

export const uploadRealm = 'aptfreeze uploads';

/**
 * The token of a request: `Authorization: Bearer <token>`, or HTTP Basic with
 * the token as the password (dput's http method answers a 401 with Basic
 * credentials; the user name is ignored). The header is never logged.
 */
export function uploadToken(req: Request): string | undefined {
  const b = bearer(req);
  if (b) return b;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i < 0 ? undefined : text.slice(i + 1) || undefined;
}

/** Reads and drops a request body (up to a limit), so that a client still sending gets the answer, not a reset. */
function drain(req: Request, limit = 64 * 1024 * 1024): Promise<void> {
  return new Promise((resolve) => {
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) resolve();
    });
    req.on('end', () => resolve());
    req.on('error', () => resolve());
    req.on('close', () => resolve());
  });
}

/**
 * dput's http method: `PUT /upload/<repository>/<file>` (or
 * `/upload/<repository>/<session>/<file>`, to run uploads side by side under
 * one token), one file after the other, the .changes last. Authenticated by a
 * token of role uploader (or admin); the answer to the .changes is the
 * upload's result, or its refusal with one error code.
 */
export function uploadRouter(deps: AppDeps, uploads: UploadsService): Router {
  const r = Router();
  const who = async (req: Request): Promise<Principal> => {
    const p = deps.tokens.authenticate(uploadToken(req));
    if (!p) {
      await drain(req);
      throw new AptfreezeError('UNAUTHORIZED', 'an uploader token is required (HTTP Basic, the token as password, or Bearer)');
    }
    return authorize(p, 'upload');
  };
  const put = async (req: Request, res: Response, session: string) => {
    const principal = await who(req);
    const repository = String(req.params['repository']);
    const file = checkUploadFileName(String(req.params['file']));
    const out = await uploads.put(repository, session, file, req, principal.name);
    res.status(out.upload && out.upload.noop ? 200 : 201).json(out);
  };
  r.put('/:repository/:file', (req, res) => put(req as Request, res, ''));
  r.put('/:repository/:session/:file', (req, res) => put(req as Request, res, String(req.params['session'])));
  r.use((_req: Request, _res: Response, next: NextFunction) => next(new AptfreezeError('NOT_FOUND', 'uploads take PUT /upload/<repository>/[<session>/]<file>')));
  return r;
}

/**
 * Adds the 401 challenge dput needs to send Basic credentials. A refusal
 * before the body was read (over the cap, a conflict found early) drains what
 * is left, so the client reads the answer instead of a reset, and closes the
 * connection.
 */
export function uploadChallenge(err: unknown, req: Request, res: Response, next: NextFunction): void {
  if (err instanceof AptfreezeError && err.code === 'UNAUTHORIZED') res.setHeader('WWW-Authenticate', `Basic realm="${uploadRealm}"`);
  if (req.complete) return next(err);
  res.setHeader('Connection', 'close');
  void drain(req).then(() => next(err));
}

/** Kept .buildinfo files: `GET /<repository>/buildinfo/<first letter>/<source>/<file>`. */
export function buildinfoRouter(deps: AppDeps): Router {
  const r = Router();
  r.get('/:repository/buildinfo/:letter/:source/:file', (req, res, next) => {
    const { repository, letter, source, file } = req.params as Record<string, string>;
    if (!deps.config.repositories.some((x) => x.name === repository) || letter !== source[0] || !/^[a-z0-9][a-z0-9+.-]+$/.test(source) || !file.endsWith('.buildinfo')) {
      return next(new AptfreezeError('NOT_FOUND', 'not found'));
    }
    let rel: string;
    try {
      rel = buildinfoPath(repository, source, checkUploadFileName(file));
    } catch (e) {
      return next(e);
    }
    res.type('text/plain');
    res.sendFile(deps.publisher.reads.localFile(rel), { dotfiles: 'deny' }, (e) => e && next(new AptfreezeError('NOT_FOUND', 'not found')));
  });
  return r;
}

/** Reads: `GET /api/repositories/<name>/uploads`: accepted uploads, signer, serial, build environment, Build-Tainted-By. */
export function repositoryApi(deps: AppDeps, uploads: UploadsService): Router {
  const r = Router();
  r.get('/:repository/uploads', (req, res) => {
    const cfg = uploads.repository(req.params['repository']!);
    res.json({
      repository: cfg.name,
      uploads: uploads.catalog.uploadsOf(cfg.name).map((u) => ({
        id: u.id,
        suite: u.suite,
        source: u.source,
        version: u.version,
        signer: u.signer,
        actor: u.actor,
        acceptedAt: u.accepted_at,
        serial: u.serial,
        changes: u.changes_name,
        buildinfo: u.buildinfo_name,
        buildEnv: u.build_env ? JSON.parse(u.build_env) : null,
        buildTaintedBy: (u.tainted_by ?? '').split(/\s+/).filter(Boolean),
      })),
    });
  });
  return r;
}
