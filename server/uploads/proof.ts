/**
 * The proof package of a custom repository's serial. Where a mirrored
 * archive's proof holds upstream's signed Release files, ours holds, for
 * every package the serial serves, the uploader's signed `.changes` exactly as
 * uploaded, its `.buildinfo`, and the uploaders keyring, with `uploads.json`
 * mapping package files to uploads. `aptfreeze verify --proof` then follows
 * .deb sha256 -> the .changes listing it -> the uploader's signature on that
 * .changes, offline (server/verify/upload-verifier.ts).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AptfreezeError } from '../errors.ts';
import { buildDebParts } from '../debian/deb.ts';
import { compressBuffer } from '../debian/compress.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import type { TreeLink } from '../publish/tree.ts';
import { proofComponent, proofInstallDir, proofPackageName } from '../proof/manifest.ts';
import type { RepositoryConfig } from '../config/schema.ts';
import type { BlobRef, BlobStore } from '../store/store.ts';
import type { Db } from '../catalog/open.ts';
import { Catalog, type PackageRow } from '../catalog/uploads.ts';

export interface ProofFileRef {
  name: string;
  sha256: string;
  size: number;
}

export interface UploadsProofManifest {
  format: 1;
  kind: 'uploads';
  archive: string;
  serial: string;
  createdAt: string;
  /** The uploaders keyring the uploads were checked against (reported, never trusted by the auditor). */
  keyring: ProofFileRef;
  uploads: Array<{
    id: number;
    suite: string;
    source: string;
    version: string;
    signer: string;
    changes: ProofFileRef;
    buildinfo: ProofFileRef | null;
    buildTaintedBy: string[];
    packages: Array<{ name: string; version: string; architecture: string; filename: string; sha256: string; size: number }>;
  }>;
}

export const uploadsManifestName = 'uploads.json';

/** Where, inside the proof's directory, an upload's files live. */
export function uploadProofPath(id: number, name: string): string {
  return `uploads/${id}/${name}`;
}

export async function buildUploadsProof(d: { store: BlobStore; db: Db }, cfg: RepositoryConfig, serial: string, createdAt: Date, held: PackageRow[]) {
  const catalog = new Catalog(d.db);
  const keyringBytes = await readFile(cfg.uploaders.keyring);
  const keyring = await d.store.putBuffer(keyringBytes);
  const byUpload = new Map<number, PackageRow[]>();
  for (const p of held) byUpload.set(p.upload_id, [...(byUpload.get(p.upload_id) ?? []), p]);
  const manifest: UploadsProofManifest = {
    format: 1,
    kind: 'uploads',
    archive: cfg.name,
    serial,
    createdAt: new Date(Math.floor(createdAt.getTime() / 1000) * 1000).toISOString(),
    keyring: { name: cfg.uploaders.keyring.endsWith('.asc') ? 'uploaders.asc' : 'uploaders.gpg', sha256: keyring.sha256, size: keyring.size },
    uploads: [],
  };
  for (const id of [...byUpload.keys()].sort((a, b) => a - b)) {
    const u = catalog.upload(id);
    if (!u) throw new AptfreezeError('INTERNAL', `upload ${id} is missing from the catalog`);
    manifest.uploads.push({
      id,
      suite: u.suite,
      source: u.source,
      version: u.version,
      signer: u.signer,
      changes: { name: u.changes_name, sha256: u.changes_sha256, size: await d.store.size(u.changes_sha256) },
      buildinfo: u.buildinfo_name && u.buildinfo_sha256 ? { name: u.buildinfo_name, sha256: u.buildinfo_sha256, size: await d.store.size(u.buildinfo_sha256) } : null,
      buildTaintedBy: (u.tainted_by ?? '').split(/\s+/).filter(Boolean),
      packages: byUpload
        .get(id)!
        .map((p) => ({ name: p.name, version: p.version, architecture: p.architecture, filename: p.filename, sha256: p.sha256, size: p.size }))
        .sort((a, b) => (a.filename < b.filename ? -1 : 1)),
    });
  }
  const manifestBlob = await d.store.putBuffer(Buffer.from(JSON.stringify(manifest)));
  const deb = await buildUploadsProofDeb(manifest, d.store);
  const blob: BlobRef = await d.store.putStream((async function* () {
    yield* deb;
  })());
  const stanza = Buffer.from(proofStanzaOf(cfg.name, serial, deb));
  const plain = await d.store.putBuffer(stanza);
  const gz = await d.store.putBuffer(await compressBuffer('gz', stanza));
  const extra: TreeLink[] = [
    { path: '@keyring', sha256: keyring.sha256, size: keyring.size },
    { path: '@uploads-proof-manifest', sha256: manifestBlob.sha256, size: manifestBlob.size },
    ...manifest.uploads.flatMap((u) => [
      { path: `@upload/${u.id}/${u.changes.name}`, sha256: u.changes.sha256, size: u.changes.size },
      ...(u.buildinfo ? [{ path: `@upload/${u.id}/${u.buildinfo.name}`, sha256: u.buildinfo.sha256, size: u.buildinfo.size }] : []),
    ]),
  ];
  const indexEntries = (archs: string[]): ReleaseFileEntry[] =>
    [...new Set([...archs, 'all'])].flatMap((a) => [
      { path: `${proofComponent}/binary-${a}/Packages`, hash: plain.sha256, size: plain.size },
      { path: `${proofComponent}/binary-${a}/Packages.gz`, hash: gz.sha256, size: gz.size },
    ]);
  return { manifest, blob, extra, indexEntries };
}

async function buildUploadsProofDeb(m: UploadsProofManifest, store: BlobStore): Promise<Buffer[]> {
  const dir = proofInstallDir(m.archive, m.serial);
  const files: Array<{ path: string; data: Buffer }> = [
    { path: `${dir}/${uploadsManifestName}`, data: Buffer.from(`${JSON.stringify(m, null, 2)}\n`) },
    { path: `${dir}/${m.keyring.name}`, data: await store.read(m.keyring.sha256) },
  ];
  for (const u of m.uploads) {
    files.push({ path: `${dir}/${uploadProofPath(u.id, u.changes.name)}`, data: await store.read(u.changes.sha256) });
    if (u.buildinfo) files.push({ path: `${dir}/${uploadProofPath(u.id, u.buildinfo.name)}`, data: await store.read(u.buildinfo.sha256) });
  }
  const control = [
    `Package: ${proofPackageName(m.archive)}`,
    `Version: ${m.serial}`,
    'Architecture: all',
    'Maintainer: aptfreeze <aptfreeze@localhost>',
    `Installed-Size: ${Math.ceil(files.reduce((n, f) => n + f.data.length, 0) / 1024)}`,
    'Section: misc',
    'Priority: optional',
    `Description: signed uploads behind ${m.archive} serial ${m.serial}`,
    " The uploaders' signed .changes files, their .buildinfo files and the",
    ' uploaders keyring, so that `aptfreeze verify --proof` can check a package',
    " back to its uploader's signature.",
    '',
  ].join('\n');
  return buildDebParts({ control, files, mtime: Math.floor(new Date(m.createdAt).getTime() / 1000), compression: 'zst', dataCompression: 'zst' });
}

function proofStanzaOf(archive: string, serial: string, deb: Buffer[]): string {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  for (const p of deb) {
    sha.update(p);
    md5.update(p);
  }
  return [
    `Package: ${proofPackageName(archive)}`,
    `Version: ${serial}`,
    'Architecture: all',
    'Maintainer: aptfreeze <aptfreeze@localhost>',
    'Section: misc',
    'Priority: optional',
    'Filename: proof.deb',
    `Size: ${deb.reduce((n, p) => n + p.length, 0)}`,
    `MD5sum: ${md5.digest('hex')}`,
    `SHA256: ${sha.digest('hex')}`,
    `Description: signed uploads behind ${archive} serial ${serial}`,
    '',
  ].join('\n');
}
