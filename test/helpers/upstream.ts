// A real upstream APT repository on disk, for tests: signed Release files, Packages / Sources /
// Translation indices, by-hash copies and genuine .deb files made by dpkg-deb.
//
// It is an independent "upstream": it shares no code with /work/main/server on purpose.
//
// Layout written by buildUpstream(root, suites, key):
//   root/dists/<suite>/{Release, InRelease, Release.gpg}          (per `signing`)
//   root/dists/<suite>/<comp>/binary-<arch>/Packages{,.gz,.xz}       (per `compressions`)
//   root/dists/<suite>/<comp>/binary-<arch>/by-hash/SHA256/<sha256>  (per `byHash`)
//   root/dists/<suite>/<comp>/source/Sources{,.gz,.xz}               (per `sources`, same compressions)
//   root/dists/<suite>/<comp>/i18n/Translation-en.gz                 (per `translations`)
//   root/pool/<comp>/<first letter of source>/<source>/<name>_<version without epoch>_<arch>.deb
//   root/pool/<comp>/<first letter of source>/<source>/<source>_<version without epoch>.{dsc,tar.gz}
//
// Like Debian since bookworm, an arch-all package is listed in every binary-<arch>/Packages
// and also in binary-all/Packages, with `Architectures: all …` and
// `No-Support-for-Architecture-all: Packages` in the Release.
import { createCipheriv } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, rmdir, unlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { digestFile, md5, sha256 } from './hash.ts';
import { runOk, runOkBytes } from './run.ts';

// ---------------------------------------------------------------------------------------------
// Keys

export interface UpstreamKey {
  /** 40 upper-case hex digits, as gpg prints it (openpgp's getFingerprint() gives lower case). */
  fingerprint: string;
  armoredPrivate: string;
  armoredPublic: string;
  /** Binary public keyring file written by createUpstreamKey (for signed-by / gpgv --keyring). */
  keyringPath: string;
  /** The same public key, armored (.asc). */
  armoredKeyringPath: string;
}

const DAY_MS = 86_400_000;

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'key';
}

/**
 * Makes an OpenPGP v4 ed25519Legacy signing key (with its default cv25519 encryption subkey)
 * and writes `<dir>/<slug of name>-<key id>.gpg` (binary public keyring) and `….asc` (armored).
 * expired: created two years ago, expired one year ago (buildUpstream then signs with a date
 * inside the key's lifetime, so the signature is good but gpgv reports EXPKEYSIG and apt refuses it).
 */
export async function createUpstreamKey(
  dir: string,
  opts: { name?: string; expired?: boolean } = {},
): Promise<UpstreamKey> {
  const name = opts.name ?? 'Fixture Archive Signing Key';
  const now = Date.now();
  // Back-dated a little so that a verifier whose clock is slightly behind does not see a key from the future.
  const created = new Date(opts.expired ? now - 2 * 365 * DAY_MS : now - 3600_000);
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name, email: `${slug(name)}@fixtures.invalid` }],
    date: created,
    keyExpirationTime: opts.expired ? 365 * 86_400 : 0,
    format: 'object',
  });
  const pub = privateKey.toPublic();
  await mkdir(dir, { recursive: true });
  const fingerprint = privateKey.getFingerprint().toUpperCase();
  // The key id in the name: several keys (even of the same name) can share a directory.
  const base = path.join(path.resolve(dir), `${slug(name)}-${fingerprint.slice(-16)}`);
  const keyringPath = `${base}.gpg`;
  const armoredKeyringPath = `${base}.asc`;
  const armoredPublic = pub.armor();
  await writeFile(keyringPath, pub.write());
  await writeFile(armoredKeyringPath, armoredPublic);
  return {
    fingerprint,
    armoredPrivate: privateKey.armor(),
    armoredPublic,
    keyringPath,
    armoredKeyringPath,
  };
}

interface Signer {
  key: openpgp.PrivateKey;
  /** Signature creation time: now, or inside the key's lifetime when it has expired. */
  date: Date;
}

const keyCache = new Map<string, Promise<{ key: openpgp.PrivateKey; expires: number }>>();

async function signerFor(key: UpstreamKey): Promise<Signer> {
  let k = keyCache.get(key.armoredPrivate);
  if (!k) {
    k = (async () => {
      const pk = await openpgp.readPrivateKey({ armoredKey: key.armoredPrivate });
      const exp = await pk.getExpirationTime();
      return { key: pk, expires: exp instanceof Date ? exp.getTime() : Infinity };
    })();
    keyCache.set(key.armoredPrivate, k);
  }
  const { key: pk, expires } = await k;
  const now = Date.now();
  return { key: pk, date: new Date(expires <= now ? expires - DAY_MS : now) };
}

/** gpg --clearsign's shape: the signed text lacks its final newline; LF line ends throughout. */
async function clearsign(text: string, signer: Signer): Promise<string> {
  const message = await openpgp.createCleartextMessage({ text: text.replace(/\n$/, '') });
  const armored = await openpgp.sign({ message, signingKeys: signer.key, date: signer.date });
  const out = armored.replace(/\r\n/g, '\n');
  return out.endsWith('\n') ? out : `${out}\n`;
}

async function detachSign(bytes: Uint8Array, signer: Signer): Promise<string> {
  const message = await openpgp.createMessage({ binary: bytes });
  const armored = await openpgp.sign({ message, signingKeys: signer.key, detached: true, date: signer.date });
  const out = armored.replace(/\r\n/g, '\n');
  return out.endsWith('\n') ? out : `${out}\n`;
}

// ---------------------------------------------------------------------------------------------
// Repository description

export interface FixturePackage {
  name: string;
  version: string;
  /** e.g. amd64 or all */
  arch: string;
  /** default 'main' */
  component?: string;
  /** size of a data file inside, default 200 */
  payloadBytes?: number;
  depends?: string;
  /** source package name, default the binary name */
  source?: string;
}

export interface FixtureSuite {
  /** may hold a slash, e.g. 'bookworm/updates' */
  name: string;
  /** default: the name */
  codename?: string;
  components: string[];
  /** what the Release's Components field says, default the components (Debian security says `updates/main` for files under `main/`) */
  componentsField?: string[];
  /** e.g. ['amd64'] — binary-all is written too when any package has arch all */
  architectures: string[];
  packages: FixturePackage[];
  /** default now */
  date?: Date;
  /** default now + 7 days; null = no Valid-Until field */
  validUntil?: Date | null;
  /**
   * Packages (and Sources) variants written, default ['gz', 'xz']; Release lists every variant written
   * and, like Debian's, also the uncompressed name when 'none' is not written (see listUncompressed)
   */
  compressions?: Array<'none' | 'gz' | 'xz'>;
  /**
   * extra, default true: list the uncompressed Packages / Sources / Translation-en in Release even when
   * not written (Debian does; apt 2.6 skips an index without it). false gives a Release that lists only
   * the files present — which apt then ignores (useful to test a mirror against such repositories).
   */
  listUncompressed?: boolean;
  /** default true: by-hash/SHA256/<hash> copies of every index file, and 'Acquire-By-Hash: yes' */
  byHash?: boolean;
  /** default 'both' (InRelease and Release.gpg). Release itself is always written. */
  signing?: 'both' | 'inrelease' | 'detached' | 'unsigned';
  /** default the key passed to buildUpstream */
  signWith?: UpstreamKey;
  /** also <comp>/source/Sources (same compressions) and the .dsc + .tar.gz in pool */
  sources?: boolean;
  /** false: a Release without Origin and Label (as some third-party and custom archives have) */
  originLabel?: boolean;
  /** also <comp>/i18n/Translation-en.gz (and Description-md5 in Packages) */
  translations?: boolean;
}

export interface UpstreamBuild {
  root: string;
  /** one entry per package and suite listing it (the same pool file may appear for several suites) */
  debs: Array<{
    name: string;
    version: string;
    arch: string;
    component: string;
    suite: string;
    /** pool/... */
    filename: string;
    sha256: string;
    size: number;
  }>;
  /**
   * every index file written under dists/<suite> and listed in its Release (not the Release files
   * themselves, not by-hash copies)
   */
  indexFiles: Array<{
    suite: string;
    /** relative to dists/<suite> */
    path: string;
    sha256: string;
    size: number;
  }>;
  /**
   * extra: Release entries with no file behind them — the uncompressed Packages / Sources /
   * Translation-en when 'none' is not among the compressions (Debian lists them too; a mirror must
   * not expect to fetch them)
   */
  listedOnly: Array<{ suite: string; path: string; sha256: string; size: number }>;
  /** extra: source package files (.dsc, .tar.gz) per suite, when `sources` is on */
  sourceFiles: Array<{
    suite: string;
    component: string;
    source: string;
    version: string;
    /** pool/... */
    filename: string;
    sha256: string;
    size: number;
  }>;
}

// ---------------------------------------------------------------------------------------------
// Small utilities

/** Fixed timestamp of everything inside .deb and source files, for reproducible bytes. */
const SOURCE_DATE_EPOCH = 1_700_000_000;
const MAINTAINER = 'Fixture Maintainers <fixtures@example.org>';

/**
 * The fixture's clock for a Release's default `Date`: a whole second later than the previous
 * default of this process, starting an hour back, so that an upstream rebuilt within the same
 * second still moves forward (the mirror refuses a Date older than the last accepted one) without
 * a test sleeping, and never in the future (apt refuses a Release that is "not valid yet").
 */
let lastReleaseDate = 0;
export function nextReleaseDate(now = Date.now()): Date {
  const floor = Math.floor(now / 1000) * 1000 - 3600_000;
  lastReleaseDate = Math.max(floor, lastReleaseDate + 1000);
  return new Date(lastReleaseDate);
}

export function debianDate(d: Date): string {
  // toUTCString: "Sat, 28 Nov 2026 07:00:00 GMT"
  return d.toUTCString().replace(/GMT$/, 'UTC');
}

function stripEpoch(version: string): string {
  return version.replace(/^\d+:/, '');
}

function poolDirOf(component: string, source: string): string {
  return `pool/${component}/${source[0]}/${source}`;
}

async function hashFile(file: string): Promise<{ md5: string; sha256: string; size: number }> {
  const d = await digestFile(file, ['md5', 'sha256']);
  return { md5: d.md5, sha256: d.sha256, size: d.size };
}

/** Runs a filter program, feeding input on stdin, returning stdout. */
function pipeThrough(cmd: string, args: string[], input: Uint8Array | null, cwd?: string): Promise<Buffer> {
  return runOkBytes(cmd, args, { cwd, ...(input ? { input } : {}), env: process.env });
}

function gz(buf: Uint8Array): Buffer {
  // zlib writes no name and mtime 0: deterministic.
  return gzipSync(buf, { level: 9 });
}

function xz(buf: Uint8Array): Promise<Buffer> {
  return pipeThrough('xz', ['-c', '-6', '-T1', '--check=crc64'], buf);
}

/** Writes beside the target then renames, so a server reading concurrently never sees half a file. */
async function atomicWrite(file: string, data: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  await writeFile(tmp, data, { mode: 0o644 });
  await rename(tmp, file);
}

function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: Array<() => void> = [];
  const next = (): void => {
    active--;
    queue.shift()?.();
  };
  return <T>(fn: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const start = (): void => {
        active++;
        fn().then(resolve, reject).finally(next);
      };
      if (active < n) start();
      else queue.push(start);
    });
}

/** Deterministic bytes for a package's payload (AES-CTR keystream seeded by its identity). */
function payloadFor(seed: string, n: number): Buffer {
  const key = Buffer.from(sha256(seed), 'hex').subarray(0, 16);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([c.update(Buffer.alloc(n)), c.final()]);
}

function descriptionOf(p: FixturePackage): string {
  // The field value: synopsis line, then continuation lines (each starting with a space).
  return [
    `fixture package ${p.name}`,
    ` A package of the aptfreeze test upstream: ${p.name} ${p.version} for ${p.arch}.`,
    ' .',
    ` It holds ${payloadSize(p)} bytes of deterministic data.`,
  ].join('\n');
}

function payloadSize(p: FixturePackage): number {
  return p.payloadBytes ?? 200;
}

function installedSizeOf(p: FixturePackage): number {
  // payload + the small doc file, in KiB, as dpkg-gencontrol would roughly count it.
  return Math.ceil(payloadSize(p) / 1024) + 1;
}

function sourceOf(p: FixturePackage): string {
  return p.source ?? p.name;
}

function debFilename(p: FixturePackage, component: string): string {
  return `${poolDirOf(component, sourceOf(p))}/${p.name}_${stripEpoch(p.version)}_${p.arch}.deb`;
}

// ---------------------------------------------------------------------------------------------
// .deb files

interface PoolFileInfo {
  filename: string;
  md5: string;
  sha256: string;
  size: number;
}

function controlText(p: FixturePackage): string {
  const lines = [`Package: ${p.name}`];
  if (sourceOf(p) !== p.name) lines.push(`Source: ${sourceOf(p)}`);
  lines.push(
    `Version: ${p.version}`,
    `Architecture: ${p.arch}`,
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedSizeOf(p)}`,
  );
  if (p.depends) lines.push(`Depends: ${p.depends}`);
  lines.push('Section: misc', 'Priority: optional', `Description: ${descriptionOf(p)}`);
  return `${lines.join('\n')}\n`;
}

async function setTreeTimes(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await setTreeTimes(p);
    await utimes(p, SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH);
  }
  await utimes(dir, SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH);
}

async function mkdirMode(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
}

async function writeMode(file: string, data: Uint8Array | string): Promise<void> {
  await writeFile(file, data);
  await chmod(file, 0o644);
}

/** Builds (or reuses, when a file of that name is already in the pool) the .deb of a package. */
async function ensureDeb(root: string, p: FixturePackage, component: string): Promise<PoolFileInfo> {
  const filename = debFilename(p, component);
  const target = path.join(root, filename);
  if (!existsSync(target)) {
    const stage = await mkdtemp(path.join(os.tmpdir(), 'af-deb-'));
    try {
      const pkgRoot = path.join(stage, 'root');
      await mkdirMode(path.join(pkgRoot, 'DEBIAN'));
      await writeMode(path.join(pkgRoot, 'DEBIAN', 'control'), controlText(p));
      const dataDir = path.join(pkgRoot, 'usr', 'share', 'aptfreeze-fixture', p.name);
      const docDir = path.join(pkgRoot, 'usr', 'share', 'doc', p.name);
      for (const d of [path.join(pkgRoot, 'usr'), path.join(pkgRoot, 'usr', 'share'), path.join(pkgRoot, 'usr', 'share', 'aptfreeze-fixture'), dataDir, path.join(pkgRoot, 'usr', 'share', 'doc'), docDir]) {
        await mkdirMode(d);
      }
      await writeMode(path.join(dataDir, 'payload.bin'), payloadFor(`${p.name}\0${p.version}\0${p.arch}`, payloadSize(p)));
      await writeMode(path.join(docDir, 'README'), `${p.name} ${p.version} (${p.arch}): a package of the aptfreeze test upstream.\n`);
      await setTreeTimes(pkgRoot);
      await mkdir(path.dirname(target), { recursive: true });
      const tmp = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
      await runOk('dpkg-deb', ['--build', '--root-owner-group', '-Zgzip', pkgRoot, tmp], {
        env: { ...process.env, SOURCE_DATE_EPOCH: String(SOURCE_DATE_EPOCH), LC_ALL: 'C' },
      });
      await chmod(tmp, 0o644);
      await rename(tmp, target);
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  }
  return { filename, ...(await hashFile(target)) };
}

// ---------------------------------------------------------------------------------------------
// Source packages

interface SourcePkg {
  source: string;
  version: string;
  component: string;
  binaries: FixturePackage[];
}

interface SourceFiles {
  dir: string;
  dsc: PoolFileInfo;
  tar: PoolFileInfo;
}

function sourceArchField(binaries: FixturePackage[]): string {
  const a: string[] = [];
  if (binaries.some((b) => b.arch !== 'all')) a.push('any');
  if (binaries.some((b) => b.arch === 'all')) a.push('all');
  return a.join(' ');
}

async function ensureSource(root: string, sp: SourcePkg): Promise<SourceFiles> {
  const dir = poolDirOf(sp.component, sp.source);
  const ver = stripEpoch(sp.version);
  const tarName = `${sp.source}_${ver}.tar.gz`;
  const dscName = `${sp.source}_${ver}.dsc`;
  const tarPath = path.join(root, dir, tarName);
  const dscPath = path.join(root, dir, dscName);
  await mkdir(path.join(root, dir), { recursive: true });
  if (!existsSync(tarPath)) {
    const stage = await mkdtemp(path.join(os.tmpdir(), 'af-src-'));
    try {
      const top = `${sp.source}-${ver.replace(/-[^-]*$/, '')}`;
      const deb = path.join(stage, top, 'debian');
      await mkdirMode(path.join(stage, top));
      await mkdirMode(deb);
      await writeMode(path.join(stage, top, 'README'), `${sp.source} ${sp.version}: a source package of the aptfreeze test upstream.\n`);
      const controlParts = [
        `Source: ${sp.source}\nSection: misc\nPriority: optional\nMaintainer: ${MAINTAINER}\nStandards-Version: 4.6.2\n`,
        ...sp.binaries.map((b) => `Package: ${b.name}\nArchitecture: ${b.arch === 'all' ? 'all' : 'any'}\nDescription: ${descriptionOf(b)}\n`),
      ];
      await writeMode(path.join(deb, 'control'), controlParts.join('\n'));
      await writeMode(
        path.join(deb, 'changelog'),
        `${sp.source} (${sp.version}) unstable; urgency=medium\n\n  * Fixture.\n\n -- ${MAINTAINER}  ${new Date(SOURCE_DATE_EPOCH * 1000).toUTCString().replace('GMT', '+0000')}\n`,
      );
      await writeFile(path.join(deb, 'rules'), '#!/usr/bin/make -f\n%:\n\tdh $@\n');
      await chmod(path.join(deb, 'rules'), 0o755);
      await setTreeTimes(stage);
      const tarBytes = await pipeThrough(
        'tar',
        ['--sort=name', `--mtime=@${SOURCE_DATE_EPOCH}`, '--owner=0', '--group=0', '--numeric-owner', '--format=gnu', '-cf', '-', top],
        null,
        stage,
      );
      await atomicWrite(tarPath, gz(tarBytes));
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  }
  const tarHash = await hashFile(tarPath);
  if (!existsSync(dscPath)) {
    const { sha1 } = await digestFile(tarPath, ['sha1']);
    const dsc = [
      'Format: 1.0',
      `Source: ${sp.source}`,
      `Binary: ${sp.binaries.map((b) => b.name).join(', ')}`,
      `Architecture: ${sourceArchField(sp.binaries)}`,
      `Version: ${sp.version}`,
      `Maintainer: ${MAINTAINER}`,
      'Standards-Version: 4.6.2',
      'Checksums-Sha1:',
      ` ${sha1} ${tarHash.size} ${tarName}`,
      'Checksums-Sha256:',
      ` ${tarHash.sha256} ${tarHash.size} ${tarName}`,
      'Files:',
      ` ${tarHash.md5} ${tarHash.size} ${tarName}`,
      '',
    ].join('\n');
    await atomicWrite(dscPath, dsc);
  }
  const dscHash = await hashFile(dscPath);
  return {
    dir,
    dsc: { filename: `${dir}/${dscName}`, ...dscHash },
    tar: { filename: `${dir}/${tarName}`, ...tarHash },
  };
}

function sourcesStanza(sp: SourcePkg, f: SourceFiles): string {
  const base = (x: PoolFileInfo): string => path.posix.basename(x.filename);
  return [
    `Package: ${sp.source}`,
    `Binary: ${sp.binaries.map((b) => b.name).join(', ')}`,
    `Version: ${sp.version}`,
    `Maintainer: ${MAINTAINER}`,
    `Architecture: ${sourceArchField(sp.binaries)}`,
    'Standards-Version: 4.6.2',
    'Format: 1.0',
    'Files:',
    ` ${f.dsc.md5} ${f.dsc.size} ${base(f.dsc)}`,
    ` ${f.tar.md5} ${f.tar.size} ${base(f.tar)}`,
    'Checksums-Sha256:',
    ` ${f.dsc.sha256} ${f.dsc.size} ${base(f.dsc)}`,
    ` ${f.tar.sha256} ${f.tar.size} ${base(f.tar)}`,
    `Directory: ${f.dir}`,
    'Priority: source',
    'Section: misc',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Indices and Release

function packagesStanza(p: FixturePackage, d: PoolFileInfo, withDescriptionMd5: boolean): string {
  const lines = [`Package: ${p.name}`];
  if (sourceOf(p) !== p.name) lines.push(`Source: ${sourceOf(p)}`);
  lines.push(
    `Version: ${p.version}`,
    `Architecture: ${p.arch}`,
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedSizeOf(p)}`,
  );
  if (p.depends) lines.push(`Depends: ${p.depends}`);
  lines.push(
    'Section: misc',
    'Priority: optional',
    `Filename: ${d.filename}`,
    `Size: ${d.size}`,
    `MD5sum: ${d.md5}`,
    `SHA256: ${d.sha256}`,
    `Description: ${descriptionOf(p)}`,
  );
  if (withDescriptionMd5) lines.push(`Description-md5: ${md5(Buffer.from(`${descriptionOf(p)}\n`))}`);
  return lines.join('\n');
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function joinStanzas(stanzas: string[]): string {
  return stanzas.length ? `${stanzas.join('\n\n')}\n` : '';
}

interface IndexEntry {
  path: string; // relative to dists/<suite>
  data: Buffer;
  md5: string;
  sha256: string;
  /** false: listed in Release (the uncompressed form, as Debian does) but not written */
  written: boolean;
}

/**
 * The variants of one index. The uncompressed form is always returned: written when 'none' is
 * among the compressions, else only listed in Release (when listUncompressed), as Debian does —
 * apt 2.6 ignores an index whose uncompressed name is missing from the Release file.
 */
async function variants(
  base: string,
  text: string,
  compressions: Array<'none' | 'gz' | 'xz'>,
  listUncompressed: boolean,
): Promise<IndexEntry[]> {
  const raw = Buffer.from(text, 'utf8');
  const out: IndexEntry[] = [];
  const writeRaw = compressions.includes('none');
  if (writeRaw || listUncompressed) out.push({ path: base, data: raw, md5: md5(raw), sha256: sha256(raw), written: writeRaw });
  for (const c of new Set(compressions)) {
    if (c === 'none') continue;
    const data = c === 'gz' ? gz(raw) : await xz(raw);
    out.push({ path: `${base}.${c}`, data, md5: md5(data), sha256: sha256(data), written: true });
  }
  return out;
}

function hashSection(title: string, entries: IndexEntry[], pick: (e: IndexEntry) => string): string {
  const width = Math.max(1, ...entries.map((e) => String(e.data.length).length));
  return [`${title}:`, ...entries.map((e) => ` ${pick(e)} ${String(e.data.length).padStart(width)} ${e.path}`)].join('\n');
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walkFiles(p)));
    else out.push(p);
  }
  return out;
}

async function removeEmptyDirs(dir: string, keep: string): Promise<boolean> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  let empty = true;
  for (const e of entries) {
    if (e.isDirectory()) {
      if (!(await removeEmptyDirs(path.join(dir, e.name), keep))) empty = false;
    } else empty = false;
  }
  if (empty && dir !== keep) {
    await rmdir(dir).catch(() => undefined);
    return true;
  }
  return false;
}

/** Builds (or rebuilds) the repository; see the file header for the layout. */
export async function buildUpstream(root: string, suites: FixtureSuite[], key: UpstreamKey): Promise<UpstreamBuild> {
  root = path.resolve(root);
  await mkdir(path.join(root, 'dists'), { recursive: true });
  await mkdir(path.join(root, 'pool'), { recursive: true });

  const names = new Set<string>();
  for (const s of suites) {
    if (!s.name || s.name.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) {
      throw new Error(`buildUpstream: bad suite name ${JSON.stringify(s.name)}`);
    }
    if (names.has(s.name)) throw new Error(`buildUpstream: suite ${s.name} given twice`);
    names.add(s.name);
  }

  const limit = limiter(Math.max(2, Math.min(6, os.cpus().length * 2)));
  const debJobs = new Map<string, Promise<PoolFileInfo>>();
  const srcJobs = new Map<string, Promise<SourceFiles>>();
  const debOf = (p: FixturePackage, comp: string): Promise<PoolFileInfo> => {
    const fn = debFilename(p, comp);
    let job = debJobs.get(fn);
    if (!job) {
      job = limit(() => ensureDeb(root, p, comp));
      debJobs.set(fn, job);
    }
    return job;
  };
  const sourceOfPkg = (sp: SourcePkg): Promise<SourceFiles> => {
    const k = `${sp.component}/${sp.source}_${stripEpoch(sp.version)}`;
    let job = srcJobs.get(k);
    if (!job) {
      job = limit(() => ensureSource(root, sp));
      srcJobs.set(k, job);
    }
    return job;
  };

  const build: UpstreamBuild = { root, debs: [], indexFiles: [], listedOnly: [], sourceFiles: [] };
  const produced = new Set<string>();

  for (const suite of suites) {
    const compressions = suite.compressions ?? ['gz', 'xz'];
    if (compressions.length === 0) throw new Error(`buildUpstream: suite ${suite.name} has no compressions`);
    const byHash = suite.byHash ?? true;
    const listUncompressed = suite.listUncompressed ?? true;
    const signing = suite.signing ?? 'both';
    const now = Date.now();
    const date = suite.date ?? nextReleaseDate(now);
    const validUntil = suite.validUntil === undefined ? new Date(now + 7 * DAY_MS) : suite.validUntil;
    const hasAll = suite.packages.some((p) => p.arch === 'all');
    const archs = [...suite.architectures.filter((a) => a !== 'all')];
    const allArchs = hasAll || suite.architectures.includes('all') ? ['all', ...archs] : archs;

    // Validate and de-duplicate packages.
    const pkgs: Array<{ p: FixturePackage; comp: string }> = [];
    const seen = new Set<string>();
    for (const p of suite.packages) {
      const comp = p.component ?? 'main';
      if (!suite.components.includes(comp)) {
        throw new Error(`buildUpstream: package ${p.name} is in component ${comp}, not among suite ${suite.name}'s components`);
      }
      if (p.arch !== 'all' && !archs.includes(p.arch)) {
        throw new Error(`buildUpstream: package ${p.name} has architecture ${p.arch}, not among suite ${suite.name}'s architectures`);
      }
      const id = `${comp}\0${p.name}\0${p.version}\0${p.arch}`;
      if (seen.has(id)) continue;
      seen.add(id);
      pkgs.push({ p, comp });
    }
    pkgs.sort((a, b) => cmpStr(a.p.name, b.p.name) || cmpStr(a.p.version, b.p.version) || cmpStr(a.p.arch, b.p.arch));

    const debInfos = await Promise.all(pkgs.map(({ p, comp }) => debOf(p, comp)));
    const infoOf = new Map<FixturePackage, PoolFileInfo>();
    pkgs.forEach(({ p, comp }, i) => {
      const d = debInfos[i]!;
      infoOf.set(p, d);
      build.debs.push({ name: p.name, version: p.version, arch: p.arch, component: comp, suite: suite.name, filename: d.filename, sha256: d.sha256, size: d.size });
    });

    const entries: IndexEntry[] = [];
    for (const comp of suite.components) {
      const inComp = pkgs.filter((x) => x.comp === comp).map((x) => x.p);
      for (const arch of allArchs) {
        const list = inComp.filter((p) => (arch === 'all' ? p.arch === 'all' : p.arch === arch || p.arch === 'all'));
        const text = joinStanzas(list.map((p) => packagesStanza(p, infoOf.get(p)!, !!suite.translations)));
        entries.push(...(await variants(`${comp}/binary-${arch}/Packages`, text, compressions, listUncompressed)));
      }
      if (suite.sources) {
        const groups = new Map<string, SourcePkg>();
        for (const p of inComp) {
          const k = `${sourceOf(p)}\0${p.version}`;
          let g = groups.get(k);
          if (!g) {
            g = { source: sourceOf(p), version: p.version, component: comp, binaries: [] };
            groups.set(k, g);
          }
          if (!g.binaries.some((b) => b.name === p.name)) g.binaries.push(p);
        }
        const sps = [...groups.values()].sort((a, b) => cmpStr(a.source, b.source) || cmpStr(a.version, b.version));
        for (const sp of sps) sp.binaries.sort((a, b) => cmpStr(a.name, b.name));
        const files = await Promise.all(sps.map((sp) => sourceOfPkg(sp)));
        sps.forEach((sp, i) => {
          const f = files[i]!;
          for (const x of [f.dsc, f.tar]) {
            build.sourceFiles.push({ suite: suite.name, component: comp, source: sp.source, version: sp.version, filename: x.filename, sha256: x.sha256, size: x.size });
          }
        });
        const text = joinStanzas(sps.map((sp, i) => sourcesStanza(sp, files[i]!)));
        entries.push(...(await variants(`${comp}/source/Sources`, text, compressions, listUncompressed)));
      }
      if (suite.translations) {
        const byName = new Map<string, FixturePackage>();
        for (const p of inComp) if (!byName.has(p.name)) byName.set(p.name, p);
        const text = joinStanzas(
          [...byName.values()].map((p) => {
            const d = descriptionOf(p);
            return `Package: ${p.name}\nDescription-md5: ${md5(Buffer.from(`${d}\n`))}\nDescription-en: ${d}`;
          }),
        );
        entries.push(...(await variants(`${comp}/i18n/Translation-en`, text, ['gz'], listUncompressed)));
      }
    }
    entries.sort((a, b) => cmpStr(a.path, b.path));

    const suiteDir = path.join(root, 'dists', ...suite.name.split('/'));
    for (const e of entries) {
      if (!e.written) {
        build.listedOnly.push({ suite: suite.name, path: e.path, sha256: e.sha256, size: e.data.length });
        continue;
      }
      const file = path.join(suiteDir, e.path);
      await atomicWrite(file, e.data);
      produced.add(file);
      build.indexFiles.push({ suite: suite.name, path: e.path, sha256: e.sha256, size: e.data.length });
      if (byHash) {
        const h = path.join(path.dirname(file), 'by-hash', 'SHA256', e.sha256);
        if (!existsSync(h)) await atomicWrite(h, e.data);
      }
    }

    const fields = [
      ...(suite.originLabel === false ? [] : ['Origin: Fixture', 'Label: Fixture']),
      `Suite: ${suite.name}`,
      `Codename: ${suite.codename ?? suite.name}`,
      `Date: ${debianDate(date)}`,
    ];
    if (validUntil) fields.push(`Valid-Until: ${debianDate(validUntil)}`);
    if (byHash) fields.push('Acquire-By-Hash: yes');
    if (allArchs.includes('all')) fields.push('No-Support-for-Architecture-all: Packages');
    fields.push(
      `Architectures: ${allArchs.join(' ')}`,
      `Components: ${(suite.componentsField ?? suite.components).join(' ')}`,
      `Description: aptfreeze test upstream, suite ${suite.name}`,
      hashSection('MD5Sum', entries, (e) => e.md5),
      hashSection('SHA256', entries, (e) => e.sha256),
    );
    const release = `${fields.join('\n')}\n`;
    const releaseBytes = Buffer.from(release, 'utf8');

    const releasePath = path.join(suiteDir, 'Release');
    await atomicWrite(releasePath, releaseBytes);
    produced.add(releasePath);
    if (signing !== 'unsigned') {
      const signer = await signerFor(suite.signWith ?? key);
      if (signing === 'both' || signing === 'detached') {
        const p = path.join(suiteDir, 'Release.gpg');
        await atomicWrite(p, await detachSign(releaseBytes, signer));
        produced.add(p);
      }
      if (signing === 'both' || signing === 'inrelease') {
        const p = path.join(suiteDir, 'InRelease');
        await atomicWrite(p, await clearsign(release, signer));
        produced.add(p);
      }
    }
  }

  // Remove index files of earlier builds that this build no longer produces; keep by-hash copies.
  const distsDir = path.join(root, 'dists');
  for (const file of await walkFiles(distsDir)) {
    if (produced.has(file)) continue;
    const rel = path.relative(distsDir, file).split(path.sep);
    if (rel.includes('by-hash')) continue;
    await unlink(file).catch(() => undefined);
  }
  await removeEmptyDirs(distsDir, distsDir);
  return build;
}

// ---------------------------------------------------------------------------------------------
// Churn

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** '1.0-1' → '1.0-2', '1.0-1+deb12u1' → '1.0-1+deb12u2', '2' → '3', 'abc' → 'abc.1'. */
export function bumpVersion(v: string): string {
  const m = /^(.*\D)?(\d+)$/.exec(v);
  if (!m) return `${v}.1`;
  return `${m[1] ?? ''}${BigInt(m[2]!) + 1n}`;
}

/**
 * Deterministic for (packages, fraction, seed): returns a copy of the list where
 * ⌈fraction × n⌉ packages (chosen by a seeded PRNG) have their version bumped.
 * Order is kept; unchanged entries are shallow copies.
 */
export function churn(packages: FixturePackage[], fraction: number, seed: number): FixturePackage[] {
  const n = packages.length;
  const k = Math.min(n, Math.max(0, Math.ceil(fraction * n - 1e-9)));
  const idx = packages.map((_, i) => i);
  const rnd = mulberry32(seed);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rnd() * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  const chosen = new Set(idx.slice(0, k));
  return packages.map((p, i) => (chosen.has(i) ? { ...p, version: bumpVersion(p.version) } : { ...p }));
}

/** Convenience for tests: n packages named <prefix>0…, all 1.0-1 on `arch` (every 5th arch all). */
export function makePackages(n: number, opts: { prefix?: string; arch?: string; component?: string; payloadBytes?: number } = {}): FixturePackage[] {
  const prefix = opts.prefix ?? 'pkg';
  const out: FixturePackage[] = [];
  for (let i = 0; i < n; i++) {
    const p: FixturePackage = { name: `${prefix}${i}`, version: '1.0-1', arch: i % 5 === 4 ? 'all' : (opts.arch ?? 'amd64') };
    if (opts.component) p.component = opts.component;
    if (opts.payloadBytes !== undefined) p.payloadBytes = opts.payloadBytes;
    out.push(p);
  }
  return out;
}
