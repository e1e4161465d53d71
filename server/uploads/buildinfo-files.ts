import { join } from 'node:path';
import type { Services } from '../services.ts';
import { checkUploadFileName } from './changes.ts';

/**
 * Accepted .buildinfo files, kept and served outside the serials (a rebuilder
 * asks for one by source and version, whatever serial it came with):
 * `<public>/<repository>/buildinfo/<first letter>/<source>/<source>_<version>_<arch>.buildinfo`.
 * A file is written once and never changed: (source, version, arch) is immutable.
 */
export function buildinfoPath(repository: string, source: string, name: string): string {
  return join(repository, 'buildinfo', source[0]!, source, checkUploadFileName(name));
}

export async function storeBuildinfo(d: Pick<Services, 'publisher'>, repository: string, source: string, name: string, data: Buffer): Promise<void> {
  await d.publisher.writeExtra(buildinfoPath(repository, source, name), data);
}
