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
  /** Where the component's files sit under dists/<suite>/ upstream: `main`, or `updates/main` for a derivative that keeps the full name. */
  prefix: string;
  variants: ReleaseFileEntry[];
}

export interface PlanInput {
  suite: string;
  components: readonly string[];
  architectures: readonly string[];
  sources: boolean;
  translations: boolean;
}

/**
 * Whether the Release supports a configured component, as apt decides it
 * (apt-pkg/deb/debmetaindex.cc, debReleaseIndex::Load): every listed
 * component counts, and so does the last segment of one with a slash, so
 * Debian security's `Components: updates/main …` supports `main`, whatever
 * the suite is called (`bookworm-security`, or `buster/updates` of old).
 * A configured `updates/main` is supported by a listed `main` as well.
 */
export function supportsComponent(listed: readonly string[], component: string): boolean {
  const tail = (c: string) => c.slice(c.lastIndexOf('/') + 1);
  return listed.some((l) => l === component || tail(l) === component || l === tail(component));
}

/**
 * The path prefixes under dists/<suite>/ where a configured component's
 * index files may sit, in the order apt would look: the configured name
 * itself (apt requests `<component>/binary-<arch>/…` as written in the
 * sources), its last segment (a configured `updates/main` whose files are
 * listed under `main/`, as Debian security lists them), then a listed
 * `<x>/<component>` (a derivative that lists its files under the full name).
 */
export function componentPrefixes(listed: readonly string[], component: string): string[] {
  const out = [component];
  const tail = component.slice(component.lastIndexOf('/') + 1);
  if (tail !== component) out.push(tail);
  for (const l of listed) if (l !== component && l.endsWith(`/${component}`)) out.push(l);
  return [...new Set(out)];
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
  for (const c of input.components) if (!supportsComponent(release.components, c)) missing.push(`component ${c}`);
  for (const a of input.architectures) if (a !== 'all' && !release.architectures.includes(a)) missing.push(`architecture ${a}`);
  if (missing.length) {
    throw new AptfreezeError('UPSTREAM_INCOMPLETE', `suite ${input.suite}: the upstream Release does not list ${missing.join(', ')} (it has components ${release.components.join(' ') || 'none'}, architectures ${release.architectures.join(' ') || 'none'})`);
  }
  const groups = new Map<string, IndexGroup>();
  // binary-all goes along only where the Release's Architectures lists `all` (or there is no such field), as apt
  // decides it: Debian security lists binary-all files but not the architecture, and apt never fetches them.
  const withAll = release.architectures.length === 0 || release.architectures.includes('all');
  const archDirs = new Set([...input.architectures.filter((a) => a !== 'all').map((a) => `binary-${a}`), ...(withAll ? ['binary-all'] : [])]);
  for (const component of input.components) {
    // The first prefix that holds any index file of this component is the one its indices come from.
    const prefix = componentPrefixes(release.components, component).find((p) => release.sha256.some((e) => e.path.startsWith(`${p}/`)));
    if (prefix === undefined) continue;
    for (const entry of release.sha256) {
      if (!entry.path.startsWith(`${prefix}/`)) continue;
      const [dir, file, ...more] = entry.path.slice(prefix.length + 1).split('/');
      if (!dir || !file || more.length) continue;
      const kind = indexKind(dir, stripCompression(file), archDirs, input);
      if (!kind) continue;
      const key = `${prefix}/${dir}/${stripCompression(file)}`;
      const g = groups.get(key) ?? { base: key, kind, component, prefix, variants: [] };
      g.variants.push(entry);
      groups.set(key, g);
    }
    for (const a of input.architectures) {
      if (a !== 'all' && !groups.has(`${prefix}/binary-${a}/Packages`)) {
        throw new AptfreezeError('UPSTREAM_INCOMPLETE', `suite ${input.suite}: the upstream Release lists no ${prefix}/binary-${a}/Packages index`);
      }
    }
  }
  for (const c of input.components) {
    if (![...groups.values()].some((g) => g.component === c && g.kind === 'packages')) {
      throw new AptfreezeError('UPSTREAM_INCOMPLETE', `suite ${input.suite}: the upstream Release lists no index file of component ${c}`);
    }
  }
  return [...groups.values()].sort((x, y) => (x.base < y.base ? -1 : 1));
}

/** Which kind of index a file under `<component>/<dir>/` is, or null when a snapshot does not mirror it. */
function indexKind(dir: string, base: string, archDirs: ReadonlySet<string>, input: PlanInput): IndexKind | null {
  if (archDirs.has(dir)) return base === 'Packages' ? 'packages' : base === 'Release' ? 'other' : null;
  if (dir === 'source' && input.sources) return base === 'Sources' ? 'sources' : base === 'Release' ? 'other' : null;
  if (dir === 'i18n' && input.translations) return base.startsWith('Translation-') ? 'translation' : base === 'Index' ? 'other' : null;
  return null;
}

/** The order in which we like to parse a variant: cheapest to decompress first. */
const parsePreference: Compression[] = ['none', 'gz', 'zst', 'xz', 'bz2', 'lz4'];

export function preferredVariant(variants: ReleaseFileEntry[], available: (e: ReleaseFileEntry) => boolean): ReleaseFileEntry | undefined {
  return [...variants].filter(available).sort((a, b) => parsePreference.indexOf(compressionOf(a.path)) - parsePreference.indexOf(compressionOf(b.path)))[0];
}
