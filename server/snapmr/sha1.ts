import { createHash } from 'node:crypto';
import type { BlobStore } from '../store/store.ts';
import type { MrRepo } from '../catalog/snapmr.ts';

/**
 * The store's sha1Sink: pairs are gathered and written in one transaction per turn of the event
 * loop, not one per file (a first snapshot stores tens of thousands of files). A pair lost to a
 * crash before its write is filled in again by fillMissingSha1.
 */
export function sha1Recorder(repo: MrRepo): (sha256: string, sha1: string) => void {
  let pending: Array<[string, string]> = [];
  const flush = () => {
    const batch = pending;
    pending = [];
    try {
      repo.putSha1(batch);
    } catch {
      // The database is closed or full: the indexer hashes these files again when it needs them.
    }
  };
  return (sha256, sha1) => {
    if (pending.push([sha256, sha1]) === 1) setImmediate(flush);
  };
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
