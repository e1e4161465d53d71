import { AptfreezeError } from '../errors.ts';
import { parseStanzas } from '../debian/deb822.ts';
import { parseProofManifest, proofInstallDir, proofPackageName, proofVersion, type ProofManifest } from './manifest.ts';

/**
 * A proof package's contents as the verifier sees them: the manifest and the
 * files of its directory, by path relative to that directory
 * (`dists/<suite>/InRelease`, `served/dists/...`, `keyring.gpg`, ...).
 * Pure: the caller reads the .deb (or an installed proof directory).
 */
export interface ProofBundle {
  manifest: ProofManifest;
  /** The directory the package installs to, without a leading slash. */
  dir: string;
  files: ReadonlyMap<string, Buffer>;
}

// A serial's proof installs to proofs/<archive>/<serial>/, a tag's to proofs/<archive>/tags/<name>/.
const MANIFEST_RE = /^usr\/share\/aptfreeze\/proofs\/([^/]+)\/(?:tags\/)?([^/]+)\/manifest\.json$/;

/**
 * The bundle of a proof package read by readDeb (its data files by path, and its control text).
 * Outside data: anything that is not one proof package of one snapshot is MALFORMED.
 */
export function bundleFromDeb(deb: { control: string; files: ReadonlyMap<string, Buffer> }): ProofBundle {
  const manifests = [...deb.files.keys()].filter((p) => MANIFEST_RE.test(p));
  if (manifests.length !== 1) {
    throw new AptfreezeError('MALFORMED', `not a proof package: expected one usr/share/aptfreeze/proofs/<archive>/<serial>/manifest.json, found ${manifests.length}`);
  }
  const manifest = parseProofManifest(deb.files.get(manifests[0]!)!);
  const dir = proofInstallDir(manifest.archive, manifest.serial, manifest.tag);
  if (`${dir}/manifest.json` !== manifests[0]) throw new AptfreezeError('MALFORMED', `proof manifest of ${manifest.archive}/${manifest.serial} installed at ${manifests[0]}`);
  let control;
  try {
    control = parseStanzas(deb.control)[0];
  } catch (e) {
    throw new AptfreezeError('MALFORMED', `proof package control: ${(e as Error).message}`, { cause: e });
  }
  if (control?.get('Package') !== proofPackageName(manifest.archive) || control.get('Version') !== proofVersion(manifest)) {
    throw new AptfreezeError('MALFORMED', `proof package is ${control?.get('Package')} ${control?.get('Version')}, its manifest is of ${manifest.archive} ${manifest.serial}`);
  }
  return bundleFromFiles(manifest, dir, deb.files);
}

/** The bundle of an installed proof directory's files (paths relative to it, manifest.json among them). */
export function bundleFromDirectory(files: ReadonlyMap<string, Buffer>): ProofBundle {
  const m = files.get('manifest.json');
  if (!m) throw new AptfreezeError('MALFORMED', 'not a proof directory: no manifest.json');
  const manifest = parseProofManifest(m);
  const dir = proofInstallDir(manifest.archive, manifest.serial, manifest.tag);
  const prefixed = new Map<string, Buffer>();
  for (const [p, b] of files) prefixed.set(`${dir}/${p}`, b);
  return bundleFromFiles(manifest, dir, prefixed);
}

function bundleFromFiles(manifest: ProofManifest, dir: string, all: ReadonlyMap<string, Buffer>): ProofBundle {
  const files = new Map<string, Buffer>();
  for (const [p, b] of all) if (p.startsWith(`${dir}/`)) files.set(p.slice(dir.length + 1), b);
  return { manifest, dir, files };
}
