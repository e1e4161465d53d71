/** The one hashing helper of the tests: sha256 (and md5, which Debian's indices and .changes still list) of bytes, and digests of a file (streamed). */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Lower-case hex sha256 of bytes. */
export function sha256(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Lower-case hex md5 of bytes (MD5Sum fields, Description-md5, a .changes' Files). */
export function md5(b: Uint8Array | string): string {
  return createHash('md5').update(b).digest('hex');
}

/** Lower-case hex digests of a file, streamed (sha256 unless other algorithms are named), and its size. */
export function digestFile<A extends string = 'sha256'>(file: string, algorithms: readonly A[] = ['sha256' as A]): Promise<Record<A, string> & { size: number }> {
  return new Promise((resolve, reject) => {
    const hashes = algorithms.map((a) => createHash(a));
    let size = 0;
    createReadStream(file)
      .on('error', reject)
      .on('data', (c) => {
        const b = c as Buffer;
        size += b.length;
        for (const h of hashes) h.update(b);
      })
      .on('end', () => {
        const out = { size } as Record<A, string> & { size: number };
        algorithms.forEach((a, i) => ((out as Record<string, string | number>)[a] = hashes[i]!.digest('hex')));
        resolve(out);
      });
  });
}

/** Lower-case hex sha256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  return (await digestFile(file)).sha256;
}
