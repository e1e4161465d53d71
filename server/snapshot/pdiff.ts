import { createHash } from 'node:crypto';
import { AptfreezeError, isAptfreezeError } from '../errors.ts';
import type { Repo } from '../catalog/repo.ts';
import { whereStored, type BlobStore } from '../store/port.ts';
import type { Fetcher } from '../mirror/fetch.ts';
import type { Logger } from '../log.ts';
import { suiteUrl, type UpstreamRelease } from '../mirror/upstream.ts';
import type { IndexGroup } from '../mirror/plan.ts';
import { compressionOf, decompressBuffer, decompressBufferSync } from '../debian/compress.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import { applyEdScript, parsePdiffIndex, patchesFrom } from '../debian/pdiff.ts';
import { readManifest } from './manifest.ts';

/**
 * Updating an index from upstream's pdiffs instead of fetching it whole: the
 * stored index of the previous serial, the patches from it to the current
 * one (a few kilobytes for a 1% churn of a 42 MB Packages), applied as apt
 * applies them, and the result checked against the uncompressed index's
 * sha256 in the signed Release before it is stored. Anything unexpected (no
 * Index, a base the history does not name, a patch missing, a hash that
 * differs, a command out of range) gives null: the caller fetches the whole
 * index, as apt does. Only the Release's hash decides what is stored.
 *
 * What is then served for that index is the uncompressed file (the bytes the
 * upstream Release lists); see README "pdiffs".
 */

export interface PdiffDeps {
  store: BlobStore;
  fetcher: Fetcher;
  log: Logger;
  /** Cap on a decompressed index or patch. */
  maxBytes: number;
}

/** Codes after which the whole index is fetched instead; anything else (a full disk) fails the run. */
const fallBackOn = new Set(['MALFORMED', 'HASH_MISMATCH', 'SIZE_MISMATCH', 'UPSTREAM_HTTP', 'UPSTREAM_TOO_LARGE']);

/** `<suite>/<index path>` -> sha256 of every upstream index variant the newest published serial fetched. */
export async function previousIndices(store: BlobStore, repo: Repo, archive: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const serial = repo.latestSerial(archive);
  const row = serial ? repo.getSerial(archive, serial) : undefined;
  if (!row?.manifest_sha256 || !(await store.has(row.manifest_sha256))) return out;
  const m = await readManifest(store, row.manifest_sha256, { expand: false });
  for (const e of m.extra) if (e.path.startsWith('@upstream/')) out.set(e.path.slice('@upstream/'.length), e.sha256);
  return out;
}

export interface PdiffResult {
  entry: ReleaseFileEntry;
  patches: number;
  bytes: number;
}

/** The uncompressed index of a group brought up to date by pdiffs and stored, or null (fetch it whole). */
export async function updateByPdiff(deps: PdiffDeps, archiveUrl: string, up: UpstreamRelease, g: IndexGroup, previous: Map<string, string>): Promise<PdiffResult | null> {
  const target = up.release.sha256.find((e) => e.path === g.base);
  const indexEntry = up.release.sha256.find((e) => e.path === `${g.base}.diff/Index`);
  if (!target || !indexEntry) return null;
  const where = `${up.suite}/${g.base}`;
  try {
    const base = await storedBase(deps, up.suite, g, previous);
    if (!base) return null;
    if (sha256(base) === target.hash) return { entry: await keep(deps, base, target), patches: 0, bytes: 0 };
    const url = `${suiteUrl(archiveUrl, up.suite)}/${g.base}.diff`;
    const indexText = await fetchChecked(deps, `${url}/Index`, { sha256: indexEntry.hash, size: indexEntry.size });
    const index = parsePdiffIndex(indexText);
    // An Index older or newer than the Release (a mirror mid-update): not this Release's patches.
    if (index.current.sha256 !== target.hash || index.current.size !== target.size) return null;
    const patches = patchesFrom(index, sha256(base));
    if (!patches?.length) return null;
    // As apt (Acquire::PDiffs::SizeLimit): patches larger than the smallest whole index are not worth it.
    const bytes = patches.reduce((n, p) => n + p.download.size, 0);
    const smallest = Math.min(...g.variants.map((v) => v.size));
    if (bytes >= smallest) return null;
    let text = base;
    for (const p of patches) {
      const gz = await fetchChecked(deps, `${url}/${p.name}.gz`, p.download);
      let patch: Buffer;
      try {
        // Past the listed size is not the listed patch: MALFORMED, as corrupt data is.
        patch = decompressBufferSync('gz', gz, { maxBytes: p.patch.size + 1 });
      } catch (e) {
        throw new AptfreezeError('MALFORMED', `${p.name}.gz: ${(e as Error).message}`, { cause: e });
      }
      if (patch.length !== p.patch.size || sha256(patch) !== p.patch.sha256) throw new AptfreezeError('HASH_MISMATCH', `${p.name}: not the patch the Index lists`);
      if (sha256(text) !== p.from.sha256) throw new AptfreezeError('HASH_MISMATCH', `${p.name}: the index it applies to is not the one patched so far`);
      text = applyEdScript(text, patch);
      if (text.length > deps.maxBytes) throw new AptfreezeError('UPSTREAM_TOO_LARGE', `${where}: patched past ${deps.maxBytes} bytes`);
    }
    if (text.length !== target.size || sha256(text) !== target.hash) {
      throw new AptfreezeError('HASH_MISMATCH', `${where}: the patched index is not the one the signed Release lists`);
    }
    return { entry: await keep(deps, text, target), patches: patches.length, bytes: bytes + indexEntry.size };
  } catch (e) {
    if (isAptfreezeError(e) && fallBackOn.has(e.code)) {
      deps.log.warn({ index: where, code: e.code, err: e.message }, 'pdiffs refused; fetching the whole index');
      return null;
    }
    throw e;
  }
}

/** The previous serial's copy of this index, decompressed: the uncompressed variant if stored, else the cheapest to decompress. */
async function storedBase(deps: PdiffDeps, suite: string, g: IndexGroup, previous: Map<string, string>): Promise<Buffer | null> {
  const order = ['none', 'gz', 'zst', 'xz', 'bz2', 'lz4'];
  const named = [...previous].filter(([k]) => k.startsWith(`${suite}/${g.base}`) && /^(\.[a-z0-9]+)?$/.test(k.slice(suite.length + 1 + g.base.length)));
  const stored = (await whereStored(deps.store, named, ([, sha]) => sha))
    .map(([k, sha]) => ({ path: k.slice(suite.length + 1), sha }))
    .sort((a, b) => order.indexOf(compressionOf(a.path)) - order.indexOf(compressionOf(b.path)));
  const first = stored[0];
  if (!first) return null;
  return decompressBuffer(compressionOf(first.path), await deps.store.read(first.sha), { maxBytes: deps.maxBytes });
}

async function fetchChecked(deps: PdiffDeps, url: string, want: { sha256: string; size: number }): Promise<Buffer> {
  const data = await deps.fetcher.getSmall(url, want.size);
  if (!data) throw new AptfreezeError('UPSTREAM_HTTP', `${url}: 404 Not Found`);
  if (data.length !== want.size) throw new AptfreezeError('SIZE_MISMATCH', `${url}: ${data.length} bytes, the signed list says ${want.size}`);
  if (sha256(data) !== want.sha256) throw new AptfreezeError('HASH_MISMATCH', `${url}: sha256 differs from the signed list`);
  return data;
}

async function keep(deps: PdiffDeps, text: Buffer, target: ReleaseFileEntry): Promise<ReleaseFileEntry> {
  const ref = await deps.store.putBuffer(text);
  if (ref.sha256 !== target.hash) throw new AptfreezeError('INTERNAL', `${target.path}: stored bytes differ from the checked ones`);
  return target;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
