import type { ParsedRelease, ReleaseFileEntry } from '../debian/release.ts';
import { compressionOf, stripCompression, type Compression } from '../debian/compress.ts';
import { AptfreezeError } from '../errors.ts';

export type IndexKind = 'packages' | 'sources' | 'translation' | 'other';

/** One index file and every compressed variant of it that the Release lists. */
export interface IndexGroup {
  /** Path without compression suffix, relative to dists/<suite>/ (e.g. main/binary-amd64/Packages). */
  base: string;
  kind: IndexKind;
  component: string;
  variants: ReleaseFileEntry[];
}

export interface PlanInput {
  suite: string;
  components: readonly string[];
  architectures: readonly string[];
  sources: boolean;
  translations: boolean;
}

/** Whether the Release's Components name a configured component (`updates/main` counts for `main` in `buster/updates`). */
function hasComponent(release: ParsedRelease, suite: string, component: string): boolean {
  if (release.components.includes(component)) return true;
  const tail = suite.includes('/') ? suite.split('/').pop() : undefined;
  return tail !== undefined && release.components.includes(`${tail}/${component}`);
}

/**
 * Checks that the Release covers the configuration, then picks the index
 * files a snapshot needs: Packages (every listed compression) of each
 * configured architecture and of `all`, the per-directory Release files,
 * Sources when configured, and i18n Translation files. Contents and other
 * indices are not mirrored.
 */
export function planIndices(release: ParsedRelease, input: PlanInput): IndexGroup[] {
  const missing: string[] = [];
  for (const c of input.components) if (!hasComponent(release, input.suite, c)) missing.push(`component ${c}`);
  for (const a of input.architectures) if (a !== 'all' && !release.architectures.includes(a)) missing.push(`architecture ${a}`);
  if (missing.length) {
    throw new AptfreezeError('UPSTREAM_INCOMPLETE', `suite ${input.suite}: the upstream Release does not list ${missing.join(', ')} (it has components ${release.components.join(' ') || 'none'}, architectures ${release.architectures.join(' ') || 'none'})`);
  }
  const groups = new Map<string, IndexGroup>();
  const archDirs = new Set([...input.architectures.filter((a) => a !== 'all').map((a) => `binary-${a}`), 'binary-all']);
  for (const entry of release.sha256) {
    const parts = entry.path.split('/');
    // <component>/<dir>/<file>; components may hold a slash (updates/main), so match from the configured list.
    const component = input.components.find((c) => entry.path.startsWith(`${c}/`));
    if (!component) continue;
    const rest = entry.path.slice(component.length + 1);
    const [dir, file, ...more] = rest.split('/');
    if (!dir || !file || more.length) continue;
    let kind: IndexKind | null = null;
    const base = stripCompression(file);
    if (archDirs.has(dir)) kind = base === 'Packages' ? 'packages' : base === 'Release' ? 'other' : null;
    else if (dir === 'source' && input.sources) kind = base === 'Sources' ? 'sources' : base === 'Release' ? 'other' : null;
    else if (dir === 'i18n' && input.translations) kind = base.startsWith('Translation-') ? 'translation' : base === 'Index' ? 'other' : null;
    if (!kind) continue;
    void parts;
    const key = `${component}/${dir}/${base}`;
    const g = groups.get(key) ?? { base: key, kind, component, variants: [] };
    g.variants.push(entry);
    groups.set(key, g);
  }
  for (const a of input.architectures) {
    if (a === 'all') continue;
    for (const c of input.components) {
      if (!groups.has(`${c}/binary-${a}/Packages`)) {
        throw new AptfreezeError('UPSTREAM_INCOMPLETE', `suite ${input.suite}: the upstream Release lists no ${c}/binary-${a}/Packages index`);
      }
    }
  }
  return [...groups.values()].sort((x, y) => (x.base < y.base ? -1 : 1));
}

/** The order in which we like to parse a variant: cheapest to decompress first. */
const parsePreference: Compression[] = ['none', 'gz', 'zst', 'xz', 'bz2', 'lz4'];

export function preferredVariant(variants: ReleaseFileEntry[], available: (e: ReleaseFileEntry) => boolean): ReleaseFileEntry | undefined {
  return [...variants].filter(available).sort((a, b) => parsePreference.indexOf(compressionOf(a.path)) - parsePreference.indexOf(compressionOf(b.path)))[0];
}
