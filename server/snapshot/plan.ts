import { readFile } from 'node:fs/promises';
import { readKeyring } from '../pgp/keyring.ts';
import { fetchUpstreamRelease, checkFreshness } from '../mirror/upstream.ts';
import { planIndices } from '../mirror/plan.ts';
import type { RunDeps, SnapshotPlan, SuitePlan } from './types.ts';

/**
 * Step 1 (design, mirror cycle 1–3): each suite's upstream Release, fetched and
 * verified against the archive's keyring and refused when stale or rolled back,
 * and the index files the configuration needs of it. Only then is a serial
 * allocated: a refused Release leaves no serial behind.
 */
export async function planSnapshot({ ctx, archive, fetcher }: RunDeps): Promise<SnapshotPlan> {
  const keyringBytes = await readFile(archive.keyring);
  const keys = await readKeyring(keyringBytes);
  const suites: SuitePlan[] = [];
  for (const suite of archive.suites) {
    const up = await fetchUpstreamRelease(fetcher, archive.url, suite, keys, { now: ctx.now(), requireValidNow: true }, ctx.config.fetch.maxReleaseBytes);
    checkFreshness(up, ctx.now(), ctx.repo.lastAcceptedDate(archive.name, suite));
    const groups = planIndices(up.release, { suite, components: archive.components, architectures: archive.architectures, sources: archive.sources, translations: archive.translations });
    suites.push({ up, groups });
  }
  const serial = ctx.repo.allocateSerial(archive.name, ctx.now());
  const createdAt = ctx.now();
  return { keyringBytes, suites, serial, createdAt };
}
