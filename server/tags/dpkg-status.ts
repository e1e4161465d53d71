import { parseStanzas } from '../debian/deb822.ts';
import { AptfreezeError } from '../errors.ts';
import type { BinaryEntry, SourceEntry } from './build-manifest.ts';

/**
 * The installed packages of a dpkg status file (`<root>/var/lib/dpkg/status`, dpkg(1)): stanzas
 * whose `Status` ends in `installed` (`install ok installed`, `hold ok installed`). A package
 * half-installed or only configured-files is not part of the build's result and is left out.
 * Pure: the caller reads the file.
 *
 * Source: the `Source` field, `name` or `name (version)` (deb-control(5): the version in
 * parentheses when the source version differs from the binary's, a binNMU); without one the
 * source is the package itself at the binary's version.
 */
export interface Installed {
  binary: BinaryEntry[];
  source: SourceEntry[];
}

export function installedPackages(status: Buffer | string, where = 'dpkg status'): Installed {
  let stanzas;
  try {
    stanzas = parseStanzas(status);
  } catch (e) {
    throw new AptfreezeError('MALFORMED', `${where}: ${(e as Error).message}`, { cause: e });
  }
  const binary = new Map<string, BinaryEntry>();
  const source = new Map<string, SourceEntry>();
  for (const s of stanzas) {
    const st = (s.get('Status') ?? '').split(/\s+/);
    if (st[2] !== 'installed') continue;
    const pkg = s.get('Package');
    const version = s.get('Version');
    const arch = s.get('Architecture');
    if (!pkg || !version || !arch) throw new AptfreezeError('MALFORMED', `${where}: an installed package lacks Package, Version or Architecture (${pkg ?? '?'})`);
    binary.set(`${pkg} ${version} ${arch}`, { package: pkg, version, arch });
    const src = parseSourceField(s.get('Source'), pkg, version);
    source.set(`${src.package} ${src.version}`, src);
  }
  return { binary: [...binary.values()], source: [...source.values()] };
}

/** `Source: glibc (2.36-9)` -> glibc 2.36-9; `Source: foo` -> foo at the binary's version; absent -> the package itself. */
export function parseSourceField(field: string | undefined, pkg: string, version: string): SourceEntry {
  if (!field) return { package: pkg, version };
  const m = /^(\S+)(?:\s*\(([^)\s]+)\))?$/.exec(field.trim());
  if (!m) throw new AptfreezeError('MALFORMED', `package ${pkg}: malformed Source field ${JSON.stringify(field)}`);
  return { package: m[1]!, version: m[2] ?? version };
}
