import { AptfreezeError } from '../errors.ts';

/**
 * The pure part of serving the published tree: what a request path means and which answer
 * the HTTP rules (RFC 9110: validators, conditional requests, ranges) give. No I/O here; the
 * serving module (serve-tree.ts) asks its source for files and applies these.
 */

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

/** The first segment of a raw path, decoded, or null (to tell an archive's URL from the service's other routes). */
export function firstSegment(rawPath: string): string | null {
  const end = rawPath.indexOf('/', 1);
  try {
    return decodeURIComponent(rawPath.slice(1, end < 0 ? undefined : end)) || null;
  } catch {
    return null;
  }
}

export const serialRe = /^\d{10}$/;

/** A by-hash path under latest/, which may name an index of the serial latest pointed at a moment ago. */
export const latestByHash = /^dists\/.+\/by-hash\/SHA256\/[0-9a-f]{64}$/;

/** What the tree's URL names: `<archive>/<serial|latest|project>/<rel>`. */
export interface TreePath {
  archive: string;
  /** A ten-digit serial, `latest`, `project` (the trace file) or `tags`. */
  serial: string;
  /** The path below it, e.g. `dists/bookworm/InRelease`. */
  rel: string;
  segs: string[];
}

/** The tree path of decoded segments, or NOT_FOUND. Another kind of top directory (tags/) is added here. */
export function treePath(segs: string[]): TreePath {
  const [archive, serial] = segs;
  // tags/<name>/...: a tag's tree (server/publish/tag-tree.ts), resolved like a serial's.
  if (!archive || !serial || segs.length < 3 || (!serialRe.test(serial) && serial !== 'latest' && serial !== 'project' && serial !== 'tags')) {
    throw new AptfreezeError('NOT_FOUND', 'not found');
  }
  return { archive, serial, rel: segs.slice(2).join('/'), segs };
}

/** Pool files, by-hash copies and proof packages of a serial never change; Release files change on freeze; latest/ moves. */
export function isImmutable(p: TreePath): boolean {
  return serialRe.test(p.serial) && /^(pool\/|proof\.deb$)|\/by-hash\//.test(p.rel);
}

export function cacheControl(immutable: boolean): string {
  return immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=60';
}

export interface Validators {
  etag: string;
  lastModified: string;
  /** Last-Modified as a time (whole seconds, as the header carries it). */
  modifiedMs: number;
}

/** A weak ETag of size and modification time (the form `send` gave, so validators survived the change of server) and Last-Modified. */
export function validators(size: number, mtimeMs: number): Validators {
  const modifiedMs = Math.floor(mtimeMs / 1000) * 1000;
  return { etag: `W/"${size.toString(16)}-${mtimeMs.toString(16)}"`, lastModified: new Date(modifiedMs).toUTCString(), modifiedMs };
}

export interface ConditionalHeaders {
  'if-none-match'?: string;
  'if-modified-since'?: string;
  'if-match'?: string;
  'if-unmodified-since'?: string;
}

const etagList = (h: string) => h.split(/\s*,\s*/).map((t) => t.replace(/^W\//, ''));

/**
 * RFC 9110 section 13.2.2 in its order: If-Match / If-Unmodified-Since fail with 412, then
 * If-None-Match / If-Modified-Since answer 304 (a GET or HEAD); null: answer in full.
 * ETags compare weakly for If-None-Match (13.1.2) and strongly for If-Match, which a weak
 * ETag never satisfies except through `*`.
 */
export function conditionalStatus(h: ConditionalHeaders, v: Validators): 304 | 412 | null {
  const im = h['if-match'];
  if (im !== undefined) {
    if (im.trim() !== '*' && !im.split(/\s*,\s*/).some((t) => !t.startsWith('W/') && t === v.etag)) return 412;
  } else if (h['if-unmodified-since'] !== undefined) {
    const t = Date.parse(h['if-unmodified-since']);
    if (!Number.isNaN(t) && v.modifiedMs > t) return 412;
  }
  const inm = h['if-none-match'];
  if (inm !== undefined) {
    if (inm.trim() === '*' || etagList(inm).includes(v.etag.replace(/^W\//, ''))) return 304;
    return null;
  }
  const ims = h['if-modified-since'];
  if (ims !== undefined) {
    const t = Date.parse(ims);
    if (!Number.isNaN(t) && v.modifiedMs <= t) return 304;
  }
  return null;
}

/** An inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The one range a `Range: bytes=…` header asks of a file of `size` bytes (RFC 9110 section 14):
 * a range, 'unsatisfiable' (416), or null to answer the whole file, which is also the answer
 * to a header that does not parse, to several ranges (as `send` did: apt asks one range, to
 * resume a download) and to an If-Range that no longer matches.
 */
export function requestedRange(header: string | undefined, ifRange: string | undefined, size: number, v: Validators): ByteRange | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (ifRange !== undefined) {
    // A weak ETag never matches If-Range (14.2): our ETags are weak, so only a date can.
    const t = Date.parse(ifRange);
    if (ifRange.trim().startsWith('"') || ifRange.trim().startsWith('W/') || Number.isNaN(t) || t !== v.modifiedMs) return null;
  }
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return null;
  }
  if (start >= size || !Number.isSafeInteger(start)) return 'unsatisfiable';
  return { start, end };
}
