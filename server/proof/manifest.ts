/** The proof package's manifest.json: everything an auditor needs to find each link of the chain. */
export interface ProofManifest {
  format: 1;
  archive: string;
  upstreamUrl: string;
  serial: string;
  createdAt: string;
  keyring: { name: string; sha256: string; size: number };
  suites: ProofSuite[];
}

export interface ProofSuite {
  suite: string;
  form: 'inrelease' | 'detached';
  fetchedAt: string;
  releaseDate: string;
  /** Fingerprints of the good upstream signatures at snapshot time. */
  signers: string[];
  /** The upstream InRelease, or Release and Release.gpg, exactly as fetched. */
  releaseFiles: Array<{ name: 'InRelease' | 'Release' | 'Release.gpg'; sha256: string; size: number }>;
  indices: ProofIndex[];
}

export interface ProofIndex {
  /** Relative to dists/<suite>/, as the upstream Release lists it. */
  path: string;
  size: number;
  sha256: string;
  /** verbatim: served as upstream's bytes; filtered: served with only the matching stanzas (served* give what we serve). */
  served: 'verbatim' | 'filtered';
  servedSha256?: string;
  servedSize?: number;
  /** Whether this file is inside the proof package (one compressed variant of each index is enough). */
  inProof: boolean;
}

export function proofPackageName(archive: string): string {
  return `aptfreeze-proof-${archive}`;
}

export function proofInstallDir(archive: string, serial: string): string {
  return `usr/share/aptfreeze/proofs/${archive}/${serial}`;
}

export function proofPoolPath(archive: string, serial: string): string {
  return `pool/aptfreeze-proof/${proofPackageName(archive)}_${serial}_all.deb`;
}

export const proofComponent = 'aptfreeze-proof';
