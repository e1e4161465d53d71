// The bench's upstream: a signed APT repository of Debian-main scale, generated in-process.
//
//   <root>/dists/<suite>/{Release,InRelease,Release.gpg}
//   <root>/dists/<suite>/main/binary-amd64/Packages.{gz,xz}      (Release also lists the
//                                                                  uncompressed name, as Debian does)
//   <root>/dists/<suite>/main/binary-amd64/by-hash/SHA256/<hash>  (Acquire-By-Hash: yes; kept across states)
//   <root>/pool/main/<prefix>/<source>/<name>_<version>_<arch>.deb
//
// Packages are grouped in sources (1–6 binaries each, ~1.8 on average as in Debian), with
// Debian-like fields and stanza sizes (~800 bytes, bookworm main averages 790). Arch-all
// packages are listed in binary-amd64 (no binary-all split), so every peer mirrors the same
// single index. Everything is deterministic for a seed, except the signatures and dates.
//
// mutateUpstream() gives the next upstream state: ~1% of binary packages (whole sources, as an
// upload does) get a new version, a few sources are added and a few removed; the old pool
// files and by-hash copies stay, as on a real mirror between two dinstall runs.
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, promises as fsp } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { buildDeb, type DebEntry } from './debfile.ts';
import { clearsign, detachSign, type BenchKey } from './keys.ts';
import { writePdiffs, type PdiffHistory } from './pdiff.ts';

const gzip = promisify(zlib.gzip);
const MTIME = 1_700_000_000;
const DAY = 86_400_000;

export interface GenOptions {
  /** binary packages, default 60,000 */
  packages: number;
  seed?: number;
  suite?: string;
  component?: string;
  /** payload bytes of a .deb are log-uniform in [min, max]; default 200..8192 */
  payloadMin?: number;
  payloadMax?: number;
  /** xz preset, default 2 (with -T0: 50 MB in ~3.5 s here; -6 takes ~22 s) */
  xzPreset?: number;
  /** Release Date; default now - 2 h */
  date?: Date;
  /** also publish pdiffs (Packages.diff/Index and merged patches from the last `pdiffs` states), as Debian does; default 0 (none) */
  pdiffs?: number;
}

export interface BenchPackage {
  name: string;
  source: string;
  version: string;
  arch: 'amd64' | 'all';
  section: string;
  priority: string;
  maintainer: string;
  description: string;
  homepage: string;
  depends?: string;
  recommends?: string;
  suggests?: string;
  multiArch?: string;
  provides?: string;
  breaks?: string;
  replaces?: string;
  tag?: string;
  payload: number;
  // filled once the .deb is written
  filename: string;
  size: number;
  md5: string;
  sha256: string;
  installedSize: number;
}

export interface IndexFile {
  /** relative to dists/<suite> */
  path: string;
  size: number;
  sha256: string;
  md5: string;
  written: boolean;
}

export interface UpstreamState {
  root: string;
  suite: string;
  component: string;
  packages: BenchPackage[];
  indexFiles: IndexFile[];
  date: Date;
  generation: number;
  /** internal: what the next mutation needs */
  rng: () => number;
  pdiff?: PdiffHistory;
  names: Set<string>;
  opts: Required<Omit<GenOptions, 'date'>>;
}

export interface GenStats {
  ms: number;
  debMs: number;
  indexMs: number;
  packages: number;
  sources: number;
  poolFilesWritten: number;
  poolBytesWritten: number;
  packagesBytes: number;
  packagesGzBytes: number;
  packagesXzBytes: number;
  avgStanzaBytes: number;
}

export interface MutationStats extends GenStats {
  changed: number;
  added: number;
  removed: number;
  /** bytes of the pool files the new state references that the old one did not */
  newPoolBytes: number;
  newPoolFiles: number;
  /** bytes of the index files (served variants) whose hash is new */
  newIndexBytes: number;
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rng: () => number, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const chance = (rng: () => number, p: number): boolean => rng() < p;

/** 16 MiB of AES-CTR keystream: incompressible payload bytes, sliced per package. */
let keystream: Buffer | null = null;
function payloadBytes(id: string, n: number): Buffer {
  if (!keystream) {
    const c = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
    keystream = c.update(Buffer.alloc(16 << 20));
  }
  const h = createHash('sha256').update(id).digest();
  const off = h.readUInt32LE(0) % (keystream.length - n);
  return keystream.subarray(off, off + n);
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

const SYL = ['ab', 'ac', 'al', 'an', 'ar', 'ba', 'be', 'bi', 'bo', 'ca', 'ce', 'ci', 'co', 'da', 'de', 'di', 'do', 'ed', 'el', 'en', 'er', 'fa', 'fe', 'fi', 'fo', 'ga', 'ge', 'gi', 'go', 'ha', 'he', 'hi', 'ho', 'id', 'il', 'in', 'ja', 'ka', 'ki', 'ko', 'la', 'le', 'li', 'lo', 'ma', 'me', 'mi', 'mo', 'na', 'ne', 'ni', 'no', 'ob', 'od', 'ol', 'om', 'on', 'or', 'pa', 'pe', 'pi', 'po', 'qu', 'ra', 're', 'ri', 'ro', 'sa', 'se', 'si', 'so', 'ta', 'te', 'ti', 'to', 'ul', 'um', 'un', 'ur', 'va', 've', 'vi', 'vo', 'wa', 'xa', 'xi', 'za', 'ze', 'zo', 'gtk', 'kde', 'xml', 'ssl', 'net', 'db', 'py', 'tk', 'qt'];
const SECTIONS = ['libs', 'libs', 'libs', 'devel', 'devel', 'utils', 'utils', 'python', 'python', 'perl', 'misc', 'doc', 'net', 'admin', 'text', 'x11', 'web', 'haskell', 'java', 'science', 'games', 'math', 'kernel', 'sound', 'graphics', 'lisp', 'ruby', 'golang', 'rust', 'javascript', 'editors', 'fonts', 'database', 'interpreters', 'mail', 'gnome', 'kde', 'oldlibs', 'comm', 'shells', 'localization', 'introspection', 'tex', 'video', 'vcs', 'electronics', 'php', 'ocaml', 'httpd', 'metapackages', 'education', 'debug'];
const FIRST = ['Adrian', 'Andreas', 'Anna', 'Bastian', 'Carlos', 'Chris', 'Daniel', 'Dmitry', 'Elena', 'Emilio', 'Felix', 'Gianfranco', 'Guillem', 'Hideki', 'Ian', 'Jonas', 'Julian', 'Kentaro', 'Laura', 'Marco', 'Matthias', 'Mattia', 'Niels', 'Olly', 'Paul', 'Pierre', 'Raphael', 'Salvatore', 'Sebastian', 'Stefano', 'Thomas', 'Timo', 'Vincent', 'Yao', 'Zhang'];
const LAST = ['Aigner', 'Barth', 'Bernat', 'Cowgill', 'Dietrich', 'Eckert', 'Fischer', 'Gevers', 'Hertzog', 'Jimenez', 'Klumpp', 'Lamb', 'Moreau', 'Nussbaum', 'Okamoto', 'Pentchev', 'Quinn', 'Rossi', 'Schauer', 'Thibault', 'Urban', 'Vernooij', 'Weber', 'Xu', 'Yamane', 'Zeimetz'];
const TEAMS = ['Debian Python Team <team+python@tracker.debian.org>', 'Debian Haskell Group <pkg-haskell-maintainers@lists.alioth.debian.org>', 'Debian Perl Group <pkg-perl-maintainers@lists.alioth.debian.org>', 'Debian Go Packaging Team <team+pkg-go@tracker.debian.org>', 'Debian Rust Maintainers <pkg-rust-maintainers@alioth-lists.debian.net>', 'Debian Java Maintainers <pkg-java-maintainers@lists.alioth.debian.org>', 'Debian Science Maintainers <debian-science-maintainers@lists.alioth.debian.org>', 'Debian Javascript Maintainers <pkg-javascript-devel@alioth-lists.debian.net>'];
const ADJ = ['fast', 'small', 'portable', 'extensible', 'lightweight', 'secure', 'generic', 'simple', 'powerful', 'modular', 'cross-platform', 'embeddable', 'minimal', 'scalable', 'interactive'];
const NOUN = ['library', 'toolkit', 'parser', 'daemon', 'client', 'server', 'framework', 'editor', 'compiler', 'interpreter', 'viewer', 'converter', 'scheduler', 'database engine', 'web server', 'shell', 'bindings'];
const FOR = ['for XML processing', 'for image manipulation', 'for network protocols', 'for numerical computing', 'for terminal applications', 'for audio streams', 'for cryptographic operations', 'for structured logging', 'for JSON documents', 'for regular expressions', 'for compressed archives', 'for the GNOME desktop', 'for version control', 'for spreadsheets', 'for font rendering'];
const TAGS = ['devel::library', 'role::devel-lib', 'role::program', 'implemented-in::c', 'implemented-in::c++', 'implemented-in::python', 'implemented-in::perl', 'interface::commandline', 'interface::x11', 'scope::utility', 'use::converting', 'use::editing', 'works-with::text', 'works-with::image', 'protocol::http', 'network::client', 'network::server', 'role::shared-lib', 'suite::gnome', 'uitoolkit::gtk', 'x11::application', 'admin::configuring'];
const RDEPS_POOL = 400; // Depends mostly name one of the first N "core" libraries, like libc6

interface GenCtx {
  rng: () => number;
  names: Set<string>;
  packages: BenchPackage[];
  core: BenchPackage[];
  opts: { payloadMin: number; payloadMax: number };
}

function word(rng: () => number): string {
  const n = 1 + Math.floor(rng() * 3);
  let s = '';
  for (let i = 0; i < n; i++) s += pick(rng, SYL);
  return s;
}

function uniqueName(ctx: GenCtx, base: string): string {
  let n = base;
  for (let i = 2; ctx.names.has(n); i++) n = `${base}${i}`;
  ctx.names.add(n);
  return n;
}

function upstreamVersion(rng: () => number): string {
  let v = `${Math.floor(rng() * 12)}.${Math.floor(rng() * 30)}`;
  if (chance(rng, 0.6)) v += `.${Math.floor(rng() * 20)}`;
  if (chance(rng, 0.08)) v += '+dfsg';
  if (chance(rng, 0.03)) v += '~rc1';
  return v;
}

function baseVersion(v: string): string {
  return v.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
}

/** A new Debian revision: 1.2-3 → 1.2-4; 1.2-3+b1 → 1.2-4; 1:1.2-3 → 1:1.2-4. */
export function bumpVersion(v: string): string {
  const m = /^(.*-)(\d+)(\+b\d+)?$/.exec(v);
  if (m) return `${m[1]}${Number(m[2]) + 1}`;
  return `${v}.1`;
}

function depList(ctx: GenCtx, n: number, self: string): string | undefined {
  const out: string[] = [];
  const seen = new Set<string>([self]);
  for (let i = 0; i < n; i++) {
    const pool = ctx.core.length && chance(ctx.rng, 0.7) ? ctx.core : ctx.packages;
    if (!pool.length) break;
    const d = pick(ctx.rng, pool);
    if (seen.has(d.name)) continue;
    seen.add(d.name);
    // Always satisfiable: ">=" the target's current upstream version.
    out.push(chance(ctx.rng, 0.7) ? `${d.name} (>= ${baseVersion(d.version)})` : d.name);
  }
  return out.length ? out.join(', ') : undefined;
}

function poolPrefix(source: string): string {
  return source.startsWith('lib') && source.length > 3 ? source.slice(0, 4) : source[0]!;
}

/** Makes the binaries of one new source (not yet written). */
function newSource(ctx: GenCtx, comp: string): BenchPackage[] {
  const rng = ctx.rng;
  const src = uniqueName(ctx, word(rng) + (chance(rng, 0.2) ? word(rng) : ''));
  const epoch = chance(rng, 0.05) ? `${1 + Math.floor(rng() * 3)}:` : '';
  const version = `${epoch}${upstreamVersion(rng)}-${1 + Math.floor(rng() * 4)}`;
  const r = rng();
  const count = r < 0.55 ? 1 : r < 0.8 ? 2 : r < 0.92 ? 3 : 4 + Math.floor(rng() * 3);
  const maintainer = chance(rng, 0.35) ? pick(rng, TEAMS) : `${pick(rng, FIRST)} ${pick(rng, LAST)} <${src}@packages.debian.org>`;
  const homepage = `https://${src}.example.org/`;
  const section = pick(rng, SECTIONS);
  const out: BenchPackage[] = [];
  const kinds = ['main', `lib${src}${Math.floor(rng() * 9)}`, `${src}-dev`, `${src}-doc`, `python3-${src}`, `${src}-data`, `${src}-utils`];
  for (let i = 0; i < count; i++) {
    const base = i === 0 ? src : kinds[i]!;
    const name = i === 0 ? src : uniqueName(ctx, base);
    const isAll = /-(doc|data)$/.test(name) || (count === 1 && chance(rng, 0.15));
    const p: BenchPackage = {
      name,
      source: src,
      version,
      arch: isAll ? 'all' : 'amd64',
      section: /-dev$/.test(name) ? 'libdevel' : /-doc$/.test(name) ? 'doc' : name.startsWith('lib') ? 'libs' : name.startsWith('python3-') ? 'python' : section,
      priority: chance(rng, 0.96) ? 'optional' : pick(rng, ['important', 'standard', 'required', 'extra']),
      maintainer,
      description: `${pick(rng, ADJ)} ${pick(rng, NOUN)} ${pick(rng, FOR)}${/-dev$/.test(name) ? ' - development files' : /-doc$/.test(name) ? ' - documentation' : ''}`,
      homepage,
      payload: 0,
      filename: '',
      size: 0,
      md5: '',
      sha256: '',
      installedSize: 0,
    };
    const nd = Math.floor(Math.pow(rng(), 1.3) * 16);
    p.depends = depList(ctx, nd, name);
    if (chance(rng, 0.16)) p.recommends = depList(ctx, 1 + Math.floor(rng() * 3), name);
    if (chance(rng, 0.18)) p.suggests = depList(ctx, 1 + Math.floor(rng() * 3), name);
    if (chance(rng, 0.15)) p.provides = `${name}-api-${Math.floor(rng() * 9)}`;
    if (chance(rng, 0.09)) p.breaks = `${pick(rng, ctx.packages.length ? ctx.packages : [p]).name} (<< ${baseVersion(version)})`;
    if (chance(rng, 0.09)) p.replaces = `${pick(rng, ctx.packages.length ? ctx.packages : [p]).name} (<< ${baseVersion(version)})`;
    if (chance(rng, 0.36)) p.multiArch = isAll ? 'foreign' : pick(rng, ['same', 'foreign', 'allowed']);
    if (chance(rng, 0.48)) {
      const t = new Set<string>();
      const nt = 2 + Math.floor(rng() * 7);
      for (let k = 0; k < nt; k++) t.add(pick(rng, TAGS));
      p.tag = [...t].sort().join(', ');
    }
    const { payloadMin: lo, payloadMax: hi } = ctx.opts;
    p.payload = Math.round(lo * Math.pow(hi / lo, rng()));
    p.filename = `pool/${comp}/${poolPrefix(src)}/${src}/${name}_${version.replace(/^\d+:/, '')}_${p.arch}.deb`;
    out.push(p);
  }
  return out;
}

/** The Description field's value in the .deb: the short line and the long description. */
function fullDescription(p: BenchPackage): string {
  return `${p.description}\n This is a generated package of the aptfreeze bench; it installs one data file\n and a copyright file.`;
}

function controlText(p: BenchPackage): string {
  const f: string[] = [`Package: ${p.name}`];
  if (p.source !== p.name) f.push(`Source: ${p.source}`);
  f.push(`Version: ${p.version}`, `Architecture: ${p.arch}`, `Maintainer: ${p.maintainer}`, `Installed-Size: ${p.installedSize}`);
  if (p.depends) f.push(`Depends: ${p.depends}`);
  if (p.recommends) f.push(`Recommends: ${p.recommends}`);
  if (p.suggests) f.push(`Suggests: ${p.suggests}`);
  if (p.multiArch) f.push(`Multi-Arch: ${p.multiArch}`);
  if (p.provides) f.push(`Provides: ${p.provides}`);
  if (p.breaks) f.push(`Breaks: ${p.breaks}`);
  if (p.replaces) f.push(`Replaces: ${p.replaces}`);
  f.push(`Section: ${p.section}`, `Priority: ${p.priority}`, `Homepage: ${p.homepage}`, `Description: ${fullDescription(p)}`);
  return `${f.join('\n')}\n`;
}

/** The Packages stanza, fields in dak's order (without the final blank line). */
function stanza(p: BenchPackage): string {
  const f: string[] = [`Package: ${p.name}`];
  if (p.source !== p.name) f.push(`Source: ${p.source}`);
  f.push(`Version: ${p.version}`, `Installed-Size: ${p.installedSize}`, `Maintainer: ${p.maintainer}`, `Architecture: ${p.arch}`);
  if (p.multiArch) f.push(`Multi-Arch: ${p.multiArch}`);
  if (p.provides) f.push(`Provides: ${p.provides}`);
  if (p.depends) f.push(`Depends: ${p.depends}`);
  if (p.recommends) f.push(`Recommends: ${p.recommends}`);
  if (p.suggests) f.push(`Suggests: ${p.suggests}`);
  if (p.breaks) f.push(`Breaks: ${p.breaks}`);
  if (p.replaces) f.push(`Replaces: ${p.replaces}`);
  f.push(`Description: ${p.description}`, `Homepage: ${p.homepage}`);
  // As dak: the md5 of the whole description (as in Translation-en), which reprepro checks against the .deb.
  f.push(`Description-md5: ${createHash('md5').update(`${fullDescription(p)}\n`).digest('hex')}`);
  if (p.tag) f.push(`Tag: ${p.tag}`);
  f.push(`Section: ${p.section}`, `Priority: ${p.priority}`, `Filename: ${p.filename}`, `Size: ${p.size}`, `MD5sum: ${p.md5}`, `SHA256: ${p.sha256}`);
  return f.join('\n');
}

/**
 * Writes the .deb of each package that has none yet; returns [files, bytes]. Packages are built
 * on this thread while up to 16 directory creations and file writes run on libuv's pool:
 * creating 60,000 small files is the long part here, not building them.
 */
async function writeDebs(root: string, pkgs: BenchPackage[]): Promise<[number, number]> {
  const dirs = new Map<string, Promise<void>>();
  const ensureDir = (dir: string): Promise<void> => {
    let p = dirs.get(dir);
    if (!p) {
      const parent = path.dirname(dir);
      p = (parent === dir ? Promise.resolve() : ensureDir(parent)).then(() =>
        fsp.mkdir(dir).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        }),
      );
      dirs.set(dir, p);
    }
    return p;
  };
  const top = path.resolve(root);
  mkdirSync(top, { recursive: true });
  dirs.set(top, Promise.resolve());
  let files = 0;
  let bytes = 0;
  const inflight = new Set<Promise<void>>();
  for (const p of pkgs) {
    if (p.sha256) continue;
    const payload = payloadBytes(`${p.name}\0${p.version}\0${p.arch}`, p.payload);
    const copyright = Buffer.from(`Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: ${p.source}\n\nFiles: *\nCopyright: 2024 ${p.maintainer}\nLicense: MIT\n`);
    p.installedSize = Math.max(1, Math.ceil((payload.length + copyright.length) / 1024) + 4);
    const entries: DebEntry[] = [
      { path: 'usr/' },
      { path: 'usr/lib/' },
      { path: `usr/lib/${p.name}/` },
      { path: `usr/lib/${p.name}/data.bin`, data: payload },
      { path: 'usr/share/' },
      { path: 'usr/share/doc/' },
      { path: `usr/share/doc/${p.name}/` },
      { path: `usr/share/doc/${p.name}/copyright`, data: copyright },
    ];
    const deb = buildDeb(controlText(p), entries, MTIME);
    p.size = deb.length;
    p.md5 = createHash('md5').update(deb).digest('hex');
    p.sha256 = createHash('sha256').update(deb).digest('hex');
    files++;
    bytes += deb.length;
    const file = path.join(top, p.filename);
    const job: Promise<void> = ensureDir(path.dirname(file))
      .then(() => fsp.writeFile(file, deb))
      .finally(() => inflight.delete(job));
    inflight.add(job);
    if (inflight.size >= 16) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return [files, bytes];
}

function xz(data: Buffer, preset: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('xz', ['-c', `-${preset}`, '-T0', '--check=crc64'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`xz exited ${code}: ${Buffer.concat(err).toString()}`))));
    child.stdin.on('error', () => {});
    child.stdin.end(data);
  });
}

const hashes = (b: Buffer) => ({ md5: createHash('md5').update(b).digest('hex'), sha256: createHash('sha256').update(b).digest('hex'), size: b.length });

async function atomicWrite(file: string, data: Buffer | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  await writeFile(tmp, data);
  await rename(tmp, file);
}

function debianDate(d: Date): string {
  return d.toUTCString().replace(/GMT$/, 'UTC');
}

/** Writes Packages.{gz,xz} (+ by-hash), Release, InRelease, Release.gpg for the state. */
async function writeIndices(state: UpstreamState, key: BenchKey): Promise<{ ms: number; plain: number; gz: number; xz: number }> {
  const t0 = performance.now();
  const sorted = [...state.packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const text = `${sorted.map(stanza).join('\n\n')}\n`;
  const plain = Buffer.from(text, 'utf8');
  // gzip on libuv's pool while xz runs in its own process.
  const [gz, xzData] = await Promise.all([gzip(plain, { level: 6 }), xz(plain, state.opts.xzPreset)]);
  const dir = `${state.component}/binary-amd64`;
  const suiteDir = path.join(state.root, 'dists', state.suite);
  const files: IndexFile[] = [
    { path: `${dir}/Packages`, ...hashes(plain), written: false },
    { path: `${dir}/Packages.gz`, ...hashes(gz), written: true },
    { path: `${dir}/Packages.xz`, ...hashes(xzData), written: true },
  ];
  if (state.pdiff) {
    const { index } = await writePdiffs(suiteDir, `${dir}/Packages`, plain, state.date, state.pdiff);
    files.push({ path: `${dir}/Packages.diff/Index`, ...hashes(index), written: true });
  }
  const byHash = path.join(suiteDir, dir, 'by-hash', 'SHA256');
  mkdirSync(byHash, { recursive: true });
  for (const [f, data] of [
    [files[1]!, gz],
    [files[2]!, xzData],
  ] as const) {
    const target = path.join(suiteDir, f.path);
    await atomicWrite(target, data);
    const h = path.join(byHash, f.sha256);
    if (!existsSync(h)) linkSync(target, h);
  }
  state.indexFiles = files;
  const width = Math.max(...files.map((f) => String(f.size).length));
  const list = (pickHash: (f: IndexFile) => string) => files.map((f) => ` ${pickHash(f)} ${String(f.size).padStart(width)} ${f.path}`).join('\n');
  const release = [
    'Origin: Debian',
    'Label: Debian',
    'Suite: stable',
    'Version: 12.99',
    `Codename: ${state.suite}`,
    `Date: ${debianDate(state.date)}`,
    `Valid-Until: ${debianDate(new Date(state.date.getTime() + 7 * DAY))}`,
    'Acquire-By-Hash: yes',
    'Architectures: amd64',
    `Components: ${state.component}`,
    'Description: aptfreeze bench upstream (generated)',
    'MD5Sum:',
    list((f) => f.md5),
    'SHA256:',
    list((f) => f.sha256),
    '',
  ].join('\n');
  await atomicWrite(path.join(suiteDir, 'Release'), release);
  await atomicWrite(path.join(suiteDir, 'Release.gpg'), await detachSign(Buffer.from(release, 'utf8'), key));
  await atomicWrite(path.join(suiteDir, 'InRelease'), await clearsign(release, key));
  return { ms: performance.now() - t0, plain: plain.length, gz: gz.length, xz: xzData.length };
}

function stats(state: UpstreamState, t0: number, debMs: number, idx: { ms: number; plain: number; gz: number; xz: number }, written: [number, number]): GenStats {
  return {
    ms: Math.round(performance.now() - t0),
    debMs: Math.round(debMs),
    indexMs: Math.round(idx.ms),
    packages: state.packages.length,
    sources: new Set(state.packages.map((p) => p.source)).size,
    poolFilesWritten: written[0],
    poolBytesWritten: written[1],
    packagesBytes: idx.plain,
    packagesGzBytes: idx.gz,
    packagesXzBytes: idx.xz,
    avgStanzaBytes: Math.round(idx.plain / Math.max(1, state.packages.length)),
  };
}

/** Generates the first upstream state under root (an empty or missing directory). */
export async function generateUpstream(root: string, key: BenchKey, options: GenOptions): Promise<{ state: UpstreamState; stats: GenStats }> {
  const t0 = performance.now();
  const opts = {
    packages: options.packages,
    seed: options.seed ?? 20261127,
    suite: options.suite ?? 'bookworm',
    component: options.component ?? 'main',
    payloadMin: options.payloadMin ?? 200,
    payloadMax: options.payloadMax ?? 8192,
    xzPreset: options.xzPreset ?? 2,
    pdiffs: options.pdiffs ?? 0,
  };
  const rng = mulberry32(opts.seed);
  const ctx: GenCtx = { rng, names: new Set<string>(), packages: [], core: [], opts };
  while (ctx.packages.length < opts.packages) {
    for (const p of newSource(ctx, opts.component)) {
      if (ctx.packages.length >= opts.packages) break;
      ctx.packages.push(p);
      if (ctx.core.length < RDEPS_POOL && p.arch === 'amd64' && p.name.startsWith('lib')) ctx.core.push(p);
    }
  }
  const state: UpstreamState = {
    root: path.resolve(root),
    suite: opts.suite,
    component: opts.component,
    packages: ctx.packages,
    indexFiles: [],
    date: options.date ?? new Date(Date.now() - 2 * 3_600_000),
    generation: 0,
    rng,
    names: ctx.names,
    opts,
    ...(opts.pdiffs > 0 ? { pdiff: { stateDir: path.join(path.resolve(root), '.pdiff-states'), states: [], keep: opts.pdiffs } } : {}),
  };
  const td = performance.now();
  const written = await writeDebs(state.root, state.packages);
  const debMs = performance.now() - td;
  const idx = await writeIndices(state, key);
  return { state, stats: stats(state, t0, debMs, idx, written) };
}

/**
 * The next upstream state, in place: ~`fraction` of the binary packages get a new version
 * (whole sources), `delta` sources are added and `delta` removed. Date moves forward by an hour
 * (never into the future).
 */
export async function mutateUpstream(state: UpstreamState, key: BenchKey, opts: { fraction?: number; delta?: number } = {}): Promise<{ stats: MutationStats }> {
  const t0 = performance.now();
  const fraction = opts.fraction ?? 0.01;
  const n = state.packages.length;
  const delta = opts.delta ?? Math.max(2, Math.round(n * 0.0005));
  const rng = state.rng;
  const oldIndex = new Set(state.indexFiles.filter((f) => f.written).map((f) => f.sha256));
  const oldPool = new Set(state.packages.map((p) => p.sha256));

  const bySource = new Map<string, BenchPackage[]>();
  for (const p of state.packages) {
    let l = bySource.get(p.source);
    if (!l) bySource.set(p.source, (l = []));
    l.push(p);
  }
  const sources = [...bySource.keys()];
  const target = Math.ceil(n * fraction);
  const touched = new Set<string>();
  let changed = 0;
  while (changed < target && touched.size < sources.length) {
    const s = sources[Math.floor(rng() * sources.length)]!;
    if (touched.has(s)) continue;
    touched.add(s);
    for (const p of bySource.get(s)!) {
      p.version = bumpVersion(p.version);
      p.filename = `pool/${state.component}/${poolPrefix(p.source)}/${p.source}/${p.name}_${p.version.replace(/^\d+:/, '')}_${p.arch}.deb`;
      p.sha256 = '';
      changed++;
    }
  }
  const removable = sources.filter((s) => !touched.has(s));
  const removedSources = new Set<string>();
  while (removedSources.size < Math.min(delta, removable.length)) removedSources.add(removable[Math.floor(rng() * removable.length)]!);
  const before = state.packages.length;
  state.packages = state.packages.filter((p) => !removedSources.has(p.source));
  const removed = before - state.packages.length;
  const ctx: GenCtx = { rng, names: state.names, packages: state.packages, core: [], opts: state.opts };
  let added = 0;
  for (let i = 0; i < delta; i++) {
    for (const p of newSource(ctx, state.component)) {
      state.packages.push(p);
      added++;
    }
  }
  state.generation++;
  state.date = new Date(Math.min(Date.now() - 60_000, state.date.getTime() + 3_600_000));
  const td = performance.now();
  const written = await writeDebs(state.root, state.packages);
  const debMs = performance.now() - td;
  const idx = await writeIndices(state, key);
  const fresh = state.packages.filter((p) => !oldPool.has(p.sha256));
  return {
    stats: {
      ...stats(state, t0, debMs, idx, written),
      changed,
      added,
      removed,
      newPoolFiles: fresh.length,
      newPoolBytes: fresh.reduce((s, p) => s + p.size, 0),
      newIndexBytes: state.indexFiles.filter((f) => f.written && !oldIndex.has(f.sha256)).reduce((s, f) => s + f.size, 0),
    },
  };
}

/** A pool file of the state close to `bytes` in size (for the serving measurement). */
export function poolFileNear(state: UpstreamState, bytes: number): BenchPackage {
  let best = state.packages[0]!;
  for (const p of state.packages) if (Math.abs(p.size - bytes) < Math.abs(best.size - bytes)) best = p;
  return best;
}

