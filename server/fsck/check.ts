// fsck's checks of a data directory (tree, store, database, keys); nothing here writes.
// One piece though over 400 lines: FsckCheck is one checklist over one data directory whose steps
// share what earlier steps found (the hashed blobs, the referenced set, the busy archives, the pool
// trees' expected files), and the last steps (unreferenced blobs, unused pool files) judge by all of
// it; split, that state would be handed between files.
import { createHash } from 'node:crypto';
import { processAlive as alive } from '../util/process.ts';
import { createReadStream, existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { join, relative } from 'node:path';
import * as openpgp from 'openpgp';
import type { Db } from '../catalog/open.ts';
import { archiveLock, type Repo, type SerialRow } from '../catalog/repo.ts';
import type { ReleaseRepo } from '../catalog/release.ts';
import type { BlobStore } from '../store/port.ts';
import { poolId, signedNames, type Publisher, type TreeLink } from '../publish/tree.ts';
import { readManifest, manifestBlobs, type SerialManifest } from '../snapshot/manifest.ts';
import { blobReader } from '../snapshot/refs.ts';
import { parseRelease, type ParsedRelease } from '../debian/release.ts';
import { verifyDetached, verifyInRelease } from '../pgp/verify.ts';
import { problem, type FsckReport, type Problem } from './report.ts';
import { archiveEntry, isTempFile, parsePoolLink, poolEntry, poolLinkTarget } from '../publish/layout.ts';
import { dataLayout } from '../datadir.ts';

/** What fsck reads. Opened without crash recovery (see open.ts): it reports what is there. */
export interface FsckContext {
  dataDir: string;
  db: Db;
  repo: Repo;
  rr: ReleaseRepo;
  store: BlobStore;
  /** The store's directories as files (store.ts fsStoreDirs): fsck walks them for strays and dead writers' temps. */
  storeDirs: { blobs: string; partial: string };
  publisher: Publisher;
  now: () => Date;
}

/** A problem and what --repair needs to act on it. */
export interface Finding extends Problem {
  /** Absolute paths and hashes for the repair step (not printed). */
  fix?: { abs?: string; sha256?: string; suites?: string[]; validUntil?: string };
}

type BlobState = 'ok' | 'corrupt' | 'missing';

const serialRe = /^\d{10}$/;

/**
 * The checklist. Each step is a method with a one-line "checks that" comment;
 * every finding names its kind (report.ts), so tests and scripts assert kinds,
 * never wording. Nothing here writes.
 */
/** Per pool tree: the files the serials linking to it list, and those already checked. */
type PoolChecks = Map<string, { expected: Set<string>; checked: Set<string>; where: { archive: string; serial: string } }>;

export class FsckCheck {
  readonly findings: Finding[] = [];
  readonly notes: string[] = [];
  readonly checked = { archives: 0, serials: 0, files: 0, blobs: 0, bytesHashed: 0 };
  private readonly blobs = new Map<string, BlobState>();
  /** Where hashStore found each blob (for the report and --repair). */
  private readonly blobFiles = new Map<string, string>();
  private readonly referenced = new Set<string>();
  /** Archives a live process is snapshotting: their in-flight state is not judged. */
  private readonly busy = new Set<string>();
  private publicKeys: openpgp.PublicKey[] = [];

  constructor(private readonly ctx: FsckContext) {}

  async run(): Promise<FsckReport> {
    const t0 = Date.now();
    const archives = this.archives();
    for (const a of archives) if (this.ctx.repo.lockHolder(archiveLock(a)) !== null) this.busy.add(a);
    for (const a of this.busy) this.notes.push(`${a}: an operation is running (pid ${this.ctx.repo.lockHolder(archiveLock(a))?.pid}); its staging, pending serial and new blobs are not judged`);
    await this.checkKeys();
    this.checkAuditLog();
    await this.hashStore();
    for (const a of archives) {
      this.checked.archives++;
      await this.checkArchive(a);
    }
    await this.checkUnreferencedBlobs();
    this.checkPartialDownloads();
    return {
      ok: !this.findings.some((f) => f.severity === 'error'),
      dataDir: this.ctx.dataDir,
      checked: this.checked,
      problems: this.findings.map(({ fix: _fix, ...p }) => p),
      repaired: [],
      notes: this.notes,
      ms: Date.now() - t0,
    };
  }

  private add(f: Finding): void {
    this.findings.push(f);
  }

  private rel(abs: string): string {
    return relative(this.ctx.dataDir, abs);
  }

  /** Archives with history in the database or a directory in the published tree. */
  private archives(): string[] {
    const names = new Set(this.ctx.repo.listArchives().map((a) => a.name));
    if (existsSync(this.ctx.publisher.root)) {
      for (const d of readdirSync(this.ctx.publisher.root)) if (d !== 'keys' && lstatSync(join(this.ctx.publisher.root, d)).isDirectory()) names.add(d);
    }
    return [...names].sort();
  }

  /** checks that the private key exists, is 0600 in a 0700 directory, and that the served public key is its own. */
  private async checkKeys(): Promise<void> {
    const dir = dataLayout(this.ctx.dataDir).keys;
    const priv = join(dir, 'private.asc');
    let key: openpgp.PrivateKey;
    try {
      key = await openpgp.readPrivateKey({ armoredKey: readFileSync(priv, 'utf8') });
    } catch (e) {
      this.add(problem('missing-key', `no readable service key: ${(e as Error).message}`, { path: this.rel(priv) }));
      return;
    }
    for (const [p, want] of [
      [priv, 0o600],
      [dir, 0o700],
    ] as const) {
      const mode = statSync(p).mode & 0o777;
      if ((mode & 0o077) !== 0) this.add({ ...problem('key-mode', `mode ${mode.toString(8).padStart(4, '0')}: group or others can read it`, { path: this.rel(p), repair: `chmod ${want.toString(8)}` }), fix: { abs: p } });
    }
    const pub = key.toPublic();
    this.publicKeys = [pub];
    const forms: Array<[string, Uint8Array]> = [
      ['aptfreeze.asc', new TextEncoder().encode(pub.armor())],
      ['aptfreeze.gpg', pub.write()],
    ];
    for (const [name, bytes] of forms) {
      const p = join(this.ctx.publisher.root, 'keys', name);
      let served: Buffer | undefined;
      try {
        served = readFileSync(p);
      } catch {
        served = undefined;
      }
      if (!served || (name.endsWith('.gpg') ? Buffer.compare(served, Buffer.from(bytes)) !== 0 : !(await sameKey(served, key.getFingerprint())))) {
        this.add({ ...problem('public-key', served ? 'the served public key is not the service key' : 'the public key is not served', { path: this.rel(p), repair: 'write the service public key' }), fix: { abs: p } });
      }
      if (served && served.toString('latin1').includes('PRIVATE KEY')) this.add(problem('public-key', 'the served key file holds private key material', { path: this.rel(p), repair: 'write the service public key' }));
    }
    for (const f of existsSync(join(this.ctx.publisher.root, 'keys')) ? readdirSync(join(this.ctx.publisher.root, 'keys')) : []) {
      if (f !== 'aptfreeze.asc' && f !== 'aptfreeze.gpg') {
        const p = join(this.ctx.publisher.root, 'keys', f);
        this.add({ ...problem('unexpected-file', 'a file in the served keys directory that is not the public key', { path: this.rel(p), repair: 'remove it' }), fix: { abs: p } });
      }
    }
  }

  /** checks that the audit log's append-only triggers are in place. */
  private checkAuditLog(): void {
    const triggers = this.ctx.rr.auditLogTriggers();
    for (const t of ['audit_log_no_update', 'audit_log_no_delete']) {
      if (!triggers.includes(t)) this.add(problem('audit-log', `trigger ${t} is missing: the audit log can be altered`));
    }
  }

  /** checks that every store blob hashes to its name; notes files that are not blobs. */
  private async hashStore(): Promise<void> {
    const root = this.ctx.storeDirs.blobs;
    if (!existsSync(root)) return;
    for (const d of readdirSync(root).sort()) {
      const dir = join(root, d);
      if (!/^[0-9a-f]{2}$/.test(d) || !lstatSync(dir).isDirectory()) {
        this.add({ ...problem('stray-store-file', 'not a blob directory', { path: this.rel(dir), repair: 'remove it' }), fix: { abs: dir } });
        continue;
      }
      for (const f of readdirSync(dir).sort()) {
        const p = join(dir, f);
        if (!/^[0-9a-f]{64}$/.test(f) || !f.startsWith(d) || !lstatSync(p).isFile()) {
          this.add({ ...problem('stray-store-file', 'not a blob named by its sha256', { path: this.rel(p), repair: 'remove it' }), fix: { abs: p } });
          continue;
        }
        this.checked.blobs++;
        const got = await hashFile(p);
        this.checked.bytesHashed += got.size;
        this.blobs.set(f, got.sha256 === f ? 'ok' : 'corrupt');
        this.blobFiles.set(f, p);
      }
    }
  }

  private blob(sha256: string): BlobState {
    return this.blobs.get(sha256) ?? 'missing';
  }

  /** checks one archive: its serials against the database, its tree's entries, latest and the trace file. */
  private async checkArchive(archive: string): Promise<void> {
    const base = join(this.ctx.publisher.root, archive);
    const rows = new Map(this.ctx.repo.allSerials(archive).map((r) => [r.serial, r]));
    const published = [...rows.values()].filter((r) => r.state === 'live' || r.state === 'frozen').sort((a, b) => (a.serial < b.serial ? -1 : 1));
    const usedPools = new Set<string>();
    const pools: PoolChecks = new Map();
    for (const row of published) {
      this.checked.serials++;
      const pool = await this.checkSerial(archive, row, pools);
      if (pool) usedPools.add(pool);
    }
    // Files of a pool tree that no serial linking to it lists: left by a failed run or an interrupted gc.
    // A running snapshot may be linking into the tree: not while it runs.
    if (!this.busy.has(archive)) {
      for (const [id, p] of pools) {
        const poolDir = this.ctx.publisher.poolDir(archive, id);
        if (isDir(poolDir)) this.checkUnexpected(poolDir, p.expected, p.where, false, 'unused-pool-file');
      }
    }
    if (!this.busy.has(archive)) {
      for (const row of rows.values()) {
        if (row.state === 'pending') this.add({ ...problem('pending-serial', 'pending, and no process is building it', { archive, serial: row.serial, repair: 'mark it failed' }) });
      }
    }
    this.checkArchiveDir(archive, base, rows, usedPools);
    this.checkLatest(archive, base, published.at(-1)?.serial ?? null);
  }

  /** checks that a published serial's tree holds exactly its manifest's files with their hashes, and its signatures. Returns its pool id. */
  private async checkSerial(archive: string, row: SerialRow, pools: PoolChecks): Promise<string | null> {
    const serial = row.serial;
    const dir = this.ctx.publisher.serialDir(archive, serial);
    const where = { archive, serial };
    if (!isDir(dir)) {
      this.add(problem('missing-serial-dir', `${row.state} in the database, but its tree is missing`, { ...where, path: this.rel(dir) }));
      return null;
    }
    let manifest: SerialManifest | null = null;
    if (!row.manifest_sha256 || this.blob(row.manifest_sha256) !== 'ok') {
      this.add(problem('missing-manifest', row.manifest_sha256 ? `manifest blob ${row.manifest_sha256} is ${this.blob(row.manifest_sha256)}` : 'no manifest recorded', where));
    } else {
      this.referenced.add(row.manifest_sha256);
      try {
        manifest = await readManifest(this.ctx.store, row.manifest_sha256);
      } catch (e) {
        this.add(problem('missing-manifest', `manifest unreadable: ${(e as Error).message}`, where));
      }
    }
    const suites = this.ctx.repo.suiteSnapshots(archive, serial).map((s) => s.suite);
    if (suites.length === 0) this.add(problem('missing-suites', 'records no suite', where));
    let pool: string | null = null;
    if (manifest) {
      for (const l of [...manifest.tree, ...manifest.extra]) this.referenced.add(l.sha256);
      const poolLinks = manifest.tree.filter((l) => l.path.startsWith('pool/'));
      const own = manifest.tree.filter((l) => !l.path.startsWith('pool/'));
      for (const l of own) this.checkFile(join(dir, l.path), l, where);
      // A corrupt referenced blob is reported once, by checkUnreferencedBlobs.
      for (const l of manifest.extra) if (this.blob(l.sha256) === 'missing') this.add(problem('missing-blob', `${l.path} (${l.sha256}) is missing from the store`, where));
      if (poolLinks.length) pool = this.checkPool(archive, dir, poolLinks, where, pools);
      this.checkUnexpected(dir, new Set([...own.map((l) => l.path), ...suites.flatMap((s) => signedNames.map((n) => `dists/${s}/${n}`))]), where, poolLinks.length > 0);
      await this.checkReleases(dir, row, suites, manifest, where);
    }
    return pool;
  }

  /**
   * checks that the serial's pool symlink names an existing pool tree, and
   * that tree's files of this serial. Pool trees are shared and extended by
   * later serials (publish/tree.ts): a file is checked once per tree, and
   * files no serial lists are looked for when every serial has been seen
   * (checkPoolTrees). A bad link is repaired to a tree made for this serial.
   */
  private checkPool(archive: string, serialDir: string, poolLinks: TreeLink[], where: { archive: string; serial: string }, pools: PoolChecks): string | null {
    const link = join(serialDir, 'pool');
    let target: string | null = null;
    try {
      target = readlinkSync(link);
    } catch {
      target = null;
    }
    const linked = target === null ? null : parsePoolLink(target);
    let id = linked && isDir(this.ctx.publisher.poolDir(archive, linked)) ? linked : null;
    if (!id) {
      const sorted = [...poolLinks].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      id = poolId(sorted);
      this.add({ ...problem('bad-pool-link', target === null ? 'pool is not a symlink to a pool tree' : `pool points at ${target}, which is not a pool tree`, { ...where, path: this.rel(link), repair: `link pool -> ${poolLinkTarget(id)}` }), fix: { abs: link, sha256: id } });
    }
    const poolDir = this.ctx.publisher.poolDir(archive, id);
    const pool = pools.get(id) ?? { expected: new Set<string>(), checked: new Set<string>(), where };
    pools.set(id, pool);
    for (const l of poolLinks) {
      const rel = l.path.slice('pool/'.length);
      pool.expected.add(rel);
      if (pool.checked.has(rel)) continue;
      pool.checked.add(rel);
      this.checkFile(join(poolDir, rel), l, where);
    }
    return id;
  }

  /** checks one published file: present, a regular file, the store blob itself (hard link) or a copy with its hash. */
  private checkFile(abs: string, l: TreeLink, where: { archive: string; serial: string }): void {
    this.checked.files++;
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch {
      const ok = this.blob(l.sha256) === 'ok';
      this.add({ ...problem('missing-file', `${l.path} is missing`, { ...where, path: this.rel(abs), repair: ok ? 'link it from the store' : undefined }), fix: ok ? { abs, sha256: l.sha256 } : undefined });
      if (!ok) this.add(problem('missing-blob', `${l.path} (${l.sha256}) is ${this.blob(l.sha256)} in the store too`, where));
      return;
    }
    if (!st.isFile()) {
      this.add({ ...problem('corrupt-file', `${l.path} is not a regular file`, { ...where, path: this.rel(abs), repair: 'replace it by the store blob' }), fix: { abs, sha256: l.sha256 } });
      return;
    }
    const blobState = this.blob(l.sha256);
    if (this.ctx.publisher.isBlobLink(l.sha256, st)) {
      // The very same inode: its bytes are the blob's, hashed once in hashStore.
      if (blobState === 'corrupt') this.add(problem('corrupt-file', `${l.path} (and its store blob) do not hash to ${l.sha256}`, { ...where, path: this.rel(abs) }));
      return;
    }
    const got = hashFileSync(abs);
    this.checked.bytesHashed += got.size;
    if (got.sha256 !== l.sha256 || got.size !== l.size) {
      const fixable = blobState === 'ok';
      this.add({ ...problem('corrupt-file', `${l.path} hashes to ${got.sha256} (${got.size} bytes), its manifest says ${l.sha256} (${l.size})`, { ...where, path: this.rel(abs), repair: fixable ? 'replace it by the store blob' : undefined }), fix: fixable ? { abs, sha256: l.sha256 } : undefined });
    } else if (blobState !== 'ok') {
      this.add({ ...problem('missing-blob', `${l.path}: its blob ${l.sha256} is ${blobState} in the store (the published copy is whole)`, { ...where, path: this.rel(abs), repair: 'put the published copy back in the store' }), fix: { abs, sha256: l.sha256 } });
    }
  }

  /** checks that a tree holds nothing but the expected files (no stray file, no symlink out of it, no temp file). */
  private checkUnexpected(root: string, expected: Set<string>, where: { archive: string; serial: string }, poolLink: boolean, kind: 'unexpected-file' | 'unused-pool-file' = 'unexpected-file'): void {
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const abs = join(d, e.name);
        const rel = relative(root, abs).split('\\').join('/');
        if (poolLink && rel === 'pool' && e.isSymbolicLink()) continue;
        if (e.isDirectory()) {
          walk(abs);
          continue;
        }
        if (expected.has(rel) && e.isFile()) continue;
        if (isTempFile(e.name)) this.add({ ...problem('temp-file', 'left by an interrupted write', { ...where, path: this.rel(abs), repair: 'remove it' }), fix: { abs } });
        else if (kind === 'unused-pool-file' && e.isFile()) this.add({ ...problem(kind, 'a pool file no serial linking to this pool tree lists', { archive: where.archive, path: this.rel(abs), repair: 'remove it' }), fix: { abs } });
        else this.add({ ...problem('unexpected-file', e.isSymbolicLink() ? `a symlink no manifest lists (-> ${readlinkSync(abs)})` : 'a file no manifest lists', { ...where, path: this.rel(abs), repair: 'remove it' }), fix: { abs } });
      }
    };
    walk(root);
  }

  /** checks each suite's Release, Release.gpg and InRelease: signed by the service key, the same SHA256 list and Valid-Until, the database's Valid-Until, and the tree's hashes. */
  private async checkReleases(dir: string, row: SerialRow, suites: string[], manifest: SerialManifest, where: { archive: string; serial: string }): Promise<void> {
    if (this.publicKeys.length === 0) return;
    const tree = new Map(manifest.tree.map((l) => [l.path, l]));
    const policy = { now: this.ctx.now(), requireValidNow: false };
    const resign = { ...where, repair: 're-sign the suite with the recorded Valid-Until' };
    for (const suite of suites) {
      const d = join(dir, 'dists', suite);
      const read = (n: string) => {
        try {
          return readFileSync(join(d, n));
        } catch {
          return null;
        }
      };
      const [release, gpg, inRelease] = [read('Release'), read('Release.gpg'), read('InRelease')];
      let fromRelease: ParsedRelease | null = null;
      let fromInRelease: ParsedRelease | null = null;
      if (!release || !gpg) this.add({ ...problem('bad-signature', `dists/${suite}: Release or Release.gpg is missing`, { ...resign, path: this.rel(d) }), fix: { suites: [suite] } });
      else {
        try {
          const v = await verifyDetached(release, gpg, this.publicKeys, policy);
          fromRelease = parseRelease(v.text);
        } catch (e) {
          this.add({ ...problem('bad-signature', `dists/${suite}/Release.gpg: ${(e as { code?: string }).code ?? 'ERROR'}: ${(e as Error).message}`, { ...resign, path: this.rel(join(d, 'Release')) }), fix: { suites: [suite] } });
        }
      }
      if (!inRelease) this.add({ ...problem('bad-signature', `dists/${suite}/InRelease is missing`, { ...resign, path: this.rel(d) }), fix: { suites: [suite] } });
      else {
        try {
          const v = await verifyInRelease(inRelease, this.publicKeys, policy);
          fromInRelease = parseRelease(v.text);
        } catch (e) {
          this.add({ ...problem('bad-signature', `dists/${suite}/InRelease: ${(e as { code?: string }).code ?? 'ERROR'}: ${(e as Error).message}`, { ...resign, path: this.rel(join(d, 'InRelease')) }), fix: { suites: [suite] } });
        }
      }
      if (fromRelease && fromInRelease) {
        const list = (r: ParsedRelease) => r.sha256.map((e) => `${e.hash} ${e.size} ${e.path}`).join('\n');
        if (list(fromRelease) !== list(fromInRelease) || fromRelease.validUntil?.getTime() !== fromInRelease.validUntil?.getTime()) {
          this.add({ ...problem('release-mismatch', `dists/${suite}: InRelease and Release differ (SHA256 entries or Valid-Until)`, { ...resign, path: this.rel(d) }), fix: { suites: [suite] } });
        }
      }
      const parsed = fromInRelease ?? fromRelease;
      if (!parsed) continue;
      for (const e of parsed.sha256) {
        const l = tree.get(`dists/${suite}/${e.path}`);
        if (l && (l.sha256 !== e.hash || l.size !== e.size)) {
          this.add(problem('release-tree-mismatch', `dists/${suite}/${e.path}: the Release lists ${e.hash} (${e.size}), the tree holds ${l.sha256} (${l.size})`, { ...where, path: this.rel(join(d, e.path)) }));
        }
      }
      const want = row.valid_until ? Math.floor(new Date(row.valid_until).getTime() / 1000) * 1000 : null;
      if (want !== null && parsed.validUntil?.getTime() !== want) {
        this.add({ ...problem('valid-until', `dists/${suite}: Valid-Until ${parsed.validUntil?.toISOString() ?? 'absent'}, the database says ${row.valid_until}`, { ...resign, path: this.rel(d) }), fix: { suites: [suite] } });
      }
    }
  }

  /** checks an archive's directory: only published serials, no staging leftovers, only used pool trees. */
  private checkArchiveDir(archive: string, base: string, rows: Map<string, SerialRow>, usedPools: Set<string>): void {
    if (!isDir(base)) return;
    const busy = this.busy.has(archive);
    for (const name of readdirSync(base)) {
      const abs = join(base, name);
      // tags/: tag trees (server/tags/), recorded in their own tables.
      const kind = archiveEntry(name);
      if (kind === 'latest' || kind === 'project' || kind === 'tags') continue;
      if (kind === 'serial') {
        const row = rows.get(name);
        if (row && (row.state === 'live' || row.state === 'frozen')) continue;
        if (busy && row?.state === 'pending') continue;
        this.add({ ...problem('unpublished-serial-dir', `a tree for a serial that is ${row?.state ?? 'not in the database'}`, { archive, serial: name, path: this.rel(abs), repair: 'remove it' }), fix: { abs } });
      } else if (kind === 'pools') {
        for (const id of readdirSync(abs)) {
          const p = join(abs, id);
          if (usedPools.has(id)) continue;
          if (busy) continue; // a running snapshot may be about to link it
          if (poolEntry(id) === 'building' || poolEntry(id) === 'trash') this.add({ ...problem('staging', 'a pool tree being built or removed', { archive, path: this.rel(p), repair: 'remove it' }), fix: { abs: p } });
          else this.add({ ...problem('unused-pool', 'a pool tree no published serial links', { archive, path: this.rel(p), repair: 'remove it' }), fix: { abs: p } });
        }
      } else if (kind === 'leftover') {
        if (!busy) this.add({ ...problem('staging', 'left by an interrupted snapshot', { archive, path: this.rel(abs), repair: 'remove it' }), fix: { abs } });
      } else if (name === 'buildinfo' && this.ctx.repo.listArchives().some((a) => a.name === archive && a.url.startsWith('upload:'))) {
        // A custom repository's kept .buildinfo files (server/uploads/buildinfo-files.ts).
        continue;
      } else {
        this.add({ ...problem('unexpected-file', 'not a serial, latest, project or pool trees', { archive, path: this.rel(abs), repair: 'remove it' }), fix: { abs } });
      }
    }
  }

  /** checks that latest and the trace file name the newest published serial. */
  private checkLatest(archive: string, base: string, newest: string | null): void {
    if (this.busy.has(archive)) return;
    const link = join(base, 'latest');
    let target: string | null = null;
    try {
      target = readlinkSync(link);
    } catch {
      target = null;
    }
    const repair = newest ? `point latest at ${newest} and rewrite the trace file` : 'remove latest';
    if (target !== newest) this.add(problem('latest', `latest -> ${target ?? '(none)'}, the newest published serial is ${newest ?? '(none)'}`, { archive, path: this.rel(link), repair }));
    if (!newest) return;
    const trace = join(base, 'project', 'trace', archive);
    let text = '';
    try {
      text = readFileSync(trace, 'utf8');
    } catch {
      text = '';
    }
    const m = /^Archive serial: (\S+)$/m.exec(text);
    if (m?.[1] !== newest) this.add(problem('trace', `the trace file names ${m?.[1] ?? 'no serial'}, the newest published serial is ${newest}`, { archive, path: this.rel(trace), repair }));
  }

  /** checks that every store blob is referenced by a published serial (or derived from one). */
  private async checkUnreferencedBlobs(): Promise<void> {
    if (this.busy.size) {
      this.notes.push('unreferenced blobs not judged: a snapshot is running and may be about to reference them');
      return;
    }
    // Tags (server/tags/) keep the blobs their manifests list, whatever became of their serials.
    const read = blobReader(this.ctx.store);
    for (const m of this.ctx.rr.tagManifests()) {
      this.referenced.add(m);
      try {
        await manifestBlobs(read, m, this.referenced);
      } catch (e) {
        this.add(problem('missing-manifest', `a tag's manifest ${m} is unreadable: ${(e as Error).message}`, {}));
      }
    }
    // Derived blobs (the parsed pool references of an index) live as long as their index does.
    for (const d of this.ctx.rr.derivedBlobs()) if (this.referenced.has(d.of)) this.referenced.add(d.blob);
    for (const [sha, state] of this.blobs) {
      if (this.referenced.has(sha)) {
        if (state === 'corrupt') this.add(problem('corrupt-blob', `blob ${sha} does not hash to its name`, { path: this.rel(this.blobFiles.get(sha)!) }));
        continue;
      }
      const abs = this.blobFiles.get(sha)!;
      this.add({ ...problem('unreferenced-blob', state === 'corrupt' ? 'referenced by no published serial (and corrupt)' : 'referenced by no published serial', { path: this.rel(abs), repair: 'remove it' }), fix: { abs, sha256: sha } });
    }
  }

  /** checks that store/tmp holds no partial download of a dead process. */
  private checkPartialDownloads(): void {
    const tmp = this.ctx.storeDirs.partial;
    if (!existsSync(tmp)) return;
    for (const f of readdirSync(tmp)) {
      const pid = Number(f.split('-')[0]);
      if (pid && alive(pid)) continue;
      const abs = join(tmp, f);
      this.add({ ...problem('partial-file', 'a partial download of a process that is gone', { path: this.rel(abs), repair: 'remove it' }), fix: { abs } });
    }
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}


async function sameKey(armored: Buffer, fingerprint: string): Promise<boolean> {
  try {
    const keys = await openpgp.readKeys({ armoredKeys: armored.toString('utf8') });
    return keys.length === 1 && keys[0]!.getFingerprint() === fingerprint && !keys[0]!.isPrivate();
  } catch {
    return false;
  }
}

function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let size = 0;
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('error', reject)
      .on('data', (c) => {
        size += c.length;
        h.update(c);
      })
      .on('end', () => resolve({ sha256: h.digest('hex'), size }));
  });
}

function hashFileSync(path: string): { sha256: string; size: number } {
  const data = readFileSync(path);
  return { sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
}
