import { AptfreezeError, asAptfreezeError } from '../errors.ts';
import { Fetcher } from '../mirror/fetch.ts';
import { killPoint } from '../util/killpoint.ts';
import { collectGarbage } from '../util/memory.ts';
import { buildSnapshotProof } from '../proof/snapshot-proof.ts';
import { writeManifest } from './manifest.ts';
import { snapshotsUrl } from './release-file.ts';
import { planSnapshot } from './plan.ts';
import { fetchIndices } from './fetch-indices.ts';
import { parseIndices } from './parse.ts';
import { fetchPool } from './fetch-pool.ts';
import { buildSnapshot, storedChains } from './build.ts';
import { signReleases } from './sign.ts';
import { publishSerial } from './publish-step.ts';
import type { PendingPool } from '../publish/tree.ts';
import type { RunDeps, SnapshotContext, SnapshotResult } from './types.ts';

export type { SnapshotContext, SnapshotResult, SnapshotStats } from './types.ts';

/**
 * One mirror run of one archive -> one immutable, published serial: the design's
 * mirror cycle as steps, each in its own module (ARCHITECTURE.md, "One snapshot,
 * step by step"). Each named step is reported (`ctx.step`: crash tests kill there)
 * with the process's memory in the debug log; full collections run between the
 * big steps. Any failure marks the serial failed, removes its staging and new pool
 * trees and leaves `latest` and every earlier serial as they were. The caller holds
 * the archive's lock (`archiveLock`): the operations runner, or snapshotService.
 */
export async function takeSnapshot(ctx: SnapshotContext, archiveName: string, actor = 'cli'): Promise<SnapshotResult> {
  const archive = ctx.config.archives.find((a) => a.name === archiveName);
  if (!archive) throw new AptfreezeError('NOT_FOUND', `unknown archive ${archiveName} (configured: ${ctx.config.archives.map((a) => a.name).join(', ') || 'none'})`);
  const started = Date.now();
  const deps: RunDeps = { ctx, archive, fetcher: new Fetcher(ctx.config.fetch, ctx.onBytes) };
  let serial: string | undefined;
  let pending: PendingPool | null = null;
  const step = async (name: string) => {
    const m = process.memoryUsage();
    ctx.log.debug({ archive: archive.name, serial, step: name, rssMb: Math.round(m.rss / 1e6), heapMb: Math.round(m.heapUsed / 1e6), externalMb: Math.round(m.external / 1e6) }, 'step');
    killPoint(name);
    await ctx.step?.(name);
  };
  try {
    ctx.repo.ensureArchive(archive.name, archive.url, ctx.now());
    await step('releases');
    const plan = await planSnapshot(deps);
    serial = plan.serial;
    ctx.log.info({ archive: archive.name, serial }, 'snapshot started');
    await step('indices');
    const indices = await fetchIndices(deps, plan.suites);
    await step('parse');
    const parsed = await parseIndices(deps, plan, indices);
    collectGarbage(); // the scan's garbage, before 60,000 downloads add their own
    await step('pool');
    const pool = await fetchPool(deps, parsed);
    pending = pool.pending;
    if (pool.fetched > 1000) collectGarbage();
    await step('proof');
    const suites = plan.suites.map((w, i) => ({ ...w, have: indices.have[i]!, filtered: parsed.filtered[i]! }));
    const proof = await buildSnapshotProof(ctx.store, { archive, serial, createdAt: plan.createdAt, keyringBytes: plan.keyringBytes, suites: suites.map((w) => ({ ...w, filtered: w.filtered.files })) });
    await step('sign');
    const validUntil = new Date(plan.createdAt.getTime() + ctx.config.lifetimeMs);
    const built = buildSnapshot({ archive: archive.name, suites, proof, outsidePool: pool.outsidePool, heads: parsed.heads, refsChain: await storedChains(ctx.store, parsed.heads.values()), validUntil, snapshots: snapshotsUrl(ctx.config.baseUrl, archive.name) });
    const files = await signReleases(ctx.key, built.releases);
    const manifest = await writeManifest(ctx.store, built.manifest);
    if (!pool.unchanged) collectGarbage(); // the pool step's, before the tree is staged and recorded
    const stats = () => ({
      suites: plan.suites.length,
      indexFiles: indices.indexFiles,
      indexFetched: indices.indexFetched,
      indexPatched: indices.indexPatched,
      poolFiles: pool.poolFiles,
      poolFetched: pool.fetched,
      bytesFetched: deps.fetcher.stats.bytes + indices.patchBytes,
      requests: deps.fetcher.stats.requests,
      retries: deps.fetcher.stats.retries,
      ms: Date.now() - started,
    });
    const published = await publishSerial(deps, { plan, built, files, manifest, pool, provenance: parsed.provenance, validUntil, actor, stats }, step);
    ctx.log.info({ archive: archive.name, serial, ...published.stats }, 'snapshot published');
    // What this run held is garbage now: give it back before the daemon waits for the next cycle.
    setImmediate(collectGarbage);
    return { archive: archive.name, serial, validUntil: validUntil.toISOString(), stats: published.stats };
  } catch (e) {
    throw await failed(ctx, archive.name, serial, pending, asAptfreezeError(e));
  } finally {
    await deps.fetcher.close().catch(() => {});
  }
}

/**
 * After a failure: the new pool tree (linked while downloading, not yet in place) removed,
 * the serial marked failed and its tree removed unless it was recorded. Returns the error to throw.
 */
async function failed(ctx: SnapshotContext, archive: string, serial: string | undefined, pending: PendingPool | null, err: AptfreezeError): Promise<AptfreezeError> {
  // A no-op once the tree was renamed into place.
  if (pending) await ctx.publisher.discard(pending.dir).catch(() => {});
  if (serial) {
    // Recording the failure can fail too (a full disk fails the database as well): the cause
    // is still what is reported, and the serial stays pending for crash recovery to mark failed.
    try {
      ctx.repo.markFailed(archive, serial, `${err.code}: ${err.message}`);
    } catch (e2) {
      ctx.log.error({ archive, serial, err: (e2 as Error).message }, 'could not mark the serial failed');
    }
    // A failure after commit (recording) must not leave an unrecorded serial in the tree.
    let state: string | undefined;
    try {
      state = ctx.repo.getSerial(archive, serial)?.state;
    } catch {
      state = undefined; // unknown: keep the tree, recovery decides at the next start
    }
    if (state === 'failed' || state === 'pending') await ctx.publisher.removeSerial(archive, serial).catch(() => {});
  }
  ctx.log.error({ archive, serial, code: err.code }, err.message);
  return err;
}
