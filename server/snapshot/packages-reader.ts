import { AptfreezeError, isAptfreezeError } from '../errors.ts';
import { compressionOf, decompressStream } from '../debian/compress.ts';
import { scanPackages, scanPackagesBuffer, type PackageEntry, type ScanOptions } from '../debian/packages-scan.ts';
import type { BlobStore } from '../store/store.ts';

/**
 * The one way a binary Packages index is read (issue 11: "one Packages reader, the
 * byte scanner, honouring the configured limits"). A stored index: decompressed as a
 * stream (debian/compress.ts) under the configured cap (`fetch.maxDecompressedBytes`:
 * more is UPSTREAM_TOO_LARGE), scanned by the byte scanner (debian/packages-scan.ts),
 * in batches; the snapshot, provenance, diff and the snapshot.debian.org indexer read
 * through it. An index already in memory (the auditor's verifier, which does no I/O and
 * decompresses under its own cap): readPackagesText. Both apply the scanner's stanza
 * cap. Errors keep their code and name the index: `<path>: ...`; anything that is not
 * an AptfreezeError (a corrupt compressed stream) is MALFORMED. Nothing else parses a
 * Packages index (test/ownership.test.ts, rule `packages-reader`).
 */
export async function* readPackagesBlob(
  store: Pick<BlobStore, 'readStream'>,
  index: { sha256: string; path: string },
  opts: ScanOptions & { maxBytes: number; where?: string },
): AsyncGenerator<PackageEntry[]> {
  try {
    yield* scanPackages(decompressStream(compressionOf(index.path), store.readStream(index.sha256), { maxBytes: opts.maxBytes }), opts.where ?? index.path, opts);
  } catch (e) {
    if (isAptfreezeError(e)) throw new AptfreezeError(e.code, `${index.path}: ${e.message}`, { cause: e, details: e.details });
    throw new AptfreezeError('MALFORMED', `${index.path}: ${(e as Error).message}`, { cause: e });
  }
}

/** The entries of a decompressed Packages text held in memory (or a slice of one cut at blank lines), synchronously; errors as readPackagesBlob's. */
export function readPackagesText(text: Buffer, where: string, opts: ScanOptions = {}): PackageEntry[] {
  try {
    return scanPackagesBuffer(text, where, opts);
  } catch (e) {
    if (isAptfreezeError(e)) throw e;
    throw new AptfreezeError('MALFORMED', `${where}: ${(e as Error).message}`, { cause: e });
  }
}

export type { PackageEntry, ScanOptions };
