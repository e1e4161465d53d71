/**
 * The auditor's check of packages of a custom repository against its proof
 * package, offline:
 *
 *   .deb size + sha256
 *     -> an upload in the proof's uploads.json lists it                   (changes)
 *     -> that upload's .changes in the proof has the sha256 the manifest says,
 *        and its signed Checksums-Sha256 lists the .deb's name, size and sha256
 *     -> the .changes is signed by a key of the auditor's keyring         (uploader-signature)
 *
 * No I/O: the caller hands in the proof's files (by path inside its
 * directory) and the auditor's keys. The signature checks (openpgp) are made
 * once in create(); each package check is synchronous. Everything in the
 * proof is outside data: a bad file is a failed step, never an exception.
 */
import { createHash } from 'node:crypto';
import type { PublicKey } from 'openpgp';
import { asAptfreezeError } from '../errors.ts';
import { readKeyring } from '../pgp/keyring.ts';
import { verifyInRelease } from '../pgp/verify.ts';
import { parseChanges } from '../uploads/changes.ts';
import { uploadProofPath, type UploadsProofManifest } from '../uploads/proof.ts';
import { report, type ChainReport, type Step } from './report.ts';
import type { PackageFile } from './proof-verifier.ts';

export interface UploadsBundle {
  manifest: UploadsProofManifest;
  /** Files of the proof's directory, by path relative to it. */
  files: ReadonlyMap<string, Buffer>;
}

type Upload = UploadsProofManifest['uploads'][number];

interface UploadState {
  upload: Upload;
  /** The .changes in the proof: its checked content, or why not. */
  listed: Map<string, { sha256: string; size: number }> | null;
  changesError?: string;
  signature: Step;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Checks the shape of uploads.json (outside data). Throws on a bad one. */
export function parseUploadsManifest(bytes: Buffer): UploadsProofManifest {
  const m = JSON.parse(bytes.toString('utf8')) as UploadsProofManifest;
  const ok =
    m &&
    m.format === 1 &&
    m.kind === 'uploads' &&
    typeof m.archive === 'string' &&
    /^\d{10}$/.test(String(m.serial)) &&
    Array.isArray(m.uploads) &&
    m.uploads.every((u) => Number.isInteger(u.id) && u.changes && /^[0-9a-f]{64}$/.test(u.changes.sha256) && /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/.test(u.changes.name) && Array.isArray(u.packages));
  if (!ok) throw new Error('uploads.json does not describe the uploads of one serial');
  return m;
}

export class UploadProofVerifier {
  private readonly uploads: UploadState[] = [];
  private proofKeyFingerprints: string[] = [];

  private constructor(
    private readonly bundle: UploadsBundle,
    private readonly trustedKeys: PublicKey[],
    private readonly now: Date,
  ) {}

  static async create(opts: { bundle: UploadsBundle; trustedKeys: PublicKey[]; now: Date }): Promise<UploadProofVerifier> {
    const v = new UploadProofVerifier(opts.bundle, opts.trustedKeys, opts.now);
    await v.checkSignatures();
    return v;
  }

  /** Checks that each upload's .changes is the one the manifest names and is signed by a key the auditor trusts. */
  private async checkSignatures(): Promise<void> {
    const m = this.bundle.manifest;
    const proofKeyring = this.bundle.files.get(m.keyring?.name ?? '');
    let proofKeys: PublicKey[] = [];
    try {
      if (proofKeyring) proofKeys = await readKeyring(proofKeyring);
      this.proofKeyFingerprints = proofKeys.map((k) => k.getFingerprint().toUpperCase());
    } catch {
      proofKeys = [];
    }
    for (const u of m.uploads) {
      const state: UploadState = { upload: u, listed: null, signature: { link: 'uploader-signature', status: 'fail', detail: 'not checked' } };
      this.uploads.push(state);
      const bytes = this.bundle.files.get(uploadProofPath(u.id, u.changes.name));
      if (!bytes) {
        state.changesError = `${u.changes.name} is not in the proof`;
        state.signature = { link: 'uploader-signature', status: 'fail', detail: state.changesError };
        continue;
      }
      if (sha256(bytes) !== u.changes.sha256) {
        state.changesError = `${u.changes.name} in the proof is not the file the manifest names (sha256 differs)`;
        state.signature = { link: 'uploader-signature', status: 'fail', detail: state.changesError };
        continue;
      }
      try {
        const v = await verifyInRelease(bytes, this.trustedKeys, { now: this.now, requireValidNow: false });
        const signer = v.signers[0]!;
        state.signature = {
          link: 'uploader-signature',
          status: 'ok',
          detail: `${u.changes.name} signed ${signer.created.toISOString()} by ${signer.fingerprint}${signer.expiredNow ? ' (a key expired or revoked since)' : ''}`,
          data: { signer: signer.fingerprint, created: signer.created.toISOString(), expiredNow: signer.expiredNow },
        };
        state.listed = new Map(parseChanges(v.text).files.map((f) => [f.name, { sha256: f.sha256, size: f.size }]));
      } catch (e) {
        const err = asAptfreezeError(e);
        // Valid, but by a key of the proof's own keyring only: not whom the auditor trusts.
        let untrusted = false;
        if (err.code === 'UPSTREAM_UNKNOWN_KEY' && proofKeys.length) {
          try {
            await verifyInRelease(bytes, proofKeys, { now: this.now, requireValidNow: false });
            untrusted = true;
          } catch {
            untrusted = false;
          }
        }
        state.signature = { link: 'uploader-signature', status: untrusted ? 'untrusted' : 'fail', detail: `${u.changes.name}: ${err.message}`, code: err.code };
      }
    }
  }

  proofReport(): ChainReport {
    const m = this.bundle.manifest;
    const steps: Step[] = [
      {
        link: 'proof',
        status: 'ok',
        detail: `repository ${m.archive} serial ${m.serial}, ${m.uploads.length} upload(s), created ${m.createdAt}`,
        data: { archive: m.archive, serial: m.serial, createdAt: m.createdAt, proofKeyring: this.proofKeyFingerprints },
      },
    ];
    for (const u of this.uploads) steps.push(u.signature);
    return report('proof', steps);
  }

  /** Checks one package file; synchronous. */
  verifyPackage(pkg: PackageFile): ChainReport {
    const read: Step = { link: 'package', status: 'ok', detail: `size ${pkg.size}, sha256 ${pkg.sha256}`, data: { sha256: pkg.sha256, size: pkg.size } };
    const candidates = this.uploads.filter((u) => u.upload.packages.some((p) => p.sha256 === pkg.sha256 && p.size === pkg.size));
    if (!candidates.length) return report(pkg.name, [read, { link: 'changes', status: 'fail', detail: 'no upload in the proof lists a package with this size and sha256' }]);
    const u = candidates.find((c) => c.signature.status === 'ok') ?? candidates[0]!;
    const entry = u.upload.packages.find((p) => p.sha256 === pkg.sha256)!;
    const name = entry.filename.split('/').pop()!;
    const inChanges = u.listed?.get(name);
    const changesStep: Step =
      u.listed === null
        ? { link: 'changes', status: u.changesError ? 'fail' : 'skipped', detail: u.changesError ?? `${u.upload.changes.name} could not be read as signed` }
        : inChanges && inChanges.sha256 === pkg.sha256 && inChanges.size === pkg.size
          ? { link: 'changes', status: 'ok', detail: `${u.upload.changes.name} (upload ${u.upload.id}, ${u.upload.source} ${u.upload.version} to ${u.upload.suite}) lists ${name} with this sha256`, data: { upload: u.upload.id, changes: u.upload.changes.name } }
          : { link: 'changes', status: 'fail', detail: `${u.upload.changes.name} does not list ${name} with this size and sha256` };
    return report(pkg.name, [read, changesStep, u.signature]);
  }
}
