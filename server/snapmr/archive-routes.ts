import type { Request, Response, NextFunction } from 'express';
import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import { decodeSegments } from '../http/tree-request.ts';
import { escapeHtml } from '../web/html.ts';
import { formatStamp, parseArchiveId, serialAt, stampRe } from './stamps.ts';

export type ArchiveRouteDeps = Pick<Services, 'repo' | 'publisher' | 'config' | 'now'> & { isArchive: (name: string) => boolean };

/**
 * Time-addressed reads, as snapshot.debian.org answers them:
 *
 * - `/archive/<archive>/<id>/<path>`: `<id>` a serial, `YYYYMMDD`, `YYYYMMDDTHHMMSSZ` or `now`,
 *   resolved to the newest serial published at or before it. A directory is redirected (301) to
 *   its canonical URL, the serial's own publication stamp (debbisect parses that Location as
 *   `%Y%m%dT%H%M%S%z/`), and listed there; a file is served at once, whatever the id.
 * - `/<archive>/<YYYYMMDDTHHMMSSZ>/<path>`: a serial under its publication stamp (DESIGN.md).
 *
 * A file is handed to the tree handler as `/<archive>/<serial>/<path>`, with its rules (410 for
 * a collected serial, traversal refused).
 */
export function archiveRoutes(deps: ArchiveRouteDeps) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const timeAddressed = req.path.startsWith('/archive/');
    if (!timeAddressed && !/^\/[^/]+\/\d{8}T\d{6}Z(\/|$)/.test(req.path)) return next();
    const segs = decodeSegments(req.path);
    const [archive, id] = timeAddressed ? segs.slice(1) : segs;
    const rest = segs.slice(timeAddressed ? 3 : 2);
    if (!archive || !id || !deps.isArchive(archive)) throw new AptfreezeError('NOT_FOUND', 'not found');
    const serials = deps.repo.listSerials(archive, { includeCollected: true });
    let row;
    if (timeAddressed) {
      const parsed = parseArchiveId(id, deps.now());
      if (!parsed) throw new AptfreezeError('NOT_FOUND', `not a serial, YYYYMMDD, YYYYMMDDTHHMMSSZ or now: ${id}`);
      row = parsed.kind === 'serial' ? serials.find((s) => s.serial === parsed.serial) : serialAt(serials, parsed.at);
    } else {
      row = stampRe.test(id) ? serials.find((s) => s.published_at && formatStamp(new Date(s.published_at)) === id) : undefined;
    }
    if (!row) throw new AptfreezeError('NOT_FOUND', `no serial of ${archive} at ${id}`);
    if (row.state === 'collected') throw new AptfreezeError('GONE', `${archive}/${row.serial} was collected`);
    const stamp = formatStamp(new Date(row.published_at!));
    const dir = deps.publisher.reads.isDirectory(archive, [row.serial, ...rest]);
    const relUrl = rest.map(encodeURIComponent).join('/');
    if (dir && (id !== stamp || !req.path.endsWith('/'))) {
      const base = timeAddressed ? `${deps.config.baseUrl.replace(/\/+$/, '')}/archive/${archive}` : `${deps.config.baseUrl.replace(/\/+$/, '')}/${archive}`;
      res.setHeader('Cache-Control', 'public, max-age=60');
      return res.redirect(301, `${base}/${stamp}/${relUrl}${relUrl ? '/' : ''}`);
    }
    if (dir) return listing(res, req.path, deps.publisher.reads.listDirectory(archive, [row.serial, ...rest]) ?? []);
    // A file: the tree handler serves it under its serial.
    const q = req.url.indexOf('?');
    req.url = `/${encodeURIComponent(archive)}/${row.serial}/${relUrl}${q < 0 ? '' : req.url.slice(q)}`;
    res.locals['treeRewrite'] = true;
    next();
  };
}

/** A plain HTML listing of a directory of a serial (dot names left out, as the tree never serves them). */
function listing(res: Response, urlPath: string, entries: Array<{ name: string; isDir: boolean }>): void {
  const title = escapeHtml(urlPath);
  const items = [{ name: '..', isDir: true }, ...entries]
    .map((e) => `<li><a href="${escapeHtml(encodeURIComponent(e.name))}${e.isDir ? '/' : ''}">${escapeHtml(e.name)}${e.isDir ? '/' : ''}</a></li>`)
    .join('\n');
  res.setHeader('Cache-Control', 'public, max-age=60');
  res.type('html').send(`<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title></head>\n<body><h1>${title}</h1>\n<ul>\n${items}\n</ul>\n<p><a href="/">aptfreeze</a></p></body></html>\n`);
}
