import { dirname } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import { suiteUrl, type UpstreamRelease } from '../mirror/upstream.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import { mapLimit } from '../util/limit.ts';
import { whereStored } from '../store/port.ts';
import { previousIndices, updateByPdiff } from './pdiff.ts';
import type { FetchedIndices, RunDeps, SuitePlan } from './types.ts';

/**
 * Step 2 (design, mirror cycle 3): the planned index files into the store, each
 * checked against the upstream Release's size and sha256 while streaming. Where
 * upstream publishes pdiffs, an index the store lacks is first patched from the
 * previous serial's copy. A Packages or Sources index of which no variant could
 * be fetched is UPSTREAM_HTTP.
 */
export async function fetchIndices(deps: RunDeps, suites: readonly SuitePlan[]): Promise<FetchedIndices> {
  const { ctx, archive } = deps;
  const pdiff = await patchIndices(deps, suites);
  // A variant absent from the store is fetched only when no other variant of its index is stored:
  // upstream may list variants it does not serve (Debian lists uncompressed Packages it does not ship),
  // and asking again for those on every run would make an unchanged cycle cost more than a few requests.
  const have = suites.map(() => new Map<string, ReleaseFileEntry>());
  const jobs: Array<{ i: number; up: UpstreamRelease; v: ReleaseFileEntry }> = [];
  for (const [i, w] of suites.entries()) {
    for (const g of w.groups) {
      const stored = await whereStored(ctx.store, g.variants, (v) => v.hash);
      for (const v of stored.length ? stored : g.variants) jobs.push({ i, up: w.up, v });
    }
  }
  let indexFetched = 0;
  await mapLimit(jobs, ctx.config.fetch.concurrency, async ({ i, up, v }) => {
    const ok = await fetchIndex(deps, up, v);
    if (ok === 'fetched') indexFetched++;
    if (ok !== 'missing') have[i]!.set(v.path, v);
  });
  suites.forEach((w, i) => {
    for (const g of w.groups) {
      if ((g.kind === 'packages' || g.kind === 'sources') && !g.variants.some((v) => have[i]!.has(v.path))) {
        throw new AptfreezeError('UPSTREAM_HTTP', `${suiteUrl(archive.url, w.up.suite)}/${g.base}: no variant of this index could be fetched`);
      }
    }
  });
  return { have, indexFiles: jobs.length, indexFetched, indexPatched: pdiff.patched, patchBytes: pdiff.bytes };
}

/** Brings each index the store lacks up to date by pdiffs where upstream has them; counts what it did. */
async function patchIndices({ ctx, archive, fetcher }: RunDeps, suites: readonly SuitePlan[]): Promise<{ patched: number; bytes: number }> {
  const out = { patched: 0, bytes: 0 };
  const todo: Array<{ w: SuitePlan; g: SuitePlan['groups'][number] }> = [];
  for (const w of suites) for (const g of w.groups) if (g.kind !== 'other' && !(await whereStored(ctx.store, g.variants, (v) => v.hash)).length) todo.push({ w, g });
  if (!todo.length || !todo.some(({ w, g }) => w.up.release.sha256.some((e) => e.path === `${g.base}.diff/Index`))) return out;
  const previous = await previousIndices(ctx.store, ctx.repo, archive.name);
  if (!previous.size) return out;
  const deps = { store: ctx.store, fetcher, log: ctx.log, maxBytes: ctx.config.fetch.maxDecompressedBytes };
  await mapLimit(todo, ctx.config.fetch.concurrency, async ({ w, g }) => {
    const r = await updateByPdiff(deps, archive.url, w.up, g, previous);
    if (!r) return;
    out.patched++;
    out.bytes += r.bytes;
  });
  return out;
}

/** Fetches one index variant unless the store has it: by-hash first where upstream offers it. */
async function fetchIndex({ ctx, archive, fetcher }: RunDeps, up: UpstreamRelease, v: ReleaseFileEntry): Promise<'stored' | 'fetched' | 'missing'> {
  if (await ctx.store.has(v.hash)) return 'stored';
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
