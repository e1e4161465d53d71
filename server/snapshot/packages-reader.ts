import { AptfreezeError, isAptfreezeError } from '../errors.ts';
import { compressionOf, decompressStream } from '../debian/compress.ts';
import { scanPackages, type PackageEntry, type ScanOptions } from '../debian/packages-scan.ts';
import type { BlobStore } from '../store/store.ts';

/**
 * The one way a stored binary Packages index is read: decompressed as a stream
 * (debian/compress.ts) under the configured cap (`fetch.maxDecompressedBytes`:
 * more is UPSTREAM_TOO_LARGE), scanned by the byte scanner (debian/packages-scan.ts),
 * in batches. The snapshot, provenance and diff read through it. Errors keep their
 * code and name the index: `<path>: ...`; anything that is not an AptfreezeError
 * (a corrupt compressed stream) is MALFORMED.
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
