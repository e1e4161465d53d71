import type { Db } from '../db/open.ts';
import type { BlobStore } from '../store/store.ts';

/** One Packages index a snapshot published, as the provenance recorder sees it. */
export interface PublishedPackagesIndex {
  suite: string;
  component: string;
  /** binary-amd64, binary-all, ... */
  archDir: string;
  /** The upstream variant that was parsed (relative to dists/<suite>/) and its sha256 in the store. */
  parsedPath: string;
  parsedSha256: string;
  /** The binary package names kept by the archive's filter, or null for all. */
  filter: ReadonlySet<string> | null;
}

export interface ProvenanceInput {
  archive: string;
  serial: string;
  /** The archive's newest published serial before this one, or null. */
  previousSerial: string | null;
  indices: PublishedPackagesIndex[];
}

/**
 * Prepares (async: may read indices from the store) the provenance update of
 * one snapshot and returns a synchronous step that the snapshot runs inside
 * the same database transaction that publishes the serial.
 */
export async function prepareProvenance(_store: BlobStore, _input: ProvenanceInput): Promise<(db: Db) => void> {
  return () => {};
}
