import type { IncomingMessage, ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
import { AptfreezeError, httpStatus } from '../errors.ts';
import type { TreeFile, TreeSource } from './tree-source.ts';
import {
  decodeSegments, firstSegment, treePath, isImmutable, cacheControl, contentType, validators, conditionalStatus, requestedRange, latestByHash, serialRe,
  type TreePath, type Validators, type ByteRange,
} from './tree-request.ts';

/**
 * The one serving module of the published tree (`/<archive>/<serial|latest|project>/…`):
 * resolution and its rules, GET and HEAD, conditional requests, Range, and the memory caches.
 * Everything else (the API, the keys, pages) goes to `fallback`.
 *
 * Rules, each in one place: the URL is decoded once and refused on traversal (400) or a dot
 * name (404) (tree-request.ts); the file must lie inside the archive after symlinks are
 * followed (the source's lookup); a numbered serial the catalog says was collected is 410;
 * `latest/…/by-hash/` also answers from the serials published just before (resolve below).
 *
 * Caches, both bounded in bytes (`cacheBytes` in all; each entry's size is its body plus its
 * bookkeeping), both checked against a fresh lookup, so a file renamed over (re-signing) or
 * removed (gc) is never answered from memory:
 * - file bodies by storage key (an inode: a pool file linked from many serials is one entry),
 *   up to a quarter of the body budget per file; bigger ones stream. Why keep large files in
 *   memory at all: Node has no sendfile, and streaming an 11 MB index costs a read into user
 *   space plus the JS stream machinery per 1 MiB for every request; a Buffer in memory is
 *   written with one `res.end(buf)` (libuv writes it as the socket drains). Measured on 2
 *   shared cores, 2 workers, wrk -t2 -c32, an 11.3 MB Packages.gz, alternating with nginx
 *   (sendfile on) on the same tree, quiet machine: streaming 1.8-2.1 GB/s (80-85% of nginx's
 *   2.1-2.6 GB/s), the cached Buffer 2.5-3.1 GB/s (115-120% of nginx).
 * - small immutable files of numbered serials by URL, with their response headers prepared
 *   as a list for writeHead: one stat of the archive (its stamp changes when a serial is
 *   published or collected) instead of resolving the path, and no per-request header map
 *   (about 10% more requests/s on a 2 kB pool file: 35k against 32k, median of 12 paired runs).
 * What the budget does not count: bodies still being written to slow clients after their
 * eviction, and reads in flight (one per file and version at a time).
 */
export interface TreeServerOptions {
  /** Byte budget of this process's caches (each `serve --workers` worker has its own); 0 disables them. */
  cacheBytes?: number;
  /** Files up to this size are read synchronously and may be kept by URL. */
  smallFileBytes?: number;
  /** The largest file kept in memory (default a quarter of the body budget, so one huge file cannot flush the rest). */
  maxCachedFile?: number;
  /** Told of every answer a cache gave (for /metrics). */
  onCacheHit?: (cache: 'url' | 'small' | 'large') => void;
}

/** What the serving module asks the catalog: no SQL, no rows. */
export interface ServingCatalog {
  /** Whether a serial of the archive existed and was collected (410 rather than 404). */
  isCollected(archive: string, serial: string): boolean;
  /** The newest published serials of the archive, newest first, at most `n`. */
  newestSerials(archive: string, n: number): string[];
}

/** Default of `serve.cacheBytes`: per worker, within the 128 MiB the issue allows. */
export const defaultCacheBytes = 128 * 1024 * 1024;
const defaultSmallFile = 64 * 1024;
/** Bytes an entry costs beyond its body (key, object, list node): so that 10,000 empty files are not free. */
const entryOverhead = 256;

export interface CacheStats {
  budget: number;
  files: { bytes: number; entries: number; max: number };
  urls: { bytes: number; entries: number; max: number };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** The serving module as the daemon holds it. */
export interface TreeServing {
  readonly handle: Handler;
  cacheStats(): CacheStats;
}

interface Body {
  version: string;
  body: Buffer;
}

interface Hot {
  archive: string;
  stamp: number;
  body: Buffer;
  v: Validators;
  /** The response headers as writeHead takes them (name, value, …): for a 304, and for a 200 (with Content-Length). */
  notModified: string[];
  ok: string[];
}

interface Resolved<F extends TreeFile> {
  path: TreePath;
  file: F;
}

export class TreeServer<F extends TreeFile> implements TreeServing {
  private readonly files: LRUCache<string, Body> | null;
  private readonly urls: LRUCache<string, Hot> | null;
  private readonly pending = new Map<string, { version: string; body: Promise<Buffer | null> }>();
  private readonly smallFile: number;
  readonly budget: number;
  private readonly onCacheHit: (cache: 'url' | 'small' | 'large') => void;

  constructor(
    private readonly source: TreeSource<F>,
    private readonly catalog: ServingCatalog,
    private readonly fallback: Handler,
    opts: TreeServerOptions = {},
  ) {
    this.budget = opts.cacheBytes ?? defaultCacheBytes;
    this.onCacheHit = opts.onCacheHit ?? (() => {});
    this.smallFile = opts.smallFileBytes ?? defaultSmallFile;
    // A quarter for small files by URL, the rest for bodies: a Debian suite's hot set is a few
    // large indices, and each URL entry holds a body the file cache may hold too (counted twice).
    const urlBytes = Math.floor(this.budget / 4);
    const fileBytes = this.budget - urlBytes;
    this.urls = urlBytes > this.smallFile + entryOverhead ? new LRUCache({ maxSize: urlBytes, sizeCalculation: (h) => h.body.length + entryOverhead }) : null;
    this.files = fileBytes > entryOverhead ? new LRUCache({ maxSize: fileBytes, maxEntrySize: opts.maxCachedFile !== undefined ? opts.maxCachedFile + entryOverhead : Math.floor(fileBytes / 4), sizeCalculation: (b) => b.body.length + entryOverhead }) : null;
  }

  /** The caches' own accounting (lru-cache's calculatedSize), for tests and metrics. */
  cacheStats(): CacheStats {
    const of = (c: LRUCache<string, Body> | LRUCache<string, Hot> | null) => ({ bytes: c?.calculatedSize ?? 0, entries: c?.size ?? 0, max: c?.maxSize ?? 0 });
    return { budget: this.budget, files: of(this.files), urls: of(this.urls) };
  }

  readonly handle: Handler = (req, res) => void this.serve(req, res, 0);

  private serve(req: IncomingMessage, res: ServerResponse, attempt: number): void {
    const method = req.method;
    const url = req.url ?? '/';
    if (method !== 'GET' && method !== 'HEAD') return this.fallback(req, res);
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const hot = this.urls?.get(rawPath);
    if (hot && req.headers.range === undefined) {
      if (this.source.archiveStamp(hot.archive)?.stamp === hot.stamp) {
        this.onCacheHit('url');
        return sendHot(req, res, hot);
      }
      this.urls!.delete(rawPath);
    }
    const first = firstSegment(rawPath);
    if (first === null || first === 'api' || first === 'keys' || !this.source.hasArchive(first)) return this.fallback(req, res);
    // The file changed between lookup and read, again and again (a freeze storm): give up cleanly.
    if (attempt > 3) return fail(res, new AptfreezeError('CONFLICT', 'the file changed while being read; retry'));
    const again = () => {
      if (!res.destroyed) this.serve(req, res, attempt + 1);
    };
    let found: Resolved<F>;
    try {
      found = this.resolve(decodeSegments(rawPath));
    } catch (e) {
      return fail(res, e);
    }
    const { path, file } = found;
    const immutable = isImmutable(path);
    const v = validators(file.size, file.mtimeMs);
    const headers = ['Accept-Ranges', 'bytes', 'Cache-Control', cacheControl(immutable), 'ETag', v.etag, 'Last-Modified', v.lastModified, 'Content-Type', contentType(path.rel)];
    const cond = conditionalStatus(req.headers, v);
    if (cond !== null) {
      res.writeHead(cond, headers);
      return void res.end();
    }
    const range = requestedRange(req.headers.range, header(req.headers['if-range']), file.size, v);
    if (range === 'unsatisfiable') {
      const body = JSON.stringify({ error: { code: 'BAD_REQUEST', message: 'range not satisfiable' } });
      res.writeHead(416, ['Content-Range', `bytes */${file.size}`, 'Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body))]);
      return void res.end(body);
    }
    if (method === 'HEAD') {
      res.writeHead(200, [...headers, 'Content-Length', String(file.size)]);
      return void res.end();
    }
    const send = (body: Buffer) => {
      if (res.destroyed) return;
      if (range) {
        res.writeHead(206, [...headers, 'Content-Range', `bytes ${range.start}-${range.end}/${file.size}`, 'Content-Length', String(range.end - range.start + 1)]);
        res.end(body.subarray(range.start, range.end + 1));
      } else {
        res.writeHead(200, [...headers, 'Content-Length', String(body.length)]);
        res.end(body);
      }
    };
    const cached = this.files?.get(file.key);
    if (cached && cached.version === file.version) {
      this.onCacheHit(file.size <= this.smallFile ? 'small' : 'large');
      return send(cached.body);
    }
    if (file.size <= this.smallFile) {
      const body = this.source.readSync(file);
      if (!body) return again();
      this.files?.set(file.key, { version: file.version, body });
      if (immutable && this.urls && range === null) this.keepUrl(rawPath, path.archive, body, v, headers);
      return send(body);
    }
    if (this.files && file.size + entryOverhead <= this.files.maxEntrySize) {
      return void this.fill(file).then((b) => (b ? send(b) : again()), () => res.destroy());
    }
    this.streamFile(res, file, headers, range, again);
  }

  /**
   * The resolution of a decoded URL, and its rules: the one function to extend with another
   * kind of path. NOT_FOUND or GONE when there is no file to serve.
   */
  private resolve(segs: string[]): Resolved<F> {
    const path = treePath(segs);
    const { archive, serial, rel } = path;
    let file = this.source.lookup(archive, segs.slice(1));
    // latest/ moves at a publish: a client that read the previous InRelease asks latest/ for its
    // indices by hash. Like dak, which keeps earlier by-hash files, serve them from the newest
    // published serials that hold that hash (the same bytes, by construction).
    if (!file && serial === 'latest' && latestByHash.test(rel)) {
      for (const s of this.catalog.newestSerials(archive, 10)) {
        file = this.source.lookup(archive, [s, ...segs.slice(2)]);
        if (file) break;
      }
    }
    if (file) return { path, file };
    if (serialRe.test(serial) && this.catalog.isCollected(archive, serial)) throw new AptfreezeError('GONE', `${archive}/${serial} was collected`);
    throw new AptfreezeError('NOT_FOUND', 'not found');
  }

  /** Reads a file into the body cache, one read at a time per file and version; null if it is no longer that version. */
  private fill(file: F): Promise<Buffer | null> {
    const p = this.pending.get(file.key);
    if (p && p.version === file.version) return p.body;
    const body = this.source.read(file).then((b) => {
      if (this.pending.get(file.key)?.body === body) this.pending.delete(file.key);
      if (b) this.files?.set(file.key, { version: file.version, body: b });
      return b;
    });
    this.pending.set(file.key, { version: file.version, body });
    return body;
  }

  /**
   * A small immutable file of a numbered serial, kept by URL with its headers. Only once the
   * archive's stamp has settled: an entry made against a stamp that can still change within
   * the same tick could outlive a removal.
   */
  private keepUrl(rawPath: string, archive: string, body: Buffer, v: Validators, headers: string[]): void {
    const st = this.source.archiveStamp(archive);
    if (!st?.settled || !this.urls) return;
    this.urls.set(rawPath, { archive, stamp: st.stamp, body, v, notModified: headers, ok: [...headers, 'Content-Length', String(body.length)] });
  }

  private streamFile(res: ServerResponse, file: F, headers: string[], range: ByteRange | null, again: () => void): void {
    const start = range?.start ?? 0;
    const end = range?.end ?? file.size - 1;
    const stream = file.size === 0 ? null : this.source.stream(file, start, end);
    if (file.size > 0 && !stream) return again();
    res.writeHead(range ? 206 : 200, [...headers, ...(range ? ['Content-Range', `bytes ${start}-${end}/${file.size}`] : []), 'Content-Length', String(end - start + 1)]);
    if (!stream) return void res.end();
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  }
}

/** The answer for an immutable small file from the URL cache: the same as the full path gives. */
function sendHot(req: IncomingMessage, res: ServerResponse, h: Hot): void {
  const cond = conditionalStatus(req.headers, h.v);
  if (cond !== null) {
    res.writeHead(cond, h.notModified);
    return void res.end();
  }
  res.writeHead(200, h.ok);
  res.end(req.method === 'HEAD' ? undefined : h.body);
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function fail(res: ServerResponse, e: unknown): void {
  const err = e instanceof AptfreezeError ? e : new AptfreezeError('NOT_FOUND', 'not found');
  const body = JSON.stringify({ error: { code: err.code, message: err.message } });
  res.writeHead(httpStatus(err.code), ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body))]);
  res.end(body);
}

/** The catalog's part of serving, from the repository's queries. */
export function servingCatalog(repo: { getSerial(a: string, s: string): { state: string } | undefined; listSerials(a: string): Array<{ serial: string }> }): ServingCatalog {
  return {
    isCollected: (a, s) => repo.getSerial(a, s)?.state === 'collected',
    newestSerials: (a, n) => repo.listSerials(a).slice(0, n).map((r) => r.serial),
  };
}
