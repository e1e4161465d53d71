import type { Request, Response, NextFunction } from 'express';
import send from 'send';
import { realpathSync, statSync, existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import type { Repo } from '../db/repo.ts';

const types: Array<[RegExp, string]> = [
  [/\.deb$|\.udeb$/, 'application/vnd.debian.binary-package'],
  [/\.gz$/, 'application/gzip'],
  [/\.xz$/, 'application/x-xz'],
  [/\.bz2$/, 'application/x-bzip2'],
  [/\.zst$/, 'application/zstd'],
  [/\.lz4$/, 'application/x-lz4'],
  [/\.gpg$/, 'application/pgp-signature'],
  [/\.asc$/, 'application/pgp-keys'],
  [/\.dsc$/, 'text/plain; charset=utf-8'],
  [/\/by-hash\/SHA256\/[0-9a-f]{64}$/, 'application/octet-stream'],
  [/(^|\/)(InRelease|Release|Packages|Sources|Translation-[^/.]+|Index)$/, 'text/plain; charset=utf-8'],
  [/\/project\/trace\/[^/]+$/, 'text/plain; charset=utf-8'],
];

export function contentType(path: string): string {
  for (const [re, t] of types) if (re.test(path)) return t;
  return 'application/octet-stream';
}

/** An archive is served if configured, or if it has a published tree (a removed config keeps serving history). */
export function archiveTest(configured: Iterable<string>, publicRoot: string): (name: string) => boolean {
  const names = new Set(configured);
  return (name) => names.has(name) || (/^[a-z0-9][a-z0-9.+-]*$/.test(name) && existsSync(join(publicRoot, name)));
}

/**
 * Splits and decodes a request path; refuses traversal in every form
 * (`..`, `%2e%2e`, an encoded slash or backslash, NUL) with 400, and any dot
 * name (staging dirs, temp files) with 404.
 */
export function decodeSegments(rawPath: string): string[] {
  const parts = rawPath.split('/').filter((p, i, a) => !(p === '' && (i === 0 || i === a.length - 1)));
  return parts.map((raw) => {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw new AptfreezeError('UNSAFE_PATH', 'malformed percent-encoding in the path');
    }
    if (seg === '' || seg === '.' || seg === '..' || /[\/\\\u0000-\u001f\u007f]/.test(seg)) {
      throw new AptfreezeError('UNSAFE_PATH', 'path refused');
    }
    if (seg.startsWith('.')) throw new AptfreezeError('NOT_FOUND', 'not found');
    return seg;
  });
}

/**
 * Serves the published tree: GET/HEAD, Range, ETag and Last-Modified (via
 * `send`), content types for APT's files. The resolved file must lie inside
 * the archive's directory after symlinks are followed. A missing file of a
 * collected serial is 410 Gone.
 */
export function treeHandler(publicRoot: string, repo: Repo, isArchive: (name: string) => boolean) {
  const rootReal = realpathSync(publicRoot);
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    let segs: string[];
    try {
      segs = decodeSegments(req.path);
    } catch (e) {
      return next(e);
    }
    const [archive, serial] = segs;
    if (!archive || !serial || !isArchive(archive)) return next(new AptfreezeError('NOT_FOUND', 'not found'));
    // tags/<name>/...: a tag's tree (server/tags/tree.ts), resolved like a serial's.
    if (!/^\d{10}$/.test(serial) && serial !== 'latest' && serial !== 'project' && serial !== 'tags') return next(new AptfreezeError('NOT_FOUND', 'not found'));
    const archiveReal = join(rootReal, archive);
    const rel = segs.slice(2).join('/');
    let abs: string;
    try {
      abs = resolveInside(archiveReal, segs.slice(1));
    } catch (e) {
      // latest/ moves at a publish: a client that read the previous InRelease asks latest/ for
      // its indices by hash. Like dak, which keeps earlier by-hash files, serve them from the
      // newest published serials that hold that hash (the same bytes, by construction).
      const earlier = serial === 'latest' && latestByHash.test(rel) ? byHashElsewhere(archiveReal, repo, archive, rel) : null;
      if (earlier) abs = earlier;
      else {
        if (/^\d{10}$/.test(serial) && repo.getSerial(archive, serial)?.state === 'collected') {
          return next(new AptfreezeError('GONE', `${archive}/${serial} was collected`));
        }
        return next(e instanceof AptfreezeError ? e : new AptfreezeError('NOT_FOUND', 'not found'));
      }
    }
    // Pool files and by-hash copies never change; Release files change on freeze; latest/ moves.
    const immutable = serial !== 'latest' && /^(pool\/|proof\.deb$)|\/by-hash\//.test(rel);
    // dotfiles 'allow': the URL's segments were refused above if any began with a dot; the resolved path may pass through .pools/.
    const stream = send(req, abs, { etag: true, lastModified: true, cacheControl: false, dotfiles: 'allow' });
    stream.on('headers', (r: Response) => {
      r.setHeader('Content-Type', contentType(rel));
      r.setHeader('Cache-Control', immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=60');
    });
    stream.on('error', (err: Error & { status?: number }) => next(err.status === 404 ? new AptfreezeError('NOT_FOUND', 'not found') : err));
    stream.pipe(res);
  };
}

/** A by-hash path under latest/, which may name an index of the serial latest pointed at a moment ago. */
export const latestByHash = /^dists\/.+\/by-hash\/SHA256\/[0-9a-f]{64}$/;

/** The real path of a file under the archive's directory (symlinks followed); NOT_FOUND if it is not a file inside it. */
function resolveInside(archiveReal: string, segs: string[]): string {
  const abs = realpathSync(join(archiveReal, ...segs));
  if (!abs.startsWith(archiveReal + sep)) throw new AptfreezeError('NOT_FOUND', 'not found');
  if (!statSync(abs).isFile()) throw new AptfreezeError('NOT_FOUND', 'not found');
  return abs;
}

/** A by-hash file of the newest published serials (at most 10 looked at), or null. */
export function byHashElsewhere(archiveReal: string, repo: Repo, archive: string, rel: string): string | null {
  for (const row of repo.listSerials(archive).slice(0, 10)) {
    try {
      return resolveInside(archiveReal, [row.serial, ...rel.split('/')]);
    } catch {
      // not in this one
    }
  }
  return null;
}
