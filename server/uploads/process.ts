/**
 * Processing one upload: the session's signed `.changes` and the files it
 * lists become catalog entries of the repository, then a serial. Run as the
 * `upload` operation (server/ops/kinds/uploads.ts), which holds the
 * repository's archive lock: uploads of one repository are processed one at a
 * time, in arrival order (the runner's line), and publish with the lock held.
 *
 * The checks, in order (each refusal one code; the session is removed
 * whatever the outcome, so nothing stays staged, and nothing is published):
 *   .changes clearsigned (UPLOAD_UNSIGNED), by a good signature (UPLOAD_BAD_SIGNATURE)
 *   of an uploaders key (UPLOAD_UNKNOWN_KEY) valid now (UPLOAD_KEY_EXPIRED), made
 *   neither too long ago nor in the future (UPLOAD_SIGNATURE_AGE);
 *   Distribution a suite of the repository (UPLOAD_BAD_SUITE);
 *   the rules allow the key for that suite and source (UPLOAD_DENIED);
 *   nothing unlisted uploaded (UPLOAD_UNLISTED), everything listed uploaded
 *   (UPLOAD_INCOMPLETE) with its size and sha256 (UPLOAD_HASH_MISMATCH), within the cap;
 *   the .dsc signed by the same key (UPLOAD_SIGNER_MISMATCH), its files present;
 *   a .buildinfo when required, its checksums those of the upload;
 *   each .deb's control agreeing with the .changes (UPLOAD_CONTROL_MISMATCH),
 *   its control member within the cap (PAYLOAD_TOO_LARGE);
 *   (name, version, architecture) new or the same bytes (CONFLICT);
 *   the signature not seen before unless the upload changes nothing (UPLOAD_REPLAY).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptfreezeError, asAptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import type { RepositoryConfig } from '../config/schema.ts';
import { readKeyring } from '../pgp/keyring.ts';
import { readDebControlText } from '../debian/deb-control.ts';
import { Catalog, type CatalogPackage, type SessionRow } from '../catalog/uploads.ts';
import { fileVersion, oneStanza, parseBuildinfo, parseChanges, parseChecksums, parseDebControl, poolDir, unsignedText, type Changes, type ListedFile } from './changes.ts';
import { verifyUploadSignature } from './signature.ts';
import { decide } from './rules.ts';
import { repositorySuites } from './suites.ts';
import { endSession, sessionDir } from './session.ts';
import { resolveBuildEnv } from './build-env.ts';
import { publishRepository } from './publish.ts';
import { storeBuildinfo } from './buildinfo-files.ts';

export type UploadDeps = Pick<Services, 'config' | 'repo' | 'store' | 'publisher' | 'key' | 'log' | 'now' | 'db' | 'dataDir'>;

export interface UploadResult {
  repository: string;
  suite: string;
  source: string;
  version: string;
  signer: string;
  /** The serial that publishes it; absent for a no-op (everything was there already). */
  serial?: string;
  noop: boolean;
  buildEnv?: { serials: Record<string, string>; missing: Array<{ name: string; version: string }> };
}

export async function processUpload(
  d: UploadDeps,
  cfg: RepositoryConfig,
  session: SessionRow,
  changesName: string,
  actor: string,
): Promise<UploadResult> {
  const catalog = new Catalog(d.db);
  let accepted: { result: UploadResult; changed: boolean; id: number };
  try {
    accepted = await accept(d, catalog, cfg, session, changesName, actor);
  } catch (e) {
    const err = asAptfreezeError(e);
    d.repo.appendAudit({ actor, action: 'upload.refuse', target: `${cfg.name}/${changesName}`, after: { code: err.code, message: err.message } }, d.now());
    d.log.warn({ repository: cfg.name, changes: changesName, code: err.code }, 'upload refused');
    throw err;
  } finally {
    await endSession({ catalog, dataDir: d.dataDir }, session);
  }
  const { result } = accepted;
  if (!accepted.changed) return result;
  const published = await publishRepository(d, cfg, actor);
  return { ...result, serial: catalog.upload(accepted.id)?.serial ?? published.serial };
}

async function accept(d: UploadDeps, catalog: Catalog, cfg: RepositoryConfig, session: SessionRow, changesName: string, actor: string): Promise<{ result: UploadResult; changed: boolean; id: number }> {
  const dir = sessionDir(d.dataDir, session);
  const read = (name: string) => readFile(join(dir, name));
  const now = d.now();
  const keys = await readKeyring(await readFile(cfg.uploaders.keyring));
  const policy = { now, maxAgeMs: cfg.maxSignatureAgeMs, clockSkewMs: cfg.clockSkewMs };

  const changesBytes = await read(changesName);
  const sig = await verifyUploadSignature(changesBytes, keys, policy, changesName);
  const changes = parseChanges(sig.text);
  const suites = repositorySuites(catalog, cfg);
  if (!suites.some((s) => s.suite === changes.distribution)) {
    throw new AptfreezeError('UPLOAD_BAD_SUITE', `Distribution ${changes.distribution} is not a suite of ${cfg.name} (suites: ${suites.map((s) => s.suite).join(', ')})`);
  }
  const rule = decide(cfg.uploaders, sig.fingerprint, changes.distribution, changes.source);
  if (!rule.allowed) {
    throw new AptfreezeError('UPLOAD_DENIED', `key ${sig.fingerprint} may not upload ${changes.source} to ${changes.distribution} (${rule.rule === null ? 'no rule allows it' : `rule ${rule.rule} denies it`})`);
  }

  // Exactly the listed files, with their sizes and hashes.
  const { readdir } = await import('node:fs/promises');
  const present = new Set((await readdir(dir)).filter((n) => !n.startsWith('.') && n !== changesName));
  const listed = new Map(changes.files.map((f) => [f.name, f]));
  const unlisted = [...present].filter((n) => !listed.has(n));
  if (unlisted.length) throw new AptfreezeError('UPLOAD_UNLISTED', `uploaded but not listed in ${changesName}: ${unlisted.join(', ')}`);
  const missing = [...listed.keys()].filter((n) => !present.has(n));
  if (missing.length) throw new AptfreezeError('UPLOAD_INCOMPLETE', `listed in ${changesName} but not uploaded: ${missing.join(', ')}`);
  const total = changes.files.reduce((n, f) => n + f.size, 0);
  if (total > cfg.maxUploadBytes) throw new AptfreezeError('PAYLOAD_TOO_LARGE', `the upload lists ${total} bytes, over the repository's cap of ${cfg.maxUploadBytes}`);
  const bytes = new Map<string, Buffer>();
  for (const f of changes.files) {
    const b = await read(f.name);
    if (b.length !== f.size || sha256(b) !== f.sha256) throw new AptfreezeError('UPLOAD_HASH_MISMATCH', `${f.name}: size or sha256 is not the one ${changesName} lists`);
    bytes.set(f.name, b);
  }

  const component = componentOf(cfg, changes.files);
  const packages: CatalogPackage[] = [];
  const dir0 = poolDir(component, changes.source);

  // The source: a .dsc signed by the same key, its files in the upload or in the pool already.
  const dscs = changes.files.filter((f) => f.name.endsWith('.dsc'));
  if (dscs.length > 1) throw new AptfreezeError('UPLOAD_MALFORMED', `${changesName} lists more than one .dsc`);
  if (dscs.length && !changes.architectures.includes('source')) throw new AptfreezeError('UPLOAD_CONTROL_MISMATCH', `${changesName} carries a .dsc but its Architecture lacks "source"`);
  if (dscs[0]) {
    const dscFile = dscs[0];
    const dscSig = await verifyUploadSignature(bytes.get(dscFile.name)!, keys, policy, dscFile.name);
    if (dscSig.fingerprint !== sig.fingerprint) throw new AptfreezeError('UPLOAD_SIGNER_MISMATCH', `${dscFile.name} is signed by ${dscSig.fingerprint}, ${changesName} by ${sig.fingerprint}`);
    packages.push(await sourcePackage(d, catalog, cfg, changes, dscFile, dscSig.text, bytes, component, dir0));
  }

  // The .buildinfo: required unless configured otherwise; its checksums are those of the upload.
  const buildinfos = changes.files.filter((f) => f.name.endsWith('.buildinfo'));
  if (cfg.requireBuildinfo && !buildinfos.length) throw new AptfreezeError('UPLOAD_INCOMPLETE', `${changesName} lists no .buildinfo (the repository requires one)`);
  if (buildinfos.length > 1) throw new AptfreezeError('UPLOAD_MALFORMED', `${changesName} lists more than one .buildinfo`);
  const buildinfoFile = buildinfos[0];
  let buildinfo: ReturnType<typeof parseBuildinfo> | undefined;
  if (buildinfoFile) {
    buildinfo = parseBuildinfo(unsignedText(bytes.get(buildinfoFile.name)!.toString('utf8')));
    if (buildinfo.source !== changes.source || buildinfo.version !== changes.version) throw new AptfreezeError('UPLOAD_CONTROL_MISMATCH', `${buildinfoFile.name} is of ${buildinfo.source} ${buildinfo.version}, the upload of ${changes.source} ${changes.version}`);
    for (const f of buildinfo.files) {
      const l = listed.get(f.name);
      if (!l || l.sha256 !== f.sha256 || l.size !== f.size) throw new AptfreezeError('UPLOAD_HASH_MISMATCH', `${buildinfoFile.name}: ${f.name} is not in the upload with the size and sha256 it lists`);
    }
  }

  // The binaries: each .deb's control agrees with the .changes.
  for (const f of changes.files.filter((x) => x.name.endsWith('.deb') || x.name.endsWith('.udeb'))) {
    packages.push(await binaryPackage(cfg, changes, f, bytes.get(f.name)!, component, dir0));
  }
  const others = changes.files.filter((f) => !/\.(deb|udeb|dsc|buildinfo)$/.test(f.name) && !packages.some((p) => p.files.some((x) => x.path.endsWith(`/${f.name}`))));
  if (others.length) throw new AptfreezeError('UPLOAD_UNLISTED', `${others.map((f) => f.name).join(', ')}: neither a package nor a file its .dsc lists`);
  if (!packages.length) throw new AptfreezeError('UPLOAD_INCOMPLETE', `${changesName} lists no package`);

  // Immutability is checked before anything is stored; the catalog transaction checks it again.
  for (const p of packages) {
    const seen = catalog.findPackage(cfg.name, p.kind, p.name, p.version, p.architecture);
    if (seen && seen.sha256 !== p.sha256) throw new AptfreezeError('CONFLICT', `${p.name} ${p.version} ${p.architecture} is in ${cfg.name} already with other bytes`);
  }

  for (const [name, b] of bytes) {
    const ref = await d.store.putBuffer(b);
    if (ref.sha256 !== listed.get(name)!.sha256) throw new AptfreezeError('INTERNAL', `${name}: stored with another hash`);
  }
  const changesBlob = await d.store.putBuffer(changesBytes);
  const buildEnv = buildinfo ? resolveBuildEnv(d.repo, buildinfo.depends, new Set(d.config.repositories.map((r) => r.name))) : undefined;
  const upload = {
    repository: cfg.name,
    suite: changes.distribution,
    source: changes.source,
    version: changes.version,
    signer: sig.fingerprint,
    signature_sha256: sig.signatureSha256,
    signed_at: sig.created.toISOString(),
    changes_name: changesName,
    changes_sha256: changesBlob.sha256,
    buildinfo_name: buildinfoFile?.name ?? null,
    buildinfo_sha256: buildinfoFile?.sha256 ?? null,
    build_env: buildEnv ? JSON.stringify(buildEnv) : null,
    tainted_by: buildinfo?.taintedBy.length ? buildinfo.taintedBy.join(' ') : null,
    actor,
    accepted_at: now.toISOString(),
  };
  // The catalog's change and its audit entry in one transaction (catalog.accept's own becomes a savepoint).
  const { changed, id } = d.db
    .transaction(() => {
      const r = catalog.accept(upload, packages);
      d.repo.appendAudit(
        { actor, action: r.changed ? 'upload.accept' : 'upload.noop', target: `${cfg.name}/${changes.distribution}/${changes.source}_${changes.version}`, after: { signer: sig.fingerprint, files: changes.files.map((f) => f.name), ...(buildinfo?.taintedBy.length ? { buildTaintedBy: buildinfo.taintedBy } : {}) } },
        now,
      );
      return r;
    })
    .immediate();
  if (changed && buildinfoFile && buildinfo) await storeBuildinfo(d, cfg.name, changes.source, buildinfoFile.name, bytes.get(buildinfoFile.name)!);
  const result: UploadResult = { repository: cfg.name, suite: changes.distribution, source: changes.source, version: changes.version, signer: sig.fingerprint, noop: !changed, ...(buildEnv ? { buildEnv } : {}) };
  return { result, changed, id };
}

/** The component from the Files section (`contrib/net`), when it names one of the repository's; else its first. */
function componentOf(cfg: RepositoryConfig, files: ListedFile[]): string {
  for (const f of files) {
    const c = f.section?.includes('/') ? f.section.split('/')[0]! : null;
    if (c && cfg.components.includes(c)) return c;
  }
  return cfg.components[0]!;
}

async function binaryPackage(cfg: RepositoryConfig, changes: Changes, f: ListedFile, data: Buffer, component: string, dir: string): Promise<CatalogPackage> {
  let text: string;
  try {
    text = await readDebControlText(data, cfg.maxControlBytes);
  } catch (e) {
    const err = asAptfreezeError(e);
    if (err.code === 'MALFORMED' || err.code === 'UNSAFE_PATH') throw new AptfreezeError('UPLOAD_MALFORMED', `${f.name}: ${err.message}`);
    throw err;
  }
  const c = parseDebControl(text, `${f.name} control`);
  const disagree = (why: string) => new AptfreezeError('UPLOAD_CONTROL_MISMATCH', `${f.name}: ${why}`);
  if (!changes.binaries.includes(c.package)) throw disagree(`Package ${c.package} is not in the .changes Binary field`);
  if (c.source !== changes.source) throw disagree(`Source ${c.source}, the .changes says ${changes.source}`);
  if (c.sourceVersion !== changes.version) throw disagree(`source version ${c.sourceVersion}, the .changes says ${changes.version}`);
  if (!changes.architectures.includes(c.architecture)) throw disagree(`Architecture ${c.architecture} is not in the .changes Architecture field`);
  if (f.name !== `${c.package}_${fileVersion(c.version)}_${c.architecture}.deb` && f.name !== `${c.package}_${fileVersion(c.version)}_${c.architecture}.udeb`) throw disagree(`the file name does not match Package, Version and Architecture`);
  if (c.architecture !== 'all' && !cfg.architectures.includes(c.architecture)) throw new AptfreezeError('UPLOAD_BAD_SUITE', `${f.name}: architecture ${c.architecture} is not carried by ${cfg.name}`);
  const filename = `${dir}/${f.name}`;
  // Our stanza: the control's fields (never a Filename or hash it may carry), then ours.
  const skip = new Set(['filename', 'size', 'md5sum', 'sha1', 'sha256', 'sha512', 'description-md5']);
  const lines = c.stanza.fields.filter(([n]) => !skip.has(n.toLowerCase())).map(([n, v]) => (v.startsWith('\n') ? `${n}:${v}` : `${n}: ${v}`));
  lines.push(`Filename: ${filename}`, `Size: ${data.length}`, `MD5sum: ${hash('md5', data)}`, `SHA256: ${f.sha256}`);
  return {
    kind: 'binary',
    name: c.package,
    version: c.version,
    architecture: c.architecture,
    component,
    sha256: f.sha256,
    size: f.size,
    filename,
    stanza: `${lines.join('\n')}\n`,
    files: [{ path: filename, sha256: f.sha256, size: f.size }],
  };
}

async function sourcePackage(d: UploadDeps, catalog: Catalog, cfg: RepositoryConfig, changes: Changes, dscFile: ListedFile, dscText: string, bytes: Map<string, Buffer>, component: string, dir: string): Promise<CatalogPackage> {
  const s = oneStanza(dscText, dscFile.name);
  const source = s.get('Source')?.trim();
  const version = s.get('Version')?.trim();
  if (source !== changes.source || version !== changes.version) throw new AptfreezeError('UPLOAD_CONTROL_MISMATCH', `${dscFile.name} is of ${source} ${version}, the .changes of ${changes.source} ${changes.version}`);
  const listedFiles = parseChecksums(s.get('Checksums-Sha256'), dscFile.name, 'Checksums-Sha256');
  const all = [...listedFiles.map((f) => ({ ...f })), { name: dscFile.name, size: dscFile.size, sha256: dscFile.sha256 }];
  const md5s: string[] = [];
  const sha1s: string[] = [];
  for (const f of all) {
    let data = bytes.get(f.name);
    if (!data) {
      // An orig tarball uploaded with an earlier version (dak accepts that too).
      const have = catalog.poolFile(cfg.name, `${dir}/${f.name}`);
      if (!have || have.sha256 !== f.sha256) throw new AptfreezeError('UPLOAD_INCOMPLETE', `${f.name}, listed in ${dscFile.name}, is neither in the upload nor in the pool`);
      data = await d.store.read(have.sha256);
    }
    if (data.length !== f.size || sha256(data) !== f.sha256) throw new AptfreezeError('UPLOAD_HASH_MISMATCH', `${f.name}: size or sha256 is not the one ${dscFile.name} lists`);
    md5s.push(` ${hash('md5', data)} ${f.size} ${f.name}`);
    sha1s.push(` ${hash('sha1', data)} ${f.size} ${f.name}`);
  }
  // A Sources stanza as dak writes one: Package first, Directory, the .dsc among the files.
  const skip = new Set(['source', 'files', 'checksums-sha1', 'checksums-sha256', 'directory']);
  const lines = [`Package: ${source}`, ...s.fields.filter(([n]) => !skip.has(n.toLowerCase())).map(([n, v]) => (v.startsWith('\n') ? `${n}:${v}` : `${n}: ${v}`))];
  lines.push(`Directory: ${dir}`, `Files:\n${md5s.join('\n')}`, `Checksums-Sha1:\n${sha1s.join('\n')}`, `Checksums-Sha256:\n${all.map((f) => ` ${f.sha256} ${f.size} ${f.name}`).join('\n')}`);
  return {
    kind: 'source',
    name: source,
    version,
    architecture: 'source',
    component,
    sha256: dscFile.sha256,
    size: dscFile.size,
    filename: `${dir}/${dscFile.name}`,
    stanza: `${lines.join('\n')}\n`,
    files: all.map((f) => ({ path: `${dir}/${f.name}`, sha256: f.sha256, size: f.size })),
  };
}

function sha256(b: Buffer): string {
  return hash('sha256', b);
}

function hash(alg: string, b: Buffer): string {
  return createHash(alg).update(b).digest('hex');
}
