// gc of the object store (issue 15): mark from the publication catalog, delete after a grace period.
//
//   1. mark: every blob in the store is looked up in the catalog's file lists (pub_files, batches
//      of 1,000); an unreferenced one goes on the unreferenced list with the time first seen, a
//      referenced one comes off it. Collected serials have no file list (markCollected).
//   2. claim: the blobs unreferenced since before now − grace and still unreferenced, claimed under
//      the gc lock (catalog/pg-gc.ts): no publication naming one can commit from then on.
//   3. delete the claimed objects, then mark the claims finished.
//   4. uploads crashed writers left (incomplete multipart uploads, holding objects) older than the
//      grace period are removed; finished claims older than a day are forgotten.
//
// The grace period covers an upload whose publication has not committed yet (publish-serial.ts
// uploads every blob first) and a reader streaming a blob of a serial collected meanwhile.
// Everything here is safe to run twice or to kill at any point: a claim left unfinished is
// finished by the next run, and blocks publications of its blobs until then.
import type { BlobStore } from '../store/port.ts';
import type { PgGcCatalog } from '../catalog/pg-gc.ts';

export interface ObjectGcReport {
  /** Blobs found in the store. */
  seen: number;
  /** Of those, unreferenced by any serial (waiting for their grace period or deleted now). */
  unreferenced: number;
  /** Blobs deleted by this run. */
  deleted: number;
  /** Incomplete uploads and holding objects of crashed writers removed. */
  staleUploads: number;
}

export interface ObjectGcOptions {
  /** How long a blob must have been seen unreferenced before it is deleted (ms). */
  graceMs: number;
  now: () => Date;
  /** Deletes per claim (default 1,000). */
  batch?: number;
  dryRun?: boolean;
}

export async function collectObjects(
  store: Pick<BlobStore, 'list' | 'remove'> & { removeStaleUploads?: (before: Date) => Promise<number> },
  gc: PgGcCatalog,
  opts: ObjectGcOptions,
): Promise<ObjectGcReport> {
  const report: ObjectGcReport = { seen: 0, unreferenced: 0, deleted: 0, staleUploads: 0 };
  const batchSize = opts.batch ?? 1000;
  const present = new Set<string>();
  let batch: string[] = [];
  const flush = async (): Promise<void> => {
    report.unreferenced += await gc.mark(batch, opts.now());
    batch = [];
  };
  for await (const sha256 of store.list()) {
    report.seen++;
    present.add(sha256);
    batch.push(sha256);
    if (batch.length >= 1000) await flush();
  }
  await flush();
  // Entries whose object is gone (deleted by an earlier run or by hand) leave the list.
  await gc.forget((await gc.unreferenced()).filter((h) => !present.has(h)));
  if (opts.dryRun) return report;

  const cutoff = new Date(opts.now().getTime() - opts.graceMs);
  for (;;) {
    const claimed = await gc.claim(cutoff, batchSize);
    if (!claimed.length) break;
    for (const sha256 of claimed) await store.remove(sha256);
    await gc.finish(claimed);
    report.deleted += claimed.filter((h) => present.has(h)).length;
    if (claimed.length < batchSize) break;
  }
  if (store.removeStaleUploads) report.staleUploads = await store.removeStaleUploads(cutoff);
  await gc.pruneClaims(new Date(opts.now().getTime() - 86_400_000));
  return report;
}
