import { createHash } from 'node:crypto';
import { buildDebParts } from '../debian/deb.ts';
import type { BlobStore } from '../store/store.ts';
import { parseProofManifest, proofInstallDir, proofPackageName, proofServedPath, proofUpstreamPath, proofVersion, type ProofManifest } from './manifest.ts';

/**
 * Builds the proof package of a snapshot from its manifest and the stored
 * blobs it names. A pure function of those inputs: fixed mtime (the serial's
 * creation), sorted paths, root owner, so the same snapshot gives the same bytes.
 */
export async function buildProofDeb(manifest: ProofManifest, store: BlobStore): Promise<Buffer> {
  return Buffer.concat(await buildProofDebParts(manifest, store));
}

/** The same bytes as a list of buffers (the indices it holds are not copied again). */
export async function buildProofDebParts(manifest: ProofManifest, store: BlobStore): Promise<Buffer[]> {
  const dir = proofInstallDir(manifest.archive, manifest.serial, manifest.tag);
  const files: Array<{ path: string; data: Buffer }> = [];
  files.push({ path: `${dir}/manifest.json`, data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) });
  files.push({ path: `${dir}/${manifest.keyring.name}`, data: await store.read(manifest.keyring.sha256) });
  for (const s of manifest.suites) {
    for (const f of s.releaseFiles) files.push({ path: `${dir}/${proofUpstreamPath(s.suite, f.name)}`, data: await store.read(f.sha256) });
    for (const i of s.indices) {
      if (i.inProof) files.push({ path: `${dir}/${proofUpstreamPath(s.suite, i.path)}`, data: await store.read(i.sha256) });
      // A filtered index as served, beside the full upstream one: the auditor checks each of its stanzas.
      if (i.servedInProof && i.servedSha256) files.push({ path: `${dir}/${proofServedPath(s.suite, i.path)}`, data: await store.read(i.servedSha256) });
    }
  }
  const installedKb = Math.ceil(files.reduce((n, f) => n + f.data.length, 0) / 1024);
  const control = [
    `Package: ${proofPackageName(manifest.archive)}`,
    `Version: ${proofVersion(manifest)}`,
    'Architecture: all',
    'Maintainer: aptfreeze <aptfreeze@localhost>',
    `Installed-Size: ${installedKb}`,
    'Section: misc',
    'Priority: optional',
    `Description: upstream signatures and indices of ${subjectOf(manifest)}`,
    ' The upstream InRelease (or Release and Release.gpg) files exactly as fetched,',
    ' the upstream keyring, the upstream index files (and the served copies of',
    ' filtered ones) and a manifest, so that',
    ' `aptfreeze verify --proof` can check a package back to the upstream signature.',
    '',
  ].join('\n');
  // data.tar uncompressed: what it holds is compressed upstream indices (zstd would spend ~0.1 s
  // and a copy of them in memory to gain nothing); dpkg and apt read an uncompressed data.tar.
  return buildDebParts({ control, files, mtime: Math.floor(new Date(manifest.createdAt).getTime() / 1000), compression: 'zst', dataCompression: 'none' });
}

/**
 * Builds a snapshot's proof package again from its stored manifest (the
 * serial manifest's `@proof-manifest` blob): the same bytes as published, as
 * long as the blobs it names are stored (an audit, or a repair, can rebuild it).
 */
export async function rebuildProofDeb(store: BlobStore, proofManifestSha256: string): Promise<Buffer> {
  return buildProofDeb(parseProofManifest(await store.read(proofManifestSha256)), store);
}

/** The Packages stanza of the proof package, for the aptfreeze-proof component. */
export function proofStanza(manifest: ProofManifest, deb: Buffer | Buffer[], poolPath: string): string {
  const parts = Array.isArray(deb) ? deb : [deb];
  const sha = createHash('sha256');
  const md5h = createHash('md5');
  for (const p of parts) {
    sha.update(p);
    md5h.update(p);
  }
  const sha256 = sha.digest('hex');
  const md5 = md5h.digest('hex');
  const size = parts.reduce((n, p) => n + p.length, 0);
  return [
    `Package: ${proofPackageName(manifest.archive)}`,
    `Version: ${proofVersion(manifest)}`,
    'Architecture: all',
    'Maintainer: aptfreeze <aptfreeze@localhost>',
    'Section: misc',
    'Priority: optional',
    `Filename: ${poolPath}`,
    `Size: ${size}`,
    `MD5sum: ${md5}`,
    `SHA256: ${sha256}`,
    `Description: upstream signatures and indices of ${subjectOf(manifest)}`,
    '',
  ].join('\n');
}

/** What a proof is of, for its Description: a snapshot, or a tag taken from one. */
function subjectOf(m: ProofManifest): string {
  return m.tag === undefined ? `${m.archive} snapshot ${m.serial}` : `${m.archive} tag ${m.tag} (from snapshot ${m.serial})`;
}
