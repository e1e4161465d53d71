import { whereStored } from '../store/port.ts';
import { Router, type Request, type Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { AptfreezeError } from '../errors.ts';
import { compareVersions } from '../debian/version.ts';
import type { Services } from '../services.ts';
import type { MrRepo, MrBinaryRow } from '../catalog/snapmr.ts';
import { formatStamp } from './stamps.ts';

export type MrDeps = Pick<Services, 'store' | 'log'> & { mr: MrRepo; catchUp: () => Promise<void> };

const comment = 'aptfreeze: snapshot.debian.org-compatible machine-readable interface';
const sha1Re = /^[0-9a-f]{40}$/;

/**
 * snapshot.debian.org's machine-readable reads (`/mr/…`, `/file/<sha1>`), with its exact field
 * names (its web/app/snapshot/controllers/package.py; `binary_version` and `first_seen`, whatever
 * its API text says), so that debsnap, debbisect and debsbom work against this service. Answers
 * come from the published serials (indexed on demand); an empty result is 404.
 */
export function mrRouter(deps: MrDeps): Router {
  const r = Router();
  // Every answer reflects every serial published before the request.
  r.use(['/mr', '/file'], async (_req, _res, next) => {
    await deps.catchUp();
    next();
  });

  r.get('/mr/package', (_req, res) => {
    send(res, { _comment: comment, result: nonEmpty(deps.mr.sourceNames()).map((p) => ({ package: p })) });
  });
  r.get('/mr/package/:src', (req, res) => {
    const src = req.params['src']!;
    send(res, { _comment: comment, package: src, result: newestFirst(nonEmpty(deps.mr.sourceVersions(src))).map((version) => ({ version })) });
  });
  r.get('/mr/package/:src/:ver/srcfiles', (req, res) => {
    const { src, ver } = req.params as { src: string; ver: string };
    const hashes = nonEmpty(deps.mr.sourceFiles(src, ver));
    send(res, { _comment: comment, package: src, version: ver, result: hashes.map((hash) => ({ hash })), ...fileinfo(deps, req, hashes) });
  });
  r.get('/mr/package/:src/:ver/binpackages', (req, res) => {
    const { src, ver } = req.params as { src: string; ver: string };
    const seen = new Map<string, { name: string; version: string }>();
    for (const b of deps.mr.binariesOfSource(src, ver)) seen.set(`${b.name}\0${b.version}`, { name: b.name, version: b.version });
    send(res, { _comment: comment, package: src, version: ver, result: nonEmpty([...seen.values()]) });
  });
  r.get('/mr/package/:src/:ver/binfiles/:bin/:binver', (req, res) => {
    const { src, ver, bin, binver } = req.params as { src: string; ver: string; bin: string; binver: string };
    const files = withSha1(deps.mr.binariesOfSource(src, ver).filter((b) => b.name === bin && b.version === binver));
    const result = nonEmpty(uniqueBy(files.map((b) => ({ architecture: b.architecture, hash: b.sha1 })), (x) => x.hash));
    send(res, { _comment: comment, package: src, version: ver, binary: bin, binary_version: binver, result, ...fileinfo(deps, req, result.map((x) => x.hash)) });
  });
  r.get('/mr/package/:src/:ver/allfiles', (req, res) => {
    const { src, ver } = req.params as { src: string; ver: string };
    const source = deps.mr.sourceFiles(src, ver);
    const binaries = new Map<string, { name: string; version: string; files: Array<{ hash: string; architecture: string }> }>();
    for (const b of withSha1(deps.mr.binariesOfSource(src, ver))) {
      const key = `${b.name}\0${b.version}`;
      if (!binaries.has(key)) binaries.set(key, { name: b.name, version: b.version, files: [] });
      const files = binaries.get(key)!.files;
      if (!files.some((f) => f.hash === b.sha1)) files.push({ hash: b.sha1, architecture: b.architecture });
    }
    if (!source.length && !binaries.size) throw empty();
    const all = [...source, ...[...binaries.values()].flatMap((b) => b.files.map((f) => f.hash))];
    send(res, { _comment: comment, package: src, version: ver, result: { source: source.map((hash) => ({ hash })), binaries: [...binaries.values()] }, ...fileinfo(deps, req, all) });
  });
  r.get('/mr/binary/:bin', (req, res) => {
    const bin = req.params['bin']!;
    const seen = new Map<string, { name: string; binary_version: string; source: string; version: string }>();
    for (const b of deps.mr.binaryVersions(bin)) seen.set(`${b.version}\0${b.source}\0${b.source_version}`, { name: b.name, binary_version: b.version, source: b.source, version: b.source_version });
    const result = nonEmpty([...seen.values()]).sort((a, b) => compareVersions(b.binary_version, a.binary_version));
    send(res, { _comment: comment, binary: bin, result });
  });
  r.get('/mr/binary/:bin/:binver/binfiles', (req, res) => {
    const { bin, binver } = req.params as { bin: string; binver: string };
    const files = withSha1(deps.mr.binaryVersions(bin).filter((b) => b.version === binver));
    const result = nonEmpty(uniqueBy(files.map((b) => ({ hash: b.sha1, architecture: b.architecture })), (x) => x.hash));
    send(res, { _comment: comment, binary: bin, binary_version: binver, result, ...fileinfo(deps, req, result.map((x) => x.hash)) });
  });
  r.get('/mr/file/:hash/info', (req, res) => {
    const hash = checkSha1(req.params['hash']!);
    send(res, { _comment: comment, hash, result: nonEmpty(infoOf(deps, hash)) });
  });
  r.get(['/file/:hash', '/file/:hash/:name'], async (req, res) => {
    const hash = checkSha1(String(req.params['hash']));
    const rows = deps.mr.fileInfo(hash);
    const sha256 = (await whereStored(deps.store, rows, (x) => x.sha256))[0]?.sha256;
    if (!sha256) throw new AptfreezeError('NOT_FOUND', `no file ${hash}`);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', await deps.store.size(sha256));
    // The bytes under a hash never change.
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.setHeader('ETag', `"${hash}"`);
    if (req.headers['if-none-match'] === `"${hash}"`) return void res.status(304).end();
    if (req.method === 'HEAD') return void res.end();
    await pipeline(Readable.from(deps.store.readStream(sha256)), res);
  });
  return r;
}

function send(res: Response, body: unknown): void {
  res.setHeader('Cache-Control', 'public, max-age=60');
  res.json(body);
}

function empty(): AptfreezeError {
  return new AptfreezeError('NOT_FOUND', 'no such package, version or file');
}

function nonEmpty<T>(xs: T[]): T[] {
  if (!xs.length) throw empty();
  return xs;
}

function newestFirst(versions: string[]): string[] {
  return [...new Set(versions)].sort((a, b) => compareVersions(b, a));
}

function uniqueBy<T>(xs: T[], key: (x: T) => string): T[] {
  const m = new Map<string, T>();
  for (const x of xs) if (!m.has(key(x))) m.set(key(x), x);
  return [...m.values()];
}

/** Binary files whose SHA-1 is known (a file whose bytes were never stored has none). */
function withSha1(rows: Array<MrBinaryRow & { sha1: string | null }>): Array<MrBinaryRow & { sha1: string }> {
  return rows.filter((b): b is MrBinaryRow & { sha1: string } => b.sha1 !== null);
}

function checkSha1(h: string): string {
  // snapshot.debian.org names files by SHA-1 only; anything else is refused rather than searched.
  if (!sha1Re.test(h)) throw new AptfreezeError('BAD_REQUEST', 'expected a SHA-1: 40 lower-case hexadecimal digits');
  return h;
}

function infoOf(deps: MrDeps, sha1: string) {
  return deps.mr.fileInfo(sha1).map((f) => ({
    name: f.name,
    size: f.size,
    archive_name: f.archive,
    path: f.path,
    first_seen: f.first_published ? formatStamp(new Date(f.first_published)) : null,
  }));
}

/** `?fileinfo=1`: `{"fileinfo": {"<hash>": [{name, size, archive_name, path, first_seen}]}}`. */
function fileinfo(deps: MrDeps, req: Request, hashes: string[]): { fileinfo?: Record<string, ReturnType<typeof infoOf>> } {
  if (req.query['fileinfo'] !== '1') return {};
  return { fileinfo: Object.fromEntries([...new Set(hashes)].map((h) => [h, infoOf(deps, h)])) };
}
