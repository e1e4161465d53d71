import { emitRelease, formatDebianDate, formatHashList, parseRelease, type ReleaseFileEntry } from '../debian/release.ts';

/** Hash fields of upstream's Release that we drop: we list SHA256 only (apt has trusted nothing weaker since 1.x). */
const hashFields = new Set(['md5sum', 'sha1', 'sha256', 'sha512']);

export interface OurReleaseOptions {
  /** null: no Valid-Until at all (a tag, kept and valid for good). */
  validUntil: Date | null;
  /** Default true. false for a tree without by-hash copies (a tag never changes under a reader). */
  byHash?: boolean;
  /** Components we add (aptfreeze-proof). */
  extraComponents: string[];
  /** apt's `Snapshots:` field (apt >= 2.7), on the Release served under latest/. */
  snapshots?: string;
  /** The archive's name: the Origin and Label of a Release whose upstream has none. */
  archive: string;
}

/**
 * Our Release for a snapshot: upstream's fields as they were (Date included),
 * a new Valid-Until, Acquire-By-Hash on (every index we serve has a by-hash
 * copy, which keeps `latest/` consistent across publications), our extra
 * component, and the SHA256 list of what we serve.
 */
export function ourReleaseText(upstreamFields: ReadonlyArray<[string, string]>, sha256: ReleaseFileEntry[], opts: OurReleaseOptions): string {
  const fields: Array<[string, string]> = [];
  // apt >= 2.7 looks a snapshot server up by Origin or Label (debmetaindex.cc, SnapshotServer()):
  // a Release with neither makes `apt --snapshot` find none, even with a Snapshots field.
  // Upstream's own values are kept (apt's built-in Label::Debian-Security override relies on them).
  const has = (n: string) => upstreamFields.some(([k]) => k.toLowerCase() === n);
  if (!has('origin')) fields.push(['Origin', opts.archive]);
  if (!has('label')) fields.push(['Label', opts.archive]);
  for (const [name, value] of upstreamFields) {
    const lower = name.toLowerCase();
    if (hashFields.has(lower) || lower === 'valid-until' || lower === 'acquire-by-hash' || lower === 'snapshots') continue;
    if (lower === 'components') {
      const have = value.split(/\s+/).filter(Boolean);
      fields.push([name, [...have, ...opts.extraComponents.filter((c) => !have.includes(c))].join(' ')]);
      continue;
    }
    fields.push([name, value]);
  }
  if (opts.validUntil) fields.push(['Valid-Until', formatDebianDate(opts.validUntil)]);
  if (opts.byHash !== false) fields.push(['Acquire-By-Hash', 'yes']);
  if (opts.snapshots) fields.push(['Snapshots', opts.snapshots]);
  const sorted = [...sha256].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  fields.push(['SHA256', formatHashList(sorted)]);
  return emitRelease(fields);
}

/**
 * apt's `Snapshots:` value for an archive (apt >= 2.7, debmetaindex.cc): apt
 * reads it from the Release it last fetched for a source (ours: latest/), and
 * for `apt --snapshot <id>` uses `SubstVar(SubstVar(value, "@SNAPSHOTID@", id),
 * "@PATH@", <path of the source URI>)` as the snapshot's source URI, appending
 * nothing of its own but the usual `dists/<suite>/`. So the id is our serial
 * and the value ends with a slash.
 */
export function snapshotsUrl(baseUrl: string, archive: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${archive}/@SNAPSHOTID@/`;
}

/** The same Release with another Valid-Until (freeze, thaw): Date and index hashes untouched. */
export function withValidUntil(releaseText: string, validUntil: Date): string {
  const parsed = parseRelease(releaseText);
  const fields = parsed.fields.map(([n, v]): [string, string] => (n.toLowerCase() === 'valid-until' ? [n, formatDebianDate(validUntil)] : [n, v]));
  return emitRelease(fields);
}

/** The same Release with or without apt's Snapshots field. */
export function withSnapshots(releaseText: string, snapshots: string | undefined): string {
  const parsed = parseRelease(releaseText);
  const fields = parsed.fields.filter(([n]) => n.toLowerCase() !== 'snapshots');
  if (snapshots) fields.push(['Snapshots', snapshots]);
  return emitRelease(fields);
}
