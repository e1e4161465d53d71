import type { TreeFile } from '../publish/tree.ts';
import type { BlobRef } from '../store/store.ts';
import type { ProvenanceUpdate } from '../provenance/record.ts';
import type { BuiltSnapshot } from './build.ts';
import type { PoolResult, RunDeps, SnapshotPlan, SnapshotStats } from './types.ts';

export interface PublishInput {
  plan: SnapshotPlan;
  built: BuiltSnapshot;
  /** The signed Release files. */
  files: TreeFile[];
  manifest: BlobRef;
  pool: PoolResult;
  provenance: ProvenanceUpdate;
  validUntil: Date;
  actor: string;
  /** The run's statistics, taken when the serial is recorded. */
  stats: () => SnapshotStats;
}

/**
 * Step 8 (design, mirror cycle 5, second half): the serial's tree built aside and
 * renamed into place, the serial recorded as published with its provenance and
 * audit entry in one transaction, then `latest` moved. Reports the steps `stage`,
 * `commit`, `record` and `latest` (crash tests kill at them). A staging tree left
 * by a failure before commit is removed here; the orchestrator handles the rest.
 */
export async function publishSerial({ ctx, archive }: RunDeps, input: PublishInput, report: (step: string) => Promise<void>): Promise<{ publishedAt: Date; stats: SnapshotStats }> {
  const { serial } = input.plan;
  let staging: string | undefined;
  try {
    await report('stage');
    const staged = await ctx.publisher.stage(archive.name, serial, input.built.links, input.files, input.pool.plan);
    staging = staged.dir;
    await report('commit');
    await ctx.publisher.commit(archive.name, serial, staging);
    staging = undefined;
  } catch (e) {
    if (staging) await ctx.publisher.discard(staging).catch(() => {});
    throw e;
  }
  await report('record');
  const stats = input.stats();
  const publishedAt = ctx.now();
  ctx.repo.markPublished(
    archive.name,
    serial,
    { validUntil: input.validUntil, publishedAt, manifest: input.manifest.sha256, stats },
    input.plan.suites.map((w) => ({
      suite: w.up.suite,
      release_date: w.up.release.date!.toISOString(),
      upstream_sha256: w.up.sha256,
      signers: JSON.stringify(w.up.verified.signers.map((s) => s.fingerprint)),
      fetched_at: w.up.fetchedAt.toISOString(),
    })),
    (db) => {
      input.provenance(db);
      // The audit entry in the same transaction as the state change it records.
      ctx.repo.appendAudit({ actor: input.actor, action: 'snapshot', target: `${archive.name}/${serial}`, after: { state: 'live', validUntil: input.validUntil.toISOString() } }, publishedAt);
    },
  );
  await report('latest');
  await ctx.publisher.setLatest(archive.name, ctx.repo.latestSerial(archive.name), publishedAt);
  return { publishedAt, stats };
}
