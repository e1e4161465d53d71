import type { IncomingMessage, ServerResponse } from 'node:http';
import { realpathSync, statSync, readFileSync, createReadStream, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { AptfreezeError, httpStatus } from '../errors.ts';
import type { Repo } from '../db/repo.ts';
import { decodeSegments, contentType, byHashElsewhere, latestByHash } from './static.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Files up to this size are kept in memory (keyed by path, inode, size and mtime). */
const smallFile = 64 * 1024;
const cacheEntries = 4096;

interface Cached {
  ino: number;
  size: number;
  mtimeMs: number;
  body: Buffer;
}

/**
 * The hot path of serving: plain GET/HEAD of the published tree without
 * express. Same rules as the express tree handler (which still answers Range
 * requests and everything else): decoded segments checked, the resolved path
 * must stay inside the archive's directory, 410 for collected serials. Small
 * files come from a bounded in-memory cache revalidated by one stat, large
 * ones stream in 1 MiB reads.
 */
export function fastTreeHandler(publicRoot: string, repo: Repo, isArchive: (name: string) => boolean, fallback: Handler): Handler {
  const rootReal = realpathSync(publicRoot);
  const cache = new Map<string, Cached>();
  const hot = new Map<string, Hot>();
  return (req, res) => {
    const url = req.url ?? '/';
    const method = req.method;
    if ((method !== 'GET' && method !== 'HEAD') || req.headers.range || url.startsWith('/api/') || url === '/api' || url.startsWith('/keys/')) return fallback(req, res);
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    // Immutable small files of numbered serials, by URL: one stat of the archive directory
    // (whose mtime changes when a serial is published or collected) instead of resolving the path.
    const h = hot.get(path);
    if (h) {
      let m = -1;
      try {
        m = statSync(h.archiveDir).mtimeMs;
      } catch {
        // archive gone: fall through
      }
      if (m === h.archiveMtimeMs) return sendHot(req, res, h);
      hot.delete(path);
    }
    let archiveMtimeMs = -1;
    let segs: string[];
    try {
      segs = decodeSegments(path);
    } catch (e) {
      return fail(res, e);
    }
    const [archive, serial] = segs;
    if (!archive || !serial || !isArchive(archive) || (!/^\d{10}$/.test(serial) && serial !== 'latest' && serial !== 'project')) {
      return fail(res, new AptfreezeError('NOT_FOUND', 'not found'));
    }
    const archiveReal = rootReal + sep + archive;
    try {
      archiveMtimeMs = statSync(archiveReal).mtimeMs;
    } catch {
      // unknown archive directory: not cached
    }
    let abs: string;
    let st: Stats | undefined;
    try {
      abs = realpathSync.native(join(archiveReal, ...segs.slice(1)));
      st = abs.startsWith(archiveReal + sep) ? statSync(abs) : undefined;
    } catch {
      st = undefined;
      abs = '';
    }
    if ((!st || !st.isFile()) && serial === 'latest' && latestByHash.test(segs.slice(2).join('/'))) {
      // An index of the serial latest pointed at a moment ago (see static.ts).
      abs = byHashElsewhere(archiveReal, repo, archive, segs.slice(2).join('/')) ?? '';
      try {
        st = abs ? statSync(abs) : undefined;
      } catch {
        st = undefined; // collected meanwhile
      }
    }
    if (!st || !st.isFile()) {
      if (/^\d{10}$/.test(serial) && repo.getSerial(archive, serial)?.state === 'collected') return fail(res, new AptfreezeError('GONE', `${archive}/${serial} was collected`));
      return fail(res, new AptfreezeError('NOT_FOUND', 'not found'));
    }
    const rel = segs.slice(2).join('/');
    const immutable = serial !== 'latest' && /^(pool\/|proof\.deb$)|\/by-hash\//.test(rel);
    const mtime = new Date(Math.floor(st.mtimeMs / 1000) * 1000);
    const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const lastModified = mtime.toUTCString();
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Cache-Control', immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=60');
    res.setHeader('ETag', etag);
    res.setHeader('Last-Modified', lastModified);
    res.setHeader('Content-Type', contentType(rel));
    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    if ((inm && inm.split(/\s*,\s*/).includes(etag)) || (!inm && ims && Date.parse(ims) >= mtime.getTime())) {
      res.statusCode = 304;
      return res.end();
    }
    res.setHeader('Content-Length', st.size);
    if (method === 'HEAD') return res.end();
    if (st.size <= smallFile) {
      let c = cache.get(abs);
      if (!c || c.ino !== st.ino || c.size !== st.size || c.mtimeMs !== st.mtimeMs) {
        const body = readFileSync(abs);
        c = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, body };
        if (cache.size >= cacheEntries) cache.delete(cache.keys().next().value!);
        cache.set(abs, c);
      }
      if (immutable && /^\d{10}$/.test(serial) && archiveMtimeMs >= 0) {
        if (hot.size >= cacheEntries) hot.delete(hot.keys().next().value!);
        hot.set(path, { archiveDir: archiveReal, archiveMtimeMs, body: c.body, etag, lastModified, mtimeMs: mtime.getTime(), contentType: contentType(rel) });
      }
      return res.end(c.body);
    }
    const stream = createReadStream(abs, { highWaterMark: 1 << 20 });
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };
}

interface Hot {
  archiveDir: string;
  archiveMtimeMs: number;
  body: Buffer;
  etag: string;
  lastModified: string;
  mtimeMs: number;
  contentType: string;
}

/** The same answer as the full path gives for an immutable small file, from the URL cache. */
function sendHot(req: IncomingMessage, res: ServerResponse, h: Hot): void {
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
  res.setHeader('ETag', h.etag);
  res.setHeader('Last-Modified', h.lastModified);
  res.setHeader('Content-Type', h.contentType);
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  if ((inm && inm.split(/\s*,\s*/).includes(h.etag)) || (!inm && ims && Date.parse(ims) >= h.mtimeMs)) {
    res.statusCode = 304;
    res.end();
    return;
  }
  res.setHeader('Content-Length', h.body.length);
  res.end(req.method === 'HEAD' ? undefined : h.body);
}

function fail(res: ServerResponse, e: unknown): void {
  const err = e instanceof AptfreezeError ? e : new AptfreezeError('NOT_FOUND', 'not found');
  const body = JSON.stringify({ error: { code: err.code, message: err.message } });
  res.statusCode = httpStatus(err.code);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
