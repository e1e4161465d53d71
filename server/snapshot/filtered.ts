import { compressBuffer, compressionOf, type Compression } from '../debian/compress.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import type { IndexGroup } from '../mirror/plan.ts';
import type { BlobStore } from '../store/store.ts';

const writableCompressions: Compression[] = ['none', 'gz', 'xz'];

/**
 * A filtered index (design, chain of trust 2): whole upstream stanzas byte for byte,
 * separated by one blank line, stored in each compression upstream listed that we can
 * write. Returns the served copies by upstream path.
 */
export async function storeFilteredIndex(store: Pick<BlobStore, 'putBuffer'>, g: IndexGroup, kept: readonly Buffer[]): Promise<Map<string, ReleaseFileEntry>> {
  const parts: Buffer[] = [];
  kept.forEach((raw, i) => {
    if (i > 0) parts.push(Buffer.from('\n'));
    parts.push(raw);
  });
  const plain = Buffer.concat(parts);
  const out = new Map<string, ReleaseFileEntry>();
  for (const v of g.variants) {
    const kind = compressionOf(v.path);
    if (!writableCompressions.includes(kind)) continue;
    const data = kind === 'none' ? plain : await compressBuffer(kind as 'gz' | 'xz', plain);
    const ref = await store.putBuffer(data);
    out.set(v.path, { path: v.path, hash: ref.sha256, size: ref.size });
  }
  return out;
}
