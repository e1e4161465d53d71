import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { AptfreezeError, asAptfreezeError, isAptfreezeError } from '../errors.ts';
import { scanPackages } from '../debian/packages-scan.ts';
import type { Config } from '../config/load.ts';
import type { ArchiveConfig } from '../config/schema.ts';
import type { Repo } from '../catalog/repo.ts';
import type { FsBlobStore, BlobRef } from '../store/store.ts';
import type { Publisher, TreeLink, TreeFile, PoolPlan, PendingPool } from '../publish/tree.ts';
import type { ServiceKey } from '../sign/key.ts';
import { signRelease } from '../sign/signer.ts';
import type { Logger } from '../log.ts';
import { readKeyring } from '../pgp/keyring.ts';
import { Fetcher } from '../mirror/fetch.ts';
import { fetchUpstreamRelease, checkFreshness, suiteUrl, type UpstreamRelease } from '../mirror/upstream.ts';
import { planIndices, preferredVariant, type IndexGroup } from '../mirror/plan.ts';
import { compressBuffer, compressionOf, decompressStream, stripCompression, type Compression } from '../debian/compress.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import { stanzasOfBlob, sourcesRefs, type PoolRef } from './parse-index.ts';
import { ourReleaseText, snapshotsUrl } from './release-file.ts';
import { mapLimit } from '../util/limit.ts';
import { killPoint } from '../util/killpoint.ts';
import { collectGarbage } from '../util/memory.ts';
import { buildProofDebParts, proofStanza } from '../proof/build.ts';
import { proofComponent, type ProofManifest, type ProofSuite, type ProofIndex } from '../proof/manifest.ts';
import { writeManifest, readManifest, refsPrefix, refsChainPrefix, type SerialManifest } from './manifest.ts';
import { loadRefs, writeRefs, syncReader, refsChain, type ReadBlobSync } from './refs.ts';
import { prepareProvenance, type PublishedPackagesIndex, type ListedPackage } from '../provenance/record.ts';
import { previousIndices, updateByPdiff } from './pdiff.ts';

export interface SnapshotContext {
  config: Config;
  repo: Repo;
  store: FsBlobStore;
  publisher: Publisher;
  key: ServiceKey;
  now: () => Date;
  log: Logger;
  /** Called at each named step (crash tests hook kill points here). */
  step?: (name: string) => void | Promise<void>;
  /** Download progress (bytes) for a terminal display. */
  onBytes?: (n: number) => void;
  onPlan?: (info: { poolFiles: number; poolBytes: number }) => void;
  /** A pool file fetched and stored (operation progress counts). */
  onPoolFile?: () => void;
}

export interface SnapshotStats {
  suites: number;
  indexFiles: number;
  indexFetched: number;
  /** Indices brought up to date by upstream's pdiffs (not fetched whole). */
  indexPatched?: number;
  poolFiles: number;
  poolFetched: number;
  bytesFetched: number;
  requests: number;
  retries: number;
  ms: number;
}

export interface SnapshotResult {
  archive: string;
  serial: string;
  validUntil: string;
  stats: SnapshotStats;
}

/** Per suite: what the run learnt, to write the Release and the proof. */
interface SuiteWork {
  up: UpstreamRelease;
  groups: IndexGroup[];
  /** Variants upstream actually served (404s skipped), by path. */
  have: Map<string, ReleaseFileEntry>;
  /** Served replacements of filtered indices, by upstream path. */
  filtered: Map<string, ReleaseFileEntry>;
  /** Index groups (paths without compression suffix) served filtered. */
  filteredBases: Set<string>;
  /** Our compressed copies of uncompressed indices, held by the proof (kept with the serial). */
  proofCopies: ReleaseFileEntry[];
}

const indexDecompressCap = (ctx: SnapshotContext) => ctx.config.fetch.maxDecompressedBytes;

/**
 * One mirror run of one archive -> one immutable, published serial. The steps
 * follow the design's mirror cycle; any failure marks the serial failed,
 * removes its staging tree and leaves `latest` and every earlier serial as
 * they were. The caller holds the archive's lock (`archiveLock`): the
 * operations runner, or snapshotService.
 */
export async function takeSnapshot(ctx: SnapshotContext, archiveName: string, actor = 'cli'): Promise<SnapshotResult> {
  const archive = ctx.config.archives.find((a) => a.name === archiveName);
  if (!archive) throw new AptfreezeError('NOT_FOUND', `unknown archive ${archiveName} (configured: ${ctx.config.archives.map((a) => a.name).join(', ') || 'none'})`);
  const started = Date.now();
  const fetcher = new Fetcher(ctx.config.fetch, ctx.onBytes);
  let serial: string | undefined;
  let staging: string | undefined;
  let pending: PendingPool | undefined;
  let createdPool: string | null = null;
  try {
    const step = async (name: string) => {
      const m = process.memoryUsage();
      ctx.log.debug({ archive: archive.name, serial, step: name, rssMb: Math.round(m.rss / 1e6), heapMb: Math.round(m.heapUsed / 1e6), externalMb: Math.round(m.external / 1e6) }, 'step');
      killPoint(name);
      await ctx.step?.(name);
    };
    ctx.repo.ensureArchive(archive.name, archive.url, ctx.now());
    await step('releases');
    const keyringBytes = await readFile(archive.keyring);
    const keys = await readKeyring(keyringBytes);
    const suites: SuiteWork[] = [];
    for (const suite of archive.suites) {
      const up = await fetchUpstreamRelease(fetcher, archive.url, suite, keys, { now: ctx.now(), requireValidNow: true }, ctx.config.fetch.maxReleaseBytes);
      checkFreshness(up, ctx.now(), ctx.repo.lastAcceptedDate(archive.name, suite));
      const groups = planIndices(up.release, { suite, components: archive.components, architectures: archive.architectures, sources: archive.sources, translations: archive.translations });
      suites.push({ up, groups, have: new Map(), filtered: new Map(), filteredBases: new Set(), proofCopies: [] });
    }
    serial = ctx.repo.allocateSerial(archive.name, ctx.now());
    const createdAt = ctx.now();
    ctx.log.info({ archive: archive.name, serial }, 'snapshot started');

    await step('indices');
    let indexFetched = 0;
    // Where upstream publishes pdiffs, an index the store lacks is first patched from the previous serial's copy.
    const pdiff = await patchIndices(ctx, fetcher, archive, suites);
    // A variant absent from the store is fetched only when no other variant of its index is stored:
    // upstream may list variants it does not serve (Debian lists uncompressed Packages it does not ship),
    // and asking again for those on every run would make an unchanged cycle cost more than a few requests.
    const indexJobs = suites.flatMap((w) =>
      w.groups.flatMap((g) => {
        const stored = g.variants.filter((v) => ctx.store.has(v.hash));
        return (stored.length ? stored : g.variants).map((v) => ({ w, g, v }));
      }),
    );
    await mapLimit(indexJobs, ctx.config.fetch.concurrency, async ({ w, v }) => {
      const ok = await fetchIndex(ctx, fetcher, archive, w.up, v);
      if (ok === 'fetched') indexFetched++;
      if (ok !== 'missing') w.have.set(v.path, v);
    });
    for (const w of suites) {
      for (const g of w.groups) {
        if ((g.kind === 'packages' || g.kind === 'sources') && !g.variants.some((v) => w.have.has(v.path))) {
          throw new AptfreezeError('UPSTREAM_HTTP', `${suiteUrl(archive.url, w.up.suite)}/${g.base}: no variant of this index could be fetched`);
        }
      }
    }

    await step('parse');
    // The previous serial (the newest published one; this serial is still pending): its
    // refs heads and pool tree. An index whose refs equal the previous serial's costs nothing below.
    const previousSerial = ctx.repo.latestSerial(archive.name);
    const prev = previousSerial ? await previousPool(ctx, archive.name, previousSerial) : null;
    const read = syncReader(ctx.store);
    const heads = new Map<string, string>();
    const filter = archive.packages ? new Set(archive.packages) : null;
    const keptSources = new Set<string>();
    const parsedPackages: PublishedPackagesIndex[] = [];
    for (const w of suites) {
      const ordered = [...w.groups].sort((a, b) => kindOrder(a) - kindOrder(b));
      for (const g of ordered) {
        if (g.kind === 'translation' && filter) {
          const tv = preferredVariant(g.variants, (e) => w.have.has(e.path));
          if (tv) await writeFiltered(ctx, w, g, await keptTranslations(ctx, tv, filter));
          continue;
        }
        if (g.kind !== 'packages' && g.kind !== 'sources') continue;
        const v = preferredVariant(g.variants, (e) => w.have.has(e.path))!;
        const where = `${w.up.suite}/${v.path}`;
        const key = `${w.up.suite}/${g.base}`;
        const published: PublishedPackagesIndex | null =
          g.kind === 'packages' ? { suite: w.up.suite, component: g.component, archDir: g.base.slice(g.prefix.length + 1).split('/')[0]!, parsedPath: v.path, parsedSha256: v.hash, filter } : null;
        if (published) parsedPackages.push(published);
        // An unfiltered index seen before is not parsed again: its refs are stored by index hash.
        const cached = filter ? null : usableRefs(ctx.store, ctx.repo.indexRefs(v.hash, g.kind));
        if (cached) {
          heads.set(key, cached);
          continue;
        }
        const baseHead = prev ? usableRefs(ctx.store, prev.heads.get(key) ?? null) : null;
        const base = baseHead ? { sha256: baseHead, loaded: loadRefs(read, baseHead) } : null;
        const parsed = g.kind === 'packages' ? await parsePackages(ctx, v, where, filter, keptSources, base?.loaded.refs ?? null) : await parseSources(ctx, v, where, filter, keptSources);
        const refs = await writeRefs(ctx.store, parsed.refs, base, where);
        parsed.refs.length = 0;
        heads.set(key, refs.sha256);
        if (!filter) ctx.repo.setIndexRefs(v.hash, g.kind, refs.sha256);
        else await writeFiltered(ctx, w, g, parsed.kept);
        if (published && parsed.listed) published.listed = parsed.listed;
      }
    }

    collectGarbage(); // the scan's garbage, before 60,000 downloads add their own
    await step('pool');
    // The pool set is the union of the indices' refs. When every refs head is the previous
    // serial's, so is the pool set: nothing to compare, fetch or link.
    const unchanged = prev !== null && prev.poolId !== null && heads.size === prev.heads.size && [...heads].every(([k, h]) => prev.heads.get(k) === h);
    let poolPlan: PoolPlan | null = null;
    let poolFiles = prev?.poolFiles ?? 0;
    const outsidePool: TreeLink[] = [];
    let uniqueMissing: PoolRef[] = [];
    if (unchanged) {
      poolPlan = { base: { id: prev.poolId!, added: [] }, all: () => [...unionOf(read, heads.values()).values()] };
      outsidePool.push(...prev.outsidePool);
    } else {
      const pool = unionOf(read, heads.values());
      const before = prev ? unionOf(read, prev.heads.values()) : new Map<string, PoolRef>();
      const added: TreeLink[] = [];
      for (const r of pool.values()) {
        if (!r.path.startsWith('pool/')) outsidePool.push(r);
        else if (before.get(r.path)?.sha256 !== r.sha256) added.push(r);
      }
      poolFiles = pool.size;
      // Files the previous serial lists are stored (gc never collects the latest serial): only the others need a look at the store.
      const missing = [...added, ...outsidePool].filter((r) => before.get(r.path)?.sha256 !== r.sha256 && !ctx.store.has(r.sha256));
      uniqueMissing = [...new Map(missing.map((r) => [r.sha256, r])).values()];
      poolPlan = { base: prev?.poolId ? { id: prev.poolId, added } : null, all: () => [...pool.values()].filter((r) => r.path.startsWith('pool/')) };
      // No tree to extend (a first snapshot): link files into the new tree as they arrive.
      if (!poolPlan.base) {
        pending = ctx.publisher.beginPool(archive.name, poolPlan.all());
        poolPlan.pending = pending;
      }
    }
    ctx.onPlan?.({ poolFiles: uniqueMissing.length, poolBytes: uniqueMissing.reduce((n, r) => n + r.size, 0) });
    let fetchedCount = 0;
    await mapLimit(uniqueMissing, ctx.config.fetch.concurrency, async (r) => {
      if (ctx.store.has(r.sha256)) return;
      // Each segment percent-encoded, as apt requests them: a file name holding %2e%2e, ? or # names that file, not a traversal or a query.
      await fetcher.toStore([`${archive.url.replace(/\/+$/, '')}/${r.path.split('/').map(encodeURIComponent).join('/')}`], { sha256: r.sha256, size: r.size }, ctx.store);
      killPoint('pool-file');
      pending?.link(r);
      ctx.onPoolFile?.();
      // Tens of thousands of downloads make garbage faster than V8 collects it on its own.
      if (++fetchedCount % 8192 === 0) collectGarbage();
    });

    if (uniqueMissing.length > 1000) collectGarbage();
    await step('proof');
    const validUntil = new Date(createdAt.getTime() + ctx.config.lifetimeMs);
    const keyringBlob = await ctx.store.putBuffer(keyringBytes);
    const proof = await makeProof(ctx, archive, serial, createdAt, suites, keyringBlob);

    await step('sign');
    const links: TreeLink[] = [];
    const files: TreeFile[] = [];
    for (const r of outsidePool) links.push({ path: r.path, sha256: r.sha256, size: r.size });
    links.push({ path: 'proof.deb', sha256: proof.blob.sha256, size: proof.blob.size });
    for (const w of suites) {
      const entries = new Map<string, ReleaseFileEntry>();
      for (const e of w.up.release.sha256) entries.set(e.path, e);
      for (const [path, e] of w.filtered) entries.set(path, e);
      for (const e of proof.indexEntries) entries.set(e.path, e);
      // A filtered index is listed only in the compressions we wrote for it.
      for (const e of w.up.release.sha256) if (w.filteredBases.has(stripCompression(e.path)) && !w.filtered.has(e.path)) entries.delete(e.path);
      // An index served uncompressed (brought up to date by pdiffs) is listed only in the variants served: apt
      // would otherwise ask for the compressed ones first and get a 404 for each.
      for (const e of w.up.release.sha256) if (e.path !== stripCompression(e.path) && w.have.has(stripCompression(e.path)) && !w.have.has(e.path) && w.groups.some((g) => g.base === stripCompression(e.path))) entries.delete(e.path);
      const served = [...w.have.values()]
        .filter((v) => !w.filteredBases.has(stripCompression(v.path)))
        .concat([...w.filtered.values()], proof.indexEntries);
      for (const e of served) {
        const d = `dists/${w.up.suite}`;
        links.push({ path: `${d}/${e.path}`, sha256: e.hash, size: e.size });
        links.push({ path: `${d}/${dirname(e.path)}/by-hash/SHA256/${e.hash}`, sha256: e.hash, size: e.size });
      }
      const text = ourReleaseText(w.up.release.fields, [...entries.values()], { validUntil, extraComponents: [proofComponent], snapshots: snapshotsUrl(ctx.config.baseUrl, archive.name), archive: archive.name });
      const signed = await signRelease(ctx.key, text);
      files.push({ path: `dists/${w.up.suite}/Release`, data: text });
      files.push({ path: `dists/${w.up.suite}/Release.gpg`, data: signed.releaseGpg });
      files.push({ path: `dists/${w.up.suite}/InRelease`, data: signed.inRelease });
    }
    const unique = dedupeLinks(links);
    const manifest: SerialManifest = {
      tree: unique,
      extra: [
        { path: '@keyring', sha256: keyringBlob.sha256, size: keyringBlob.size },
        { path: '@proof-manifest', sha256: proof.manifestBlob.sha256, size: proof.manifestBlob.size },
        ...suites.flatMap((w) => proof.manifest.suites.find((s) => s.suite === w.up.suite)!.releaseFiles.map((f) => ({ path: `@upstream/${w.up.suite}/${f.name}`, sha256: f.sha256, size: f.size }))),
        // Every upstream variant fetched, including those not linked (none are, today) and full indices of filtered ones.
        ...suites.flatMap((w) => [...w.have.values()].map((e) => ({ path: `@upstream/${w.up.suite}/${e.path}`, sha256: e.hash, size: e.size }))),
        ...suites.flatMap((w) => w.proofCopies.map((e) => ({ path: `@proof-copy/${w.up.suite}/${e.path}`, sha256: e.hash, size: e.size }))),
        // The pool set: refs heads, and the bases of delta refs (kept while a head needs them).
        ...[...heads].flatMap(([key, h]) => (refsChain(ctx.store, h) ?? [h]).map((sha, i) => ({ path: i === 0 ? `${refsPrefix}${key}` : `${refsChainPrefix}${key}/${i}`, sha256: sha, size: ctx.store.size(sha) }))),
      ],
    };
    const manifestBlob = await writeManifest(ctx.store, manifest);

    await step('stage');
    const staged = await ctx.publisher.stage(archive.name, serial, unique, files, poolPlan);
    staging = staged.dir;
    createdPool = staged.createdPool;
    await step('commit');
    await ctx.publisher.commit(archive.name, serial, staging);
    staging = undefined;
    await step('record');
    const stats: SnapshotStats = {
      suites: suites.length,
      indexFiles: indexJobs.length,
      indexFetched,
      indexPatched: pdiff.patched,
      poolFiles,
      poolFetched: uniqueMissing.length,
      bytesFetched: fetcher.stats.bytes + pdiff.bytes,
      requests: fetcher.stats.requests,
      retries: fetcher.stats.retries,
      ms: Date.now() - started,
    };
    if (!unchanged) collectGarbage(); // the pool step's, before provenance compares 60,000 keys
    const provenance = await prepareProvenance(ctx.store, { repo: ctx.repo, archive: archive.name, serial, previousSerial, indices: parsedPackages });
    for (const p of parsedPackages) delete p.listed; // compared: only the ranges to open are kept
    const publishedAt = ctx.now();
    ctx.repo.markPublished(
      archive.name,
      serial,
      { validUntil, publishedAt, manifest: manifestBlob.sha256, stats },
      suites.map((w) => ({
        suite: w.up.suite,
        release_date: w.up.release.date!.toISOString(),
        upstream_sha256: w.up.sha256,
        signers: JSON.stringify(w.up.verified.signers.map((s) => s.fingerprint)),
        fetched_at: w.up.fetchedAt.toISOString(),
      })),
      (db) => {
        provenance(db);
        // The audit entry in the same transaction as the state change it records.
        ctx.repo.appendAudit({ actor, action: 'snapshot', target: `${archive.name}/${serial}`, after: { state: 'live', validUntil: validUntil.toISOString() } }, publishedAt);
      },
    );
    await step('latest');
    await ctx.publisher.setLatest(archive.name, ctx.repo.latestSerial(archive.name), publishedAt);
    ctx.log.info({ archive: archive.name, serial, ...stats }, 'snapshot published');
    // What this run held is garbage now: give it back before the daemon waits for the next cycle.
    setImmediate(collectGarbage);
    return { archive: archive.name, serial, validUntil: validUntil.toISOString(), stats };
  } catch (e) {
    const err = asAptfreezeError(e);
    if (staging) await ctx.publisher.discard(staging).catch(() => {});
    // A new pool tree linked while downloading and not renamed into place (a no-op once it was).
    if (pending) await ctx.publisher.discard(pending.dir).catch(() => {});
    if (serial) {
      // Recording the failure can fail too (a full disk fails the database as well): the cause
      // is still what is reported, and the serial stays pending for crash recovery to mark failed.
      try {
        ctx.repo.markFailed(archive.name, serial, `${err.code}: ${err.message}`);
      } catch (e2) {
        ctx.log.error({ archive: archive.name, serial, err: (e2 as Error).message }, 'could not mark the serial failed');
      }
      // A failure after commit (recording) must not leave an unrecorded serial in the tree.
      let state: string | undefined;
      try {
        state = ctx.repo.getSerial(archive.name, serial)?.state;
      } catch {
        state = undefined; // unknown: keep the tree, recovery decides at the next start
      }
      if (state === 'failed' || state === 'pending') await ctx.publisher.discard(ctx.publisher.serialDir(archive.name, serial)).catch(() => {});
    }
    ctx.log.error({ archive: archive.name, serial, code: err.code }, err.message);
    throw err;
  } finally {
    await fetcher.close().catch(() => {});
  }
}

/** What a new serial needs of the previous one: its refs heads by index, its pool tree, its files outside pool/. */
interface PreviousPool {
  heads: Map<string, string>;
  poolId: string | null;
  poolFiles: number;
  outsidePool: TreeLink[];
}

async function previousPool(ctx: SnapshotContext, archive: string, serial: string): Promise<PreviousPool | null> {
  const row = ctx.repo.getSerial(archive, serial);
  if (!row?.manifest_sha256 || !ctx.store.has(row.manifest_sha256)) return null;
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
function usableRefs(store: FsBlobStore, sha256: string | null): string | null {
  return sha256 && refsChain(store, sha256) ? sha256 : null;
}

/** The pool files a set of refs heads names, one per path; a path with two different files is refused. */
function unionOf(read: ReadBlobSync, heads: Iterable<string>): ReadonlyMap<string, PoolRef> {
  const all = [...heads];
  // One index (the common case of one component and architecture): its cached map, not a copy.
  if (all.length === 1) return loadRefs(read, all[0]!).refs;
  const out = new Map<string, PoolRef>();
  for (const h of all) {
    for (const r of loadRefs(read, h).refs.values()) {
      const seen = out.get(r.path);
      if (seen && (seen.sha256 !== r.sha256 || seen.size !== r.size)) throw new AptfreezeError('MALFORMED', `${r.path} is listed with two different hashes`);
      out.set(r.path, r);
    }
  }
  return out;
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
  try {
    for await (const batch of scanPackages(decompressStream(compressionOf(v.path), ctx.store.readStream(v.hash), { maxBytes: indexDecompressCap(ctx) }), where, opts)) {
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
  } catch (e) {
    if (isAptfreezeError(e)) throw new AptfreezeError(e.code, `${v.path}: ${e.message}`, { cause: e, details: e.details });
    throw new AptfreezeError('MALFORMED', `${v.path}: ${(e as Error).message}`, { cause: e });
  }
  return out;
}

async function parseSources(ctx: SnapshotContext, v: ReleaseFileEntry, where: string, filter: Set<string> | null, keptSources: Set<string>): Promise<ParsedIndex> {
  const out: ParsedIndex = { refs: [], kept: [] };
  for await (const s of stanzasOfBlob(ctx.store, v.hash, v.path, indexDecompressCap(ctx))) {
    const name = s.get('Package') ?? '';
    if (filter && !filter.has(name) && !keptSources.has(name)) continue;
    out.refs.push(...sourcesRefs(s, where));
    if (filter) out.kept.push(s.raw);
  }
  return out;
}


/** Brings each index the store lacks up to date by pdiffs where upstream has them; counts what it did. */
async function patchIndices(ctx: SnapshotContext, fetcher: Fetcher, archive: ArchiveConfig, suites: SuiteWork[]): Promise<{ patched: number; bytes: number }> {
  const out = { patched: 0, bytes: 0 };
  const todo = suites.flatMap((w) => w.groups.filter((g) => g.kind !== 'other' && !g.variants.some((v) => ctx.store.has(v.hash))).map((g) => ({ w, g })));
  if (!todo.length || !todo.some(({ w, g }) => w.up.release.sha256.some((e) => e.path === `${g.base}.diff/Index`))) return out;
  const previous = await previousIndices(ctx.store, ctx.repo, archive.name);
  if (!previous.size) return out;
  const deps = { store: ctx.store, fetcher, log: ctx.log, maxBytes: indexDecompressCap(ctx) };
  await mapLimit(todo, ctx.config.fetch.concurrency, async ({ w, g }) => {
    const r = await updateByPdiff(deps, archive.url, w.up, g, previous);
    if (!r) return;
    out.patched++;
    out.bytes += r.bytes;
  });
  return out;
}
/** The stanzas of a Translation file that describe packages the filter keeps, whole and byte for byte. */
async function keptTranslations(ctx: SnapshotContext, v: ReleaseFileEntry, filter: Set<string>): Promise<Buffer[]> {
  const kept: Buffer[] = [];
  for await (const s of stanzasOfBlob(ctx.store, v.hash, v.path, indexDecompressCap(ctx))) if (filter.has(s.get('Package') ?? '')) kept.push(s.raw);
  return kept;
}

function kindOrder(g: IndexGroup): number {
  return g.kind === 'packages' ? 0 : g.kind === 'sources' ? 1 : 2;
}

/** Fetches one index variant unless the store has it: by-hash first where upstream offers it. */
async function fetchIndex(ctx: SnapshotContext, fetcher: Fetcher, archive: ArchiveConfig, up: UpstreamRelease, v: ReleaseFileEntry): Promise<'stored' | 'fetched' | 'missing'> {
  if (ctx.store.has(v.hash)) return 'stored';
  const base = suiteUrl(archive.url, up.suite);
  const candidates = up.release.acquireByHash ? [`${base}/${dirname(v.path)}/by-hash/SHA256/${v.hash}`, `${base}/${v.path}`] : [`${base}/${v.path}`];
  try {
    await fetcher.toStore(candidates, { sha256: v.hash, size: v.size }, ctx.store);
    return 'fetched';
  } catch (e) {
    // Upstream may list variants it does not serve (Debian lists uncompressed Packages it does not ship): a 404 skips the variant.
    if (e instanceof AptfreezeError && e.code === 'UPSTREAM_HTTP' && /404 Not Found$/.test(e.message)) return 'missing';
    throw e;
  }
}

const writableCompressions: Compression[] = ['none', 'gz', 'xz'];

/** A filtered index: whole upstream stanzas byte for byte, in each compression upstream listed that we can write. */
async function writeFiltered(ctx: SnapshotContext, w: SuiteWork, g: IndexGroup, kept: Buffer[]): Promise<void> {
  const parts: Buffer[] = [];
  kept.forEach((raw, i) => {
    if (i > 0) parts.push(Buffer.from('\n'));
    parts.push(raw);
  });
  const plain = Buffer.concat(parts);
  for (const v of g.variants) {
    const kind = compressionOf(v.path);
    if (!writableCompressions.includes(kind)) continue;
    const data = kind === 'none' ? plain : await compressBuffer(kind as 'gz' | 'xz', plain);
    const ref = await ctx.store.putBuffer(data);
    w.filtered.set(v.path, { path: v.path, hash: ref.sha256, size: ref.size });
  }
  w.filteredBases.add(g.base);
}

/** Builds the proof package, its index entries for the aptfreeze-proof component, and stores both. */
async function makeProof(ctx: SnapshotContext, archive: ArchiveConfig, serial: string, createdAt: Date, suites: SuiteWork[], keyring: BlobRef) {
  const proofSuites: ProofSuite[] = [];
  for (const w of suites) {
    const releaseFiles = [];
    for (const f of w.up.files) {
      const b = await ctx.store.putBuffer(f.data);
      releaseFiles.push({ name: f.name, sha256: b.sha256, size: b.size });
    }
    const indices: ProofIndex[] = [];
    for (const g of w.groups) {
      const available = g.variants.filter((v) => w.have.has(v.path));
      // One compressed variant of each index is enough for the auditor: the smallest.
      const chosen = [...available].sort((a, b) => a.size - b.size)[0];
      // And of a filtered index, the smallest served copy, so that the auditor can check its stanzas.
      const servedChosen = available.map((v) => w.filtered.get(v.path)).filter((f) => f !== undefined).sort((a, b) => a.size - b.size)[0];
      // Only the uncompressed variant (an index brought up to date by pdiffs): the proof holds a zstd copy of
      // it instead, which the auditor checks through the uncompressed hash the upstream Release lists.
      const copy = chosen && chosen.size > 64 * 1024 && compressionOf(chosen.path) === 'none' ? await ctx.store.putBuffer(await compressBuffer('zst', await ctx.store.read(chosen.hash))) : null;
      for (const v of available) {
        const f = w.filtered.get(v.path);
        indices.push({
          path: v.path,
          size: v.size,
          sha256: v.hash,
          served: f ? 'filtered' : 'verbatim',
          ...(f ? { servedSha256: f.hash, servedSize: f.size, servedInProof: f === servedChosen } : {}),
          inProof: v === chosen && !copy,
        });
      }
      if (copy) {
        indices.push({ path: `${chosen!.path}.zst`, size: copy.size, sha256: copy.sha256, served: 'verbatim', inProof: true });
        w.proofCopies.push({ path: `${chosen!.path}.zst`, hash: copy.sha256, size: copy.size });
      }
    }
    proofSuites.push({
      suite: w.up.suite,
      form: w.up.form,
      fetchedAt: w.up.fetchedAt.toISOString(),
      releaseDate: w.up.release.date!.toISOString(),
      signers: w.up.verified.signers.map((s) => s.fingerprint),
      releaseFiles,
      indices,
    });
  }
  const manifest: ProofManifest = {
    format: 1,
    archive: archive.name,
    upstreamUrl: archive.url,
    serial,
    createdAt: new Date(Math.floor(createdAt.getTime() / 1000) * 1000).toISOString(),
    keyring: { name: basename(archive.keyring).endsWith('.asc') ? 'keyring.asc' : 'keyring.gpg', sha256: keyring.sha256, size: keyring.size },
    suites: proofSuites,
  };
  const manifestBlob = await ctx.store.putBuffer(Buffer.from(JSON.stringify(manifest)));
  // As parts, stored by streaming them: the package is never copied into one buffer.
  const deb = await buildProofDebParts(manifest, ctx.store);
  const blob = await ctx.store.putStream((async function* () {
    yield* deb;
  })());
  // The proof's Filename is the serial's own proof.deb, not a pool path: the pool
  // directory is shared by serials with the same pool set, and the proof differs per serial.
  const poolPath = 'proof.deb';
  const stanza = Buffer.from(proofStanza(manifest, deb, poolPath));
  const gz = await compressBuffer('gz', stanza);
  const indexEntries: ReleaseFileEntry[] = [];
  const archDirs = [...new Set([...archive.architectures.filter((a) => a !== 'all'), 'all'])].map((a) => `binary-${a}`);
  const plainRef = await ctx.store.putBuffer(stanza);
  const gzRef = await ctx.store.putBuffer(gz);
  for (const d of archDirs) {
    indexEntries.push({ path: `${proofComponent}/${d}/Packages`, hash: plainRef.sha256, size: plainRef.size });
    indexEntries.push({ path: `${proofComponent}/${d}/Packages.gz`, hash: gzRef.sha256, size: gzRef.size });
  }
  return { manifest, manifestBlob, blob, poolPath, indexEntries };
}

function dedupeLinks(links: TreeLink[]): TreeLink[] {
  const m = new Map<string, TreeLink>();
  for (const l of links) {
    const seen = m.get(l.path);
    if (seen && seen.sha256 !== l.sha256) throw new AptfreezeError('MALFORMED', `two different files for ${l.path}`);
    m.set(l.path, l);
  }
  return [...m.values()];
}
