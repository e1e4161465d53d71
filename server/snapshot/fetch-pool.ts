import { AptfreezeError } from '../errors.ts';
import type { TreeLink, PoolPlan, PendingPool } from '../publish/tree.ts';
import { mapLimit } from '../util/limit.ts';
import { killPoint } from '../util/killpoint.ts';
import { collectGarbage } from '../util/memory.ts';
import { loadRefs, blobReader, type ReadBlob } from './refs.ts';
import type { ParsedSnapshot, PoolRef, PoolResult, RunDeps } from './types.ts';

/**
 * Step 4 (design, mirror cycle 4, second half): the pool set (the union of the
 * indices' refs) compared with the previous serial's, and every file not yet
 * stored fetched in parallel, size and sha256 checked while streaming. With no
 * previous pool tree to extend (a first snapshot), a new tree is linked while
 * the files arrive; if this step fails, that tree is discarded here.
 */
export async function fetchPool({ ctx, archive, fetcher }: RunDeps, parsed: ParsedSnapshot): Promise<PoolResult> {
  const { heads, previous: prev } = parsed;
  const read = blobReader(ctx.store);
  // When every refs head is the previous serial's, so is the pool set: nothing to compare, fetch or link.
  const unchanged = prev !== null && prev.poolId !== null && heads.size === prev.heads.size && [...heads].every(([k, h]) => prev.heads.get(k) === h);
  if (unchanged) {
    const plan: PoolPlan = { base: { id: prev.poolId!, added: [] }, all: async () => [...(await unionOf(read, heads.values())).values()] };
    ctx.onPlan?.({ poolFiles: 0, poolBytes: 0 });
    return { unchanged, plan, poolFiles: prev.poolFiles, outsidePool: [...prev.outsidePool], fetched: 0, pending: null };
  }
  const pool = await unionOf(read, heads.values());
  const before = prev ? await unionOf(read, prev.heads.values()) : new Map<string, PoolRef>();
  const added: TreeLink[] = [];
  const outsidePool: TreeLink[] = [];
  for (const r of pool.values()) {
    if (!r.path.startsWith('pool/')) outsidePool.push(r);
    else if (before.get(r.path)?.sha256 !== r.sha256) added.push(r);
  }
  // Files the previous serial lists are stored (gc never collects the latest serial): only the others need a look at the store.
  const missing: TreeLink[] = [];
  for (const r of [...added, ...outsidePool]) if (before.get(r.path)?.sha256 !== r.sha256 && !(await ctx.store.has(r.sha256))) missing.push(r);
  const uniqueMissing = [...new Map(missing.map((r) => [r.sha256, r])).values()];
  const plan: PoolPlan = { base: prev?.poolId ? { id: prev.poolId, added } : null, all: async () => [...pool.values()].filter((r) => r.path.startsWith('pool/')) };
  // No tree to extend (a first snapshot): link files into the new tree as they arrive.
  const pending: PendingPool | null = plan.base ? null : ctx.publisher.beginPool(archive.name, await plan.all());
  if (pending) plan.pending = pending;
  ctx.onPlan?.({ poolFiles: uniqueMissing.length, poolBytes: uniqueMissing.reduce((n, r) => n + r.size, 0) });
  let fetchedCount = 0;
  const base = archive.url.replace(/\/+$/, '');
  try {
    await mapLimit(uniqueMissing, ctx.config.fetch.concurrency, async (r) => {
      if (await ctx.store.has(r.sha256)) return;
      // Each segment percent-encoded, as apt requests them: a file name holding %2e%2e, ? or # names that file, not a traversal or a query.
      await fetcher.toStore([`${base}/${r.path.split('/').map(encodeURIComponent).join('/')}`], { sha256: r.sha256, size: r.size }, ctx.store);
      killPoint('pool-file');
      pending?.link(r);
      ctx.onPoolFile?.();
      // Tens of thousands of downloads make garbage faster than V8 collects it on its own.
      if (++fetchedCount % 8192 === 0) collectGarbage();
    });
  } catch (e) {
    if (pending) await ctx.publisher.discard(pending.dir).catch(() => {});
    throw e;
  }
  return { unchanged, plan, poolFiles: pool.size, outsidePool, fetched: uniqueMissing.length, pending };
}

/** The pool files a set of refs heads names, one per path; a path with two different files is refused. */
async function unionOf(read: ReadBlob, heads: Iterable<string>): Promise<ReadonlyMap<string, PoolRef>> {
  const all = [...heads];
  // One index (the common case of one component and architecture): its cached map, not a copy.
  if (all.length === 1) return (await loadRefs(read, all[0]!)).refs;
  const out = new Map<string, PoolRef>();
  for (const h of all) {
    for (const r of (await loadRefs(read, h)).refs.values()) {
      const seen = out.get(r.path);
      if (seen && (seen.sha256 !== r.sha256 || seen.size !== r.size)) throw new AptfreezeError('MALFORMED', `${r.path} is listed with two different hashes`);
      out.set(r.path, r);
    }
  }
  return out;
}
