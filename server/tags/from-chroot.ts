import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import { binaryKey, type BuildManifest } from './build-manifest.ts';
import { installedPackages } from './dpkg-status.ts';
import type { Catalog } from './catalog.ts';

/**
 * The build manifest of a chroot: its installed packages (dpkg status) and the serials they
 * came from. Every installed binary must be served by at least one of the given serials; those
 * none served are refused together (PACKAGES_MISSING, details.missing), as `tag create` would
 * refuse them: a manifest that names a package no serial holds cannot make a tag.
 */
export async function manifestOfChroot(root: string, origins: ReadonlyMap<string, string>, catalog: Catalog): Promise<BuildManifest> {
  if (!origins.size) throw new AptfreezeError('BAD_REQUEST', 'manifest: name the serials the chroot was built from (--serial <archive>=<serial>, or --pins <dir> --server <url>)');
  const statusPath = join(root, 'var', 'lib', 'dpkg', 'status');
  let status: Buffer;
  try {
    status = await readFile(statusPath);
  } catch (e) {
    throw new AptfreezeError('NOT_FOUND', `${statusPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (not a chroot with a dpkg database?)`);
  }
  const installed = installedPackages(status, statusPath);
  if (!installed.binary.length) throw new AptfreezeError('BAD_REQUEST', `${statusPath}: no installed package`);
  const served = new Set<string>();
  for (const [archive, serial] of origins) for (const k of await catalog.binaries(archive, serial)) served.add(k);
  const missing = installed.binary.filter((b) => !served.has(binaryKey(b))).map((b) => `${b.package}=${b.version}/${b.arch}`);
  if (missing.length) {
    throw new AptfreezeError('PACKAGES_MISSING', `${missing.length} installed package(s) are in none of the serials ${[...origins].map(([a, s]) => `${a} ${s}`).join(', ')}: ${missing.join(', ')}`, { details: { missing } });
  }
  return { origins: new Map(origins), binary: installed.binary, source: installed.source };
}
