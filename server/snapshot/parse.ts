import { preferredVariant, type IndexGroup } from '../mirror/plan.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import type { BlobStore } from '../store/port.ts';
import { prepareProvenance, type PublishedPackagesIndex, type ListedPackage } from '../provenance/record.ts';
import { stanzasOfBlob, sourcesRefs, type PoolRef } from './parse-index.ts';
import { readPackagesBlob } from './packages-reader.ts';
import { storeFilteredIndex } from './filtered.ts';
import { readManifest, refsPrefix } from './manifest.ts';
import { loadRefs, writeRefs, blobReader, refsChain } from './refs.ts';
import type { FetchedIndices, ParsedSnapshot, PreviousPool, RunDeps, SnapshotContext, SnapshotPlan, SuiteFiltered } from './types.ts';

/**
 * Step 3 (design, mirror cycle 4, first half): every Packages and Sources index
 * read once into a refs blob (the pool files it lists; snapshot/refs.ts), with the
 * archive's filter applied (the filtered copies stored here, stanza by stanza, so
 * kept stanzas never outlive their index), and the provenance change prepared
 * from the package files listed, so that what this step hands on is the refs
 * heads and the ranges to open and close, not 60,000 listed files.
 */
export async function parseIndices({ ctx, archive }: RunDeps, plan: SnapshotPlan, fetched: FetchedIndices): Promise<ParsedSnapshot> {
  // The previous serial (the newest published one; this serial is still pending): its
  // refs heads and pool tree. An index whose refs equal the previous serial's costs nothing later.
  const previousSerial = ctx.repo.latestSerial(archive.name);
  const previous = previousSerial ? await previousPool(ctx, archive.name, previousSerial) : null;
  const read = blobReader(ctx.store);
  const heads = new Map<string, string>();
  const filter = archive.packages ? new Set(archive.packages) : null;
  const keptSources = new Set<string>();
  const packages: PublishedPackagesIndex[] = [];
  const filtered: SuiteFiltered[] = [];
  for (const [i, w] of plan.suites.entries()) {
    const have = fetched.have[i]!;
    const files = new Map<string, ReleaseFileEntry>();
    const bases = new Set<string>();
    const keep = async (g: IndexGroup, kept: Buffer[]) => {
      for (const [path, e] of await storeFilteredIndex(ctx.store, g, kept)) files.set(path, e);
      bases.add(g.base);
    };
    const ordered = [...w.groups].sort((a, b) => kindOrder(a) - kindOrder(b));
    for (const g of ordered) {
      if (g.kind === 'translation' && filter) {
        const tv = preferredVariant(g.variants, (e) => have.has(e.path));
        if (tv) await keep(g, await keptTranslations(ctx, tv, filter));
        continue;
      }
      if (g.kind !== 'packages' && g.kind !== 'sources') continue;
      const v = preferredVariant(g.variants, (e) => have.has(e.path))!;
      const where = `${w.up.suite}/${v.path}`;
      const key = `${w.up.suite}/${g.base}`;
      const archDir = g.base.slice(g.prefix.length + 1).split('/')[0]!;
      const published = (listed?: ListedPackage[]): PublishedPackagesIndex => ({ suite: w.up.suite, component: g.component, archDir, parsedPath: v.path, parsedSha256: v.hash, filter, ...(listed ? { listed } : {}) });
      // An unfiltered index seen before is not parsed again: its refs are stored by index hash.
      const cached = filter ? null : await usableRefs(ctx.store, ctx.repo.indexRefs(v.hash, g.kind));
      if (cached) {
        heads.set(key, cached);
        if (g.kind === 'packages') packages.push(published());
        continue;
      }
      const baseHead = previous ? await usableRefs(ctx.store, previous.heads.get(key) ?? null) : null;
      const base = baseHead ? { sha256: baseHead, loaded: await loadRefs(read, baseHead) } : null;
      const parsed = g.kind === 'packages' ? await parsePackages(ctx, v, where, filter, keptSources, base?.loaded.refs ?? null) : await parseSources(ctx, v, where, filter, keptSources);
      const refs = await writeRefs(ctx.store, parsed.refs, base, where);
      heads.set(key, refs.sha256);
      if (!filter) ctx.repo.setIndexRefs(v.hash, g.kind, refs.sha256);
      else await keep(g, parsed.kept);
      if (g.kind === 'packages') packages.push(published(parsed.listed));
    }
    filtered.push({ files, bases });
  }
  const provenance = await prepareProvenance(ctx.store, { repo: ctx.repo, archive: archive.name, serial: plan.serial, previousSerial, indices: packages, maxBytes: ctx.config.fetch.maxDecompressedBytes });
  return { previousSerial, previous, heads, filtered, provenance };
}

async function previousPool(ctx: SnapshotContext, archive: string, serial: string): Promise<PreviousPool | null> {
  const row = ctx.repo.getSerial(archive, serial);
  if (!row?.manifest_sha256 || !(await ctx.store.has(row.manifest_sha256))) return null;
  const m = await readManifest(ctx.store, row.manifest_sha256, { expand: false });
  const heads = new Map<string, string>();
  for (const l of m.extra) if (l.path.startsWith(refsPrefix)) heads.set(l.path.slice(refsPrefix.length), l.sha256);
  // A manifest of the one-line-per-pool-file form: no heads to compare with, a full comparison is made.
  if (!heads.size) return null;
  let poolFiles = 0;
  try {
    poolFiles = Number((JSON.parse(row.stats ?? '{}') as { poolFiles?: number }).poolFiles ?? 0);
  } catch {
    poolFiles = 0;
  }
  const outsidePool = m.tree.filter((l) => !l.path.startsWith('dists/') && l.path !== 'proof.deb');
  return { heads, poolId: ctx.publisher.poolIdOf(archive, serial), poolFiles, outsidePool };
}

/** A refs blob whose chain is stored whole, or null (collected or never made: parse the index again). */
async function usableRefs(store: BlobStore, sha256: string | null): Promise<string | null> {
  return sha256 && (await refsChain(store, sha256)) ? sha256 : null;
}

interface ParsedIndex {
  refs: PoolRef[];
  /** Whole stanzas kept by the archive's filter. */
  kept: Buffer[];
  /** Packages only: every package file listed (after the filter), for provenance. */
  listed?: ListedPackage[];
}

/**
 * `base`: the previous refs of the same index. An unchanged file's reference is the base's own
 * object, strings included: the scan's copies are garbage at once, and what the run holds for
 * 60,000 files is mostly shared with the refs cache.
 */
async function parsePackages(
  ctx: SnapshotContext,
  v: ReleaseFileEntry,
  where: string,
  filter: Set<string> | null,
  keptSources: Set<string>,
  base: ReadonlyMap<string, PoolRef> | null,
): Promise<ParsedIndex> {
  const out: ParsedIndex = { refs: [], kept: [], listed: [] };
  // An archive's filter selects stanzas before their pool reference is checked, as apt would never ask for the others.
  const opts = filter ? { select: (name: string) => filter.has(name), keepRaw: () => true } : {};
  for await (const batch of readPackagesBlob(ctx.store, { sha256: v.hash, path: v.path }, { ...opts, where, maxBytes: ctx.config.fetch.maxDecompressedBytes })) {
    for (const e of batch) {
      if (filter && !filter.has(e.package)) continue;
      // A path listed twice with two different files is refused by writeRefs.
      const b = base?.get(e.filename);
      const r = b && b.sha256 === e.sha256 && b.size === e.size ? b : { path: e.filename, sha256: e.sha256, size: e.size };
      out.refs.push(r);
      // Provenance records package files by name: a stanza without one has nothing to record.
      if (e.package) out.listed!.push({ package: e.package, version: e.version, architecture: e.architecture, sha256: r.sha256, size: r.size, filename: r.path });
      if (filter) {
        keptSources.add(e.source);
        out.kept.push(e.raw!);
      }
    }
  }
  return out;
}

async function parseSources(ctx: SnapshotContext, v: ReleaseFileEntry, where: string, filter: Set<string> | null, keptSources: Set<string>): Promise<ParsedIndex> {
  const out: ParsedIndex = { refs: [], kept: [] };
  for await (const s of stanzasOfBlob(ctx.store, v.hash, v.path, ctx.config.fetch.maxDecompressedBytes)) {
    const name = s.get('Package') ?? '';
    if (filter && !filter.has(name) && !keptSources.has(name)) continue;
    out.refs.push(...sourcesRefs(s, where));
    if (filter) out.kept.push(s.raw);
  }
  return out;
}

/** The stanzas of a Translation file that describe packages the filter keeps, whole and byte for byte. */
async function keptTranslations(ctx: SnapshotContext, v: ReleaseFileEntry, filter: Set<string>): Promise<Buffer[]> {
  const kept: Buffer[] = [];
  for await (const s of stanzasOfBlob(ctx.store, v.hash, v.path, ctx.config.fetch.maxDecompressedBytes)) if (filter.has(s.get('Package') ?? '')) kept.push(s.raw);
  return kept;
}

function kindOrder(g: IndexGroup): number {
  return g.kind === 'packages' ? 0 : g.kind === 'sources' ? 1 : 2;
}
