import { createHash } from 'node:crypto';
import type { BlobStore } from '../store/store.ts';
import type { MrRepo } from '../catalog/snapmr.ts';

/** The store's sha1Sink (store.ts): told each pair as a file is stored; `flush` writes what it holds. */
export interface Sha1Sink {
  (sha256: string, sha1: string): void;
  flush(): void;
}

/**
 * The store's sha1Sink: pairs are gathered and written in one transaction per 4096 pairs and
 * when the store passes its flush barrier (before a serial listing the files is committed), never
 * one per file or per turn of the event loop: each transaction is a commit with an fsync
 * (`synchronous = FULL`; 2-3 ms here, tens of ms on a busy disk) on the event loop's thread, and a
 * first snapshot stores tens of thousands of small files (a commit a turn held its downloads to
 * ~400 files/s). A pair lost to a crash, or to a process that ends before the barrier (a failed
 * run), is filled in again by fillMissingSha1.
 */
export function sha1Recorder(repo: MrRepo): Sha1Sink {
  let pending: Array<[string, string]> = [];
  const flush = () => {
    if (!pending.length) return;
    const batch = pending;
    pending = [];
    try {
      repo.putSha1(batch);
    } catch {
      // The database is closed or full: the indexer hashes these files again when it needs them.
    }
  };
  const sink = (sha256: string, sha1: string) => {
    if (pending.push([sha256, sha1]) >= 4096) flush();
  };
  return Object.assign(sink, { flush });
}

/** Hashes the stored files that the served indices list and that have no SHA-1 yet (data stored before migration 006). */
export async function fillMissingSha1(repo: MrRepo, store: BlobStore): Promise<number> {
  let n = 0;
  const batch: Array<[string, string]> = [];
  for (const sha256 of repo.filesWithoutSha1()) {
    if (!(await store.has(sha256))) continue;
    const h = createHash('sha1');
    for await (const chunk of store.readStream(sha256)) h.update(chunk);
    batch.push([sha256, h.digest('hex')]);
    if (batch.length >= 1000) repo.putSha1(batch.splice(0));
    n++;
  }
  if (batch.length) repo.putSha1(batch);
  return n;
}
