import { AptfreezeError } from '../errors.ts';
import type { BlobRef, BlobStore } from '../store/port.ts';
import type { PoolRef } from './parse-index.ts';

/**
 * The pool files one index names ("refs"), kept in the store so that an
 * index seen before is never parsed again, and so that a serial's manifest
 * names its pool set by a few refs blobs instead of one line per pool file.
 *
 * A new version of an index is stored as a DELTA on the refs of the version
 * before it (the same index path in the previous serial): a 1% churn of a
 * 60,000-package index costs ~1,300 lines, not 60,000 (the disk a serial adds
 * must follow the change, not the archive's size). A chain is cut (a full
 * blob written) past MAX_DEPTH links, or when the delta would be more than
 * half the full list, so reading refs never walks more than MAX_DEPTH blobs.
 *
 * Text format, version 2:
 *
 *   aptfreeze-refs 2
 *   base <sha256 of the refs blob this one patches> | -
 *   depth <links below this one, 0 for a full blob>
 *   +<sha256> <size> <path>      a file listed (added, or changed on the base)
 *   -<path>                      a file of the base no longer listed
 *
 * Version 1 (no header; `<sha256> <size> <path>` lines) is read as a full blob.
 */

export const MAX_DEPTH = 32;

export interface LoadedRefs {
  /** path -> reference; shared with a cache: never mutate it. */
  refs: ReadonlyMap<string, PoolRef>;
  /** The blob itself and every base it patches, nearest first. */
  chain: readonly string[];
  depth: number;
}

export type ReadBlob = (sha256: string) => Promise<Buffer>;

/** Reads whole blobs of a store (refs and manifests are small next to the work they save). */
export function blobReader(store: Pick<BlobStore, 'read'>): ReadBlob {
  return (sha) => store.read(sha);
}

// Refs blobs are immutable: a small cache saves re-reading the same base on
// every cycle (the previous serial's refs are the next serial's base).
const cache = new Map<string, LoadedRefs>();
// Two: the previous serial's refs of an index and the new ones (a 60,000-entry map is ~15 MB).
const CACHE_ENTRIES = 2;

function remember(sha: string, v: LoadedRefs): LoadedRefs {
  cache.delete(sha);
  cache.set(sha, v);
  while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  return v;
}

export async function loadRefs(read: ReadBlob, sha256: string): Promise<LoadedRefs> {
  const hit = cache.get(sha256);
  if (hit) return remember(sha256, hit);
  const text = (await read(sha256)).toString('utf8');
  const bad = (what: string) => new AptfreezeError('MALFORMED', `refs blob ${sha256}: ${what}`);
  if (!text.startsWith('aptfreeze-refs 2\n')) {
    const refs = new Map<string, PoolRef>();
    parseLines(text, 0, (line) => {
      const r = refLine(line, 0);
      if (!r) throw bad('bad line');
      refs.set(r.path, r);
    });
    return remember(sha256, { refs, chain: [sha256], depth: 0 });
  }
  const l1 = text.indexOf('\n', 17);
  const l2 = text.indexOf('\n', l1 + 1);
  const baseLine = text.slice(17, l1);
  const depthLine = text.slice(l1 + 1, l2);
  if (!/^base ([0-9a-f]{64}|-)$/.test(baseLine) || !/^depth \d+$/.test(depthLine)) throw bad('bad header');
  const baseSha = baseLine.slice(5);
  const depth = Number(depthLine.slice(6));
  let refs: Map<string, PoolRef>;
  let chain: string[];
  if (baseSha === '-') {
    refs = new Map();
    chain = [sha256];
  } else {
    if (depth < 1 || depth > MAX_DEPTH) throw bad('bad depth');
    const base = await loadRefs(read, baseSha);
    if (base.depth !== depth - 1) throw bad('depth does not follow its base');
    refs = new Map(base.refs);
    chain = [sha256, ...base.chain];
  }
  parseLines(text, l2 + 1, (line) => {
    if (line.startsWith('-')) {
      if (!refs.delete(line.slice(1))) throw bad(`removes ${line.slice(1)}, which its base does not list`);
      return;
    }
    const r = line.startsWith('+') ? refLine(line, 1) : null;
    if (!r) throw bad('bad line');
    refs.set(r.path, r);
  });
  return remember(sha256, { refs, chain, depth });
}

function parseLines(text: string, from: number, each: (line: string) => void): void {
  let i = from;
  while (i < text.length) {
    let nl = text.indexOf('\n', i);
    if (nl < 0) nl = text.length;
    if (nl > i) each(text.slice(i, nl));
    i = nl + 1;
  }
}

function refLine(line: string, at: number): PoolRef | null {
  const a = line.indexOf(' ', at);
  const b = line.indexOf(' ', a + 1);
  if (a - at !== 64 || b < 0) return null;
  const size = Number(line.slice(a + 1, b));
  if (!Number.isSafeInteger(size)) return null;
  return { sha256: line.slice(at, a), size, path: line.slice(b + 1) };
}

/**
 * Stores the refs of an index: a delta on `base` (the previous version of the
 * same index) when that is worth it, else a full blob. Returns the blob and
 * the loaded form (cached, so the next cycle's base is not read back).
 */
export async function writeRefs(
  store: BlobStore,
  refs: Iterable<PoolRef>,
  base: { sha256: string; loaded: LoadedRefs } | null,
  where = 'index',
): Promise<BlobRef & { loaded: LoadedRefs }> {
  const full = new Map<string, PoolRef>();
  for (const r of refs) {
    const was = full.get(r.path);
    if (was && (was.sha256 !== r.sha256 || was.size !== r.size)) throw new AptfreezeError('MALFORMED', `${where}: ${r.path} is listed with two different hashes`);
    // The base's own object where nothing changed: the fresh one (and its strings) become garbage,
    // so the cached maps of the base and of this blob share ~99% of their entries.
    const same = base?.loaded.refs.get(r.path);
    full.set(r.path, same && same.sha256 === r.sha256 && same.size === r.size ? same : r);
  }
  const lines: string[] = [];
  let header = 'aptfreeze-refs 2\nbase -\ndepth 0\n';
  let depth = 0;
  if (base && base.loaded.depth < MAX_DEPTH) {
    for (const [path, r] of full) {
      const b = base.loaded.refs.get(path);
      if (!b || b.sha256 !== r.sha256 || b.size !== r.size) lines.push(`+${r.sha256} ${r.size} ${r.path}`);
    }
    for (const path of base.loaded.refs.keys()) if (!full.has(path)) lines.push(`-${path}`);
    if (lines.length === 0) return { sha256: base.sha256, size: await store.size(base.sha256), loaded: base.loaded };
    if (lines.length * 2 <= full.size) {
      depth = base.loaded.depth + 1;
      header = `aptfreeze-refs 2\nbase ${base.sha256}\ndepth ${depth}\n`;
    } else lines.length = 0;
  }
  if (depth === 0) for (const r of full.values()) lines.push(`+${r.sha256} ${r.size} ${r.path}`);
  lines.sort();
  // In slices of Buffers, not one joined string: a full list at Debian scale is ~9 MB of text.
  const parts: Buffer[] = [Buffer.from(header)];
  for (let i = 0; i < lines.length; i += 4096) parts.push(Buffer.from(lines.slice(i, i + 4096).join('\n') + '\n'));
  lines.length = 0;
  const blob = await store.putBuffer(Buffer.concat(parts));
  const loaded: LoadedRefs = { refs: full, chain: depth ? [blob.sha256, ...base!.loaded.chain] : [blob.sha256], depth };
  remember(blob.sha256, loaded);
  return { ...blob, loaded };
}

/**
 * The blobs a refs blob needs (itself and its bases, nearest first), from
 * their headers only, or null when one is not stored. Cheap: an unchanged
 * index's refs are checked and named in a manifest without being parsed.
 */
export async function refsChain(store: Pick<BlobStore, 'has' | 'readStream'>, sha256: string): Promise<string[] | null> {
  const hit = cache.get(sha256);
  const chain: string[] = [];
  if (hit) chain.push(...hit.chain);
  else {
    let sha: string | null = sha256;
    while (sha) {
      let head: string;
      try {
        head = await readHead(store, sha, 256);
      } catch {
        return null;
      }
      chain.push(sha);
      const m = /^aptfreeze-refs 2\nbase ([0-9a-f]{64}|-)\n/.exec(head);
      sha = m && m[1] !== '-' ? m[1]! : null;
      if (chain.length > MAX_DEPTH + 1) return null;
    }
  }
  for (const b of chain) if (!(await store.has(b))) return null;
  return chain;
}

/** The first bytes of a blob (at most `n`) as text: a refs blob's header. */
async function readHead(store: Pick<BlobStore, 'readStream'>, sha256: string, n: number): Promise<string> {
  // No range: an empty blob (a version-1 refs blob of an index without pool files) has none.
  for await (const chunk of store.readStream(sha256)) return chunk.subarray(0, n).toString('utf8');
  return '';
}

/** Forgets cached refs (tests that damage the store on purpose). */
export function clearRefsCache(): void {
  cache.clear();
}
