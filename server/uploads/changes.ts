/**
 * The Debian upload formats, pure: a `.changes` (deb-changes(5)), a `.dsc`
 * (dsc(5)), a `.buildinfo` (deb-buildinfo(5)) and a `.deb`'s control stanza as
 * the upload checks see them. Everything here is outside data (an uploader
 * wrote it): a bad field is UPLOAD_MALFORMED, a file name with a path or a dot
 * name is UNSAFE_PATH, never an exception of another kind.
 */
import { AptfreezeError } from '../errors.ts';
import { parseStanzas, type Stanza } from '../debian/deb822.ts';

export interface ListedFile {
  name: string;
  size: number;
  sha256: string;
  /** The Files field's section (`contrib/net`), for a .changes. */
  section?: string;
}

export interface Changes {
  source: string;
  version: string;
  distribution: string;
  architectures: string[];
  binaries: string[];
  files: ListedFile[];
  stanza: Stanza;
}

// Debian file names (policy 5.6.1 versions without the epoch, package names): no path, no dot name.
const fileNameRe = /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/;
const packageRe = /^[a-z0-9][a-z0-9+.-]+$/;
const versionRe = /^(\d+:)?[0-9][A-Za-z0-9.+~:-]*$/;
const archRe = /^[a-z0-9][a-z0-9-]*$/;

/** A file name an upload may carry: one segment, no dot name, Debian's characters only. */
export function checkUploadFileName(name: string): string {
  if (typeof name !== 'string' || !fileNameRe.test(name) || name.length > 255) {
    throw new AptfreezeError('UNSAFE_PATH', `upload file name ${JSON.stringify(name)}: expected one file name (letters, digits, . _ + ~ -, not starting with a dot), no path`);
  }
  return name;
}

function malformed(what: string, why: string): AptfreezeError {
  return new AptfreezeError('UPLOAD_MALFORMED', `${what}: ${why}`);
}

/** The one stanza of a control-like text. */
export function oneStanza(text: string, what: string): Stanza {
  let stanzas: Stanza[];
  try {
    stanzas = parseStanzas(text, { maxStanzaBytes: 4 * 1024 * 1024 });
  } catch (e) {
    throw malformed(what, (e as Error).message);
  }
  if (stanzas.length !== 1) throw malformed(what, `expected one stanza, found ${stanzas.length}`);
  return stanzas[0]!;
}

function required(s: Stanza, field: string, what: string): string {
  const v = s.get(field)?.trim();
  if (!v) throw malformed(what, `no ${field} field`);
  return v;
}

/** A hash list field (`\n <hash> <size> <name>` lines), checked; names must be safe. */
export function parseChecksums(value: string | undefined, what: string, field: string): ListedFile[] {
  if (!value) throw malformed(what, `no ${field} field`);
  const out: ListedFile[] = [];
  for (const line of value.split('\n')) {
    if (!line.trim()) continue;
    const m = /^\s*([0-9a-f]{64})\s+(\d{1,15})\s+(\S+)\s*$/.exec(line);
    if (!m) throw malformed(what, `${field}: malformed line ${JSON.stringify(line.trim())}`);
    out.push({ sha256: m[1]!, size: Number(m[2]), name: checkUploadFileName(m[3]!) });
  }
  if (!out.length) throw malformed(what, `${field} lists no file`);
  if (new Set(out.map((f) => f.name)).size !== out.length) throw malformed(what, `${field} lists a file twice`);
  return out;
}

/** `Files:` of a .changes: `md5 size section priority name`; only the section is used. */
function sectionsOf(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (value ?? '').split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length === 5) out.set(parts[4]!, parts[2]!);
  }
  return out;
}

/** Parses the (verified) text of a .changes. */
export function parseChanges(text: string): Changes {
  const what = '.changes';
  const s = oneStanza(text, what);
  const source = required(s, 'Source', what).split(/\s+/)[0]!;
  const version = required(s, 'Version', what);
  if (!packageRe.test(source)) throw malformed(what, `Source ${JSON.stringify(source)} is not a package name`);
  if (!versionRe.test(version)) throw malformed(what, `Version ${JSON.stringify(version)} is not a Debian version`);
  const dists = required(s, 'Distribution', what).split(/\s+/);
  if (dists.length !== 1) throw malformed(what, 'Distribution must name one suite');
  const architectures = required(s, 'Architecture', what).split(/\s+/);
  for (const a of architectures) if (a !== 'source' && !archRe.test(a)) throw malformed(what, `Architecture ${JSON.stringify(a)}`);
  const binaries = (s.get('Binary') ?? '').split(/\s+/).filter(Boolean);
  for (const b of binaries) if (!packageRe.test(b)) throw malformed(what, `Binary ${JSON.stringify(b)} is not a package name`);
  const files = parseChecksums(s.get('Checksums-Sha256'), what, 'Checksums-Sha256');
  const sections = sectionsOf(s.get('Files'));
  for (const f of files) {
    const sec = sections.get(f.name);
    if (sec) f.section = sec;
  }
  return { source, version, distribution: dists[0]!, architectures, binaries, files, stanza: s };
}

export interface DebControl {
  package: string;
  version: string;
  architecture: string;
  /** The source name and version (the Source field, else the package's own). */
  source: string;
  sourceVersion: string;
  stanza: Stanza;
}

/** The control stanza of a .deb, with the fields the upload checks compare. */
export function parseDebControl(text: string, what: string): DebControl {
  const s = oneStanza(text, what);
  const pkg = required(s, 'Package', what);
  const version = required(s, 'Version', what);
  const architecture = required(s, 'Architecture', what);
  if (!packageRe.test(pkg)) throw malformed(what, `Package ${JSON.stringify(pkg)} is not a package name`);
  if (!versionRe.test(version)) throw malformed(what, `Version ${JSON.stringify(version)} is not a Debian version`);
  if (!archRe.test(architecture)) throw malformed(what, `Architecture ${JSON.stringify(architecture)}`);
  // Source: "name" or "name (version)" (a binNMU's binary version differs from its source's).
  const src = s.get('Source')?.trim();
  const m = src ? /^([a-z0-9][a-z0-9+.-]+)(?:\s+\(([^)\s]+)\))?$/.exec(src) : null;
  if (src && !m) throw malformed(what, `Source ${JSON.stringify(src)}`);
  return { package: pkg, version, architecture, source: m?.[1] ?? pkg, sourceVersion: m?.[2] ?? version, stanza: s };
}

/** A version without its epoch, as it appears in file names (policy 5.6.12). */
export function fileVersion(version: string): string {
  return version.replace(/^\d+:/, '');
}

/** The pool directory of a source, as dak lays it out: `pool/<component>/<l or libx>/<source>`. */
export function poolDir(component: string, source: string): string {
  const prefix = source.startsWith('lib') && source.length > 3 ? source.slice(0, 4) : source[0]!;
  return `pool/${component}/${prefix}/${source}`;
}

export interface Buildinfo {
  source: string;
  version: string;
  architectures: string[];
  files: ListedFile[];
  /** Installed-Build-Depends: exact `name (= version)` pairs (`name:arch` keeps its arch qualifier off). */
  depends: Array<{ name: string; version: string; arch?: string }>;
  taintedBy: string[];
}

/** Parses the (verified or plain) text of a .buildinfo. */
export function parseBuildinfo(text: string): Buildinfo {
  const what = '.buildinfo';
  const s = oneStanza(text, what);
  const source = required(s, 'Source', what).split(/\s+/)[0]!;
  const version = required(s, 'Version', what);
  const architectures = required(s, 'Architecture', what).split(/\s+/);
  const files = parseChecksums(s.get('Checksums-Sha256'), what, 'Checksums-Sha256');
  const depends: Buildinfo['depends'] = [];
  for (const item of (s.get('Installed-Build-Depends') ?? '').split(',')) {
    const t = item.trim();
    if (!t) continue;
    const m = /^([a-z0-9][a-z0-9+.-]+)(?::([a-z0-9-]+))?\s*\(\s*=\s*([^)\s]+)\s*\)$/.exec(t);
    if (!m) throw malformed(what, `Installed-Build-Depends: ${JSON.stringify(t)} is not "name (= version)"`);
    depends.push({ name: m[1]!, version: m[3]!, ...(m[2] ? { arch: m[2] } : {}) });
  }
  const taintedBy = (s.get('Build-Tainted-By') ?? '').split(/\s+/).filter(Boolean);
  return { source, version, architectures, files, depends, taintedBy };
}

/** The text inside a clearsignature, unverified (a .buildinfo may or may not be signed). */
export function unsignedText(text: string): string {
  if (!text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) return text;
  const body = text.split(/\r?\n\r?\n/).slice(1).join('\n\n');
  const end = body.indexOf('\n-----BEGIN PGP SIGNATURE-----');
  return (end < 0 ? body : body.slice(0, end + 1)).replace(/^- /gm, '');
}
