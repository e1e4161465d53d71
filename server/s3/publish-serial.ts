// Publication to the object store and the PostgreSQL catalog (issue 15): every blob a serial
// names goes up first (skipped when already present), each is confirmed present, and only then
// does ONE catalog transaction insert the serial's file list and move `latest` by compare-and-swap.
// A writer that dies anywhere before that transaction leaves readers on the previous latest; the
// objects it uploaded are unreferenced and fall to gc after its grace period.
import { AptfreezeError } from '../errors.ts';
import type { BlobStore } from '../store/port.ts';
import type { PgPublicationCatalog, PublishedFile } from '../catalog/pg-publication.ts';
import type { PgGcCatalog } from '../catalog/pg-gc.ts';

export interface SerialFile {
  path: string;
  /** The bytes, read only when the store does not have the blob yet. */
  bytes: () => Promise<Uint8Array>;
  /** The bytes as a stream, preferred to `bytes` when given (a pool file: never held whole in memory). */
  stream?: () => AsyncIterable<Uint8Array>;
  sha256: string;
  size: number;
}

export interface SerialToPublish {
  archive: string;
  serial: string;
  frozen: boolean;
  validUntil: string | null;
  files: SerialFile[];
  expectedLatest: string | null;
  /** Default true; false adds the serial beside a newer latest (PgPublicationCatalog.publish). */
  moveLatest?: boolean;
}

export async function publishSerial(
  blobs: Pick<BlobStore, 'has' | 'putStream'>,
  catalog: Pick<PgPublicationCatalog, 'publish'> & { gc?: () => Pick<PgGcCatalog, 'epoch'> },
  s: SerialToPublish,
  hooks: { beforeCommit?: () => Promise<void> | void } = {},
): Promise<{ uploaded: number }> {
  let uploaded = 0;
  // One retry: gc may have collected a blob this serial names between the look below and the
  // commit (an old package back in a new serial); the catalog then refuses (pg-gc.ts) and the
  // second pass uploads it again.
  for (let attempt = 1; ; attempt++) {
    const gcEpoch = await catalog.gc?.().epoch();
    uploaded += await uploadMissing(blobs, s.files);
    await hooks.beforeCommit?.();
    const files: PublishedFile[] = s.files.map((f) => ({ path: f.path, sha256: f.sha256, size: f.size }));
    try {
      await catalog.publish({ archive: s.archive, serial: s.serial, frozen: s.frozen, validUntil: s.validUntil, files, expectedLatest: s.expectedLatest, gcEpoch, ...(s.moveLatest === false ? { moveLatest: false } : {}) });
      return { uploaded };
    } catch (e) {
      if (attempt >= 2 || !(e instanceof AptfreezeError) || e.code !== 'CONFLICT' || !e.details?.['collected']) throw e;
    }
  }
}

/** Uploads the blobs the store lacks (checked on the way in) and confirms every one present; returns how many went up. */
async function uploadMissing(blobs: Pick<BlobStore, 'has' | 'putStream'>, list: SerialFile[]): Promise<number> {
  let uploaded = 0;
  const seen = new Set<string>();
  for (const f of list) {
    if (seen.has(f.sha256)) continue;
    seen.add(f.sha256);
    if (await blobs.has(f.sha256)) continue;
    const body = f.stream ? f.stream() : (async function* () { yield await f.bytes(); })();
    // checked on the way in: nothing becomes visible under a hash its bytes do not have
    await blobs.putStream(body, { sha256: f.sha256, size: f.size });
    uploaded++;
  }
  for (const h of seen) {
    if (!(await blobs.has(h))) throw new AptfreezeError('STORE_UNAVAILABLE', `blob ${h} is not in the object store after its upload`);
  }
  return uploaded;
}
