import { readStanzas, type Stanza } from '../debian/deb822.ts';
import { decompressStream, compressionOf } from '../debian/compress.ts';
import { checkRelativePath } from '../debian/paths.ts';
import { AptfreezeError, isAptfreezeError } from '../errors.ts';
import type { BlobStore } from '../store/store.ts';

export interface PoolRef {
  /** Path relative to the archive root (Filename, or Directory/name for sources). */
  path: string;
  sha256: string;
  size: number;
}

/** Top-level names a pool path may not take: they would shadow the snapshot's own files. */
const reservedTop = new Set(['dists', 'project', 'proof.deb', 'by-hash']);

/**
 * Checks a path from an upstream index before it can name a file of ours:
 * relative, no traversal, not one of our own names (`Filename: ../../etc/passwd` is refused here).
 */
export function checkPoolPath(path: string, where: string): string {
  let p: string;
  try {
    p = checkRelativePath(path, `${where}: Filename`);
  } catch (e) {
    throw new AptfreezeError('UNSAFE_PATH', `${where}: unsafe pool path ${JSON.stringify(path)}`, { cause: e });
  }
  if (reservedTop.has(p.split('/')[0]!)) throw new AptfreezeError('UNSAFE_PATH', `${where}: pool path ${JSON.stringify(path)} shadows the snapshot's own files`);
  return p;
}

/**
 * The stanzas of a stored Sources or Translation index, by the deb822 reader. Not for Packages:
 * a binary Packages index is read by snapshot/packages-reader.ts only (test/ownership.test.ts).
 */
export async function* stanzasOfBlob(store: BlobStore, sha256: string, indexPath: string, maxBytes: number): AsyncGenerator<Stanza> {
  const kind = compressionOf(indexPath);
  try {
    yield* readStanzas(decompressStream(kind, store.readStream(sha256), { maxBytes }));
  } catch (e) {
    if (isAptfreezeError(e)) throw new AptfreezeError(e.code, `${indexPath}: ${e.message}`, { cause: e, details: e.details });
    throw new AptfreezeError('MALFORMED', `${indexPath}: ${(e as Error).message}`, { cause: e });
  }
}

/** The files a Sources stanza names (Directory + Checksums-Sha256), checked. */
export function sourcesRefs(s: Stanza, where: string): PoolRef[] {
  const dir = s.get('Directory');
  const sums = s.get('Checksums-Sha256');
  const name = s.get('Package') ?? '?';
  if (!dir || !sums) throw new AptfreezeError('MALFORMED', `${where}: source ${name} lacks Directory or Checksums-Sha256`);
  const out: PoolRef[] = [];
  for (const line of sums.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const m = /^([0-9a-fA-F]{64})\s+(\d{1,15})\s+(\S+)$/.exec(t);
    if (!m) throw new AptfreezeError('MALFORMED', `${where}: source ${name} has a malformed Checksums-Sha256 line`);
    if (m[3]!.includes('/')) throw new AptfreezeError('UNSAFE_PATH', `${where}: source ${name} names a file with a slash`);
    out.push({ path: checkPoolPath(`${dir}/${m[3]}`, where), sha256: m[1]!.toLowerCase(), size: Number(m[2]) });
  }
  return out;
}
