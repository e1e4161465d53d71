// The stateless reader (issue 15): answers the published tree — `/<archive>/<serial>/…`,
// `/<archive>/latest/…`, by-hash and pool paths — from the publication catalog (PostgreSQL) and
// the object store, with no data directory. A path resolves through the serial's file list to a
// blob, streamed from the store (a Range becomes a ranged GetObject). `latest` is read from the
// catalog per request, through a short in-process cache. The path rules (traversal, dot names,
// what is immutable) are tree-request.ts's, shared with the filesystem server.
import express, { type NextFunction, type Request, type Response } from 'express';
import { AptfreezeError } from '../errors.ts';
import type { BlobStore } from '../store/port.ts';
import type { PgPublicationCatalog } from '../catalog/pg-publication.ts';
import type { Services } from '../services.ts';
import { errorMiddleware } from './app.ts';
import { contentType, decodeSegments, requestedRange, serialRe, treePath, validators } from './tree-request.ts';

export interface ReaderDeps {
  catalog: Pick<PgPublicationCatalog, 'latest' | 'serial' | 'file' | 'supersededFile' | 'key' | 'latestMove'>;
  blobs: Pick<BlobStore, 'readStream'>;
  log: Services['log'];
  /** How long a reader trusts its last look at `latest` (default 1 s). */
  latestTtlMs?: number;
  /** Cache-Control max-age of latest/ answers (default 10 s). */
  latestMaxAgeSeconds?: number;
  /**
   * How long after `latest` moved on its previous serials' by-hash indices stay answerable under
   * latest/ (default 1 h; 0: never): a client that read the old InRelease asks for them next.
   */
  byHashGraceMs?: number;
  /** The clock of that grace (default the system's). */
  now?: () => Date;
}

export const immutableCacheControl = 'public, max-age=31536000, immutable';

export function createReaderApp(deps: ReaderDeps): express.Express {
  const ttl = deps.latestTtlMs ?? 1000;
  const byHashGrace = deps.byHashGraceMs ?? 3_600_000;
  const now = deps.now ?? (() => new Date());
  const latestCache = new Map<string, { serial: string | null; at: number }>();
  const latestOf = async (archive: string): Promise<string | null> => {
    const hit = latestCache.get(archive);
    if (hit && Date.now() - hit.at < ttl) return hit.serial;
    const serial = await deps.catalog.latest(archive);
    latestCache.set(archive, { serial, at: Date.now() });
    return serial;
  };

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true, role: 'reader' });
  });
  // The service's public key, as the writer exported it (s3/exporter.ts): what `signed-by` names.
  app.get(['/keys/aptfreeze.asc', '/keys/aptfreeze.gpg'], async (req: Request, res: Response, next: NextFunction) => {
    try {
      const name = req.path.endsWith('.asc') ? 'aptfreeze.asc' : 'aptfreeze.gpg';
      const k = await deps.catalog.key(name);
      if (!k) throw new AptfreezeError('NOT_FOUND', `${name} has not been exported by the writer yet`);
      res.setHeader('Content-Type', name.endsWith('.asc') ? 'application/pgp-keys' : 'application/octet-stream');
      res.setHeader('Content-Length', String(k.size));
      res.setHeader('Cache-Control', 'public, max-age=300');
      res.setHeader('ETag', `"${k.sha256}"`);
      if (req.method === 'HEAD') return void res.end();
      for await (const chunk of deps.blobs.readStream(k.sha256)) if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      res.end();
    } catch (e) {
      next(e);
    }
  });
  // The trace file (`Archive serial:` names latest), from the catalog's latest and when it moved.
  app.get('/:archive/project/trace/:name', async (req: Request, res: Response, next: NextFunction) => {
    try {
      const { archive, name } = req.params as Record<string, string>;
      const move = name === archive ? await deps.catalog.latestMove(archive) : null;
      if (!move) throw new AptfreezeError('NOT_FOUND', 'not found');
      res.setHeader('Cache-Control', `public, max-age=${deps.latestMaxAgeSeconds ?? 10}`);
      res.type('text/plain').send(`Date: ${new Date(move.movedAt).toUTCString()}\nArchive serial: ${move.serial}\nCreator: aptfreeze\n`);
    } catch (e) {
      next(e);
    }
  });
  app.use(async (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    try {
      const raw = req.originalUrl.split('?')[0]!;
      const p = treePath(decodeSegments(raw));
      const viaLatest = p.serial === 'latest';
      if (!viaLatest && !serialRe.test(p.serial)) throw new AptfreezeError('NOT_FOUND', 'not found');
      const serial = viaLatest ? await latestOf(p.archive) : p.serial;
      if (!serial) throw new AptfreezeError('NOT_FOUND', `archive ${p.archive} has published nothing`);
      const row = await deps.catalog.serial(p.archive, serial);
      if (!row) throw new AptfreezeError('NOT_FOUND', 'not found');
      if (row.collectedAt) throw new AptfreezeError('GONE', `serial ${p.archive}/${serial} was collected at ${row.collectedAt}`);
      let f = await deps.catalog.file(p.archive, serial, p.rel);
      if (!f && viaLatest && byHashGrace > 0 && /\/by-hash\//.test(p.rel)) f = await deps.catalog.supersededFile(p.archive, p.rel, new Date(now().getTime() - byHashGrace));
      if (!f) {
        // Collected between the two reads (gc's mark drops the file rows): 410, not a torn 404.
        const again = await deps.catalog.serial(p.archive, serial);
        if (again?.collectedAt) throw new AptfreezeError('GONE', `serial ${p.archive}/${serial} was collected at ${again.collectedAt}`);
        throw new AptfreezeError('NOT_FOUND', 'not found');
      }
      // Immutable: everything under a serial but its signed Release files (re-signed on freeze/thaw), and by-hash/pool anywhere.
      const signed = /^dists\/.+\/(InRelease|Release|Release\.gpg)$/.test(p.rel);
      const immutable = /^(pool\/|proof\.deb$)|\/by-hash\//.test(p.rel) || (!viaLatest && !signed);
      res.setHeader('Cache-Control', immutable ? immutableCacheControl : `public, max-age=${viaLatest ? (deps.latestMaxAgeSeconds ?? 10) : 60}`);
      res.setHeader('Content-Type', contentType(p.rel));
      res.setHeader('Accept-Ranges', 'bytes');
      // A strong validator: the content hash.
      res.setHeader('ETag', `"${f.sha256}"`);
      if (req.headers['if-none-match']?.split(/\s*,\s*/).includes(`"${f.sha256}"`)) return void res.status(304).end();
      const range = requestedRange(req.headers.range, undefined, f.size, validators(f.size, 0));
      if (range === 'unsatisfiable') {
        res.setHeader('Content-Range', `bytes */${f.size}`);
        throw new AptfreezeError('BAD_REQUEST', 'range not satisfiable');
      }
      if (range) {
        res.status(206);
        res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${f.size}`);
        res.setHeader('Content-Length', String(range.end - range.start + 1));
      } else res.setHeader('Content-Length', String(f.size));
      if (req.method === 'HEAD' || f.size === 0) return void res.end();
      for await (const chunk of deps.blobs.readStream(f.sha256, range ?? undefined)) {
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
    } catch (e) {
      if (e instanceof AptfreezeError && e.message === 'range not satisfiable') {
        return void res.status(416).json({ error: { code: e.code, message: e.message } });
      }
      next(e);
    }
  });
  app.use((_req: Request, _res: Response, next: NextFunction) => next(new AptfreezeError('NOT_FOUND', 'not found')));
  app.use(errorMiddleware(deps));
  return app;
}
