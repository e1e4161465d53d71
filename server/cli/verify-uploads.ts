/**
 * `verify --proof` with a custom repository's proof package (its directory
 * holds uploads.json instead of manifest.json): the I/O side, reading the
 * .deb; the checks are server/verify/upload-verifier.ts.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import { readDeb } from '../debian/deb.ts';
import { parseUploadsManifest, UploadProofVerifier, type UploadsBundle } from '../verify/upload-verifier.ts';
import type { ChainReport } from '../verify/report.ts';
import { hashFile, loadKeyring } from './verify-load.ts';

const UPLOADS_RE = /^usr\/share\/aptfreeze\/proofs\/([^/]+)\/([^/]+)\/uploads\.json$/;

/** The uploads bundle of a proof .deb, or null when it is a mirrored archive's proof. */
export async function loadUploadsProof(path: string): Promise<UploadsBundle | null> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile()) return null;
  let deb;
  try {
    deb = await readDeb(await readFile(path), { maxBytes: 1024 * 1024 * 1024 });
  } catch {
    return null; // the ordinary loader reports what is wrong with it
  }
  const at = [...deb.files.keys()].find((p) => UPLOADS_RE.test(p));
  if (!at) return null;
  const dir = at.slice(0, -'/uploads.json'.length);
  let manifest;
  try {
    manifest = parseUploadsManifest(deb.files.get(at)!);
  } catch (e) {
    throw new AptfreezeError('MALFORMED', `proof ${path}: ${(e as Error).message}`);
  }
  const files = new Map<string, Buffer>();
  for (const [p, b] of deb.files) if (p.startsWith(`${dir}/`)) files.set(p.slice(dir.length + 1), b);
  return { manifest, files };
}

export async function verifyUploadsProof(proofPath: string, bundle: UploadsBundle, keyringPath: string, files: string[]): Promise<ChainReport[]> {
  const verifier = await UploadProofVerifier.create({ bundle, trustedKeys: await loadKeyring(keyringPath), now: new Date() });
  const reports = [verifier.proofReport()];
  reports[0]!.subject = `proof ${basename(proofPath)}`;
  for (const f of files) {
    const { sha256, size } = await hashFile(f);
    reports.push(verifier.verifyPackage({ name: f, sha256, size }));
  }
  return reports;
}
