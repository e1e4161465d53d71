import { basename } from 'node:path';
import { compressBuffer, compressionOf } from '../debian/compress.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import type { IndexGroup } from '../mirror/plan.ts';
import type { UpstreamRelease } from '../mirror/upstream.ts';
import type { BlobRef, BlobStore } from '../store/store.ts';
import { buildProofDebParts, proofStanza } from './build.ts';
import { proofComponent, type ProofIndex, type ProofManifest, type ProofSuite } from './manifest.ts';

/** One suite of a snapshot, as its proof needs it. */
export interface ProofSuiteInput {
  up: UpstreamRelease;
  groups: readonly IndexGroup[];
  /** Variants upstream served, by path. */
  have: ReadonlyMap<string, ReleaseFileEntry>;
  /** Served copies of filtered indices, by upstream path. */
  filtered: ReadonlyMap<string, ReleaseFileEntry>;
}

export interface SnapshotProofInput {
  archive: { name: string; url: string; keyring: string; architectures: readonly string[] };
  serial: string;
  createdAt: Date;
  keyringBytes: Buffer;
  suites: readonly ProofSuiteInput[];
}

/** A snapshot's proof, stored: the package, its manifest, and what the serial's Release and manifest list of it. */
export interface SnapshotProof {
  keyring: BlobRef;
  manifestBlob: BlobRef;
  /** The proof package (`proof.deb` of the serial). */
  blob: BlobRef;
  /** The upstream Release files stored, per suite (in input order). */
  releaseFiles: Array<ProofSuite['releaseFiles']>;
  /** Our zstd copies of indices served only uncompressed, held by the proof (kept with the serial), per suite. */
  proofCopies: ReleaseFileEntry[][];
  /** The aptfreeze-proof component's index files, the same for every suite. */
  indexEntries: ReleaseFileEntry[];
}

/** Below this, an uncompressed-only index goes into the proof as it is. */
const copyAbove = 64 * 1024;

/**
 * Builds a snapshot's proof package (design, "Proof packages") and the entries of the
 * aptfreeze-proof component, and stores them. Same input, same bytes.
 */
export async function buildSnapshotProof(store: BlobStore, input: SnapshotProofInput): Promise<SnapshotProof> {
  const keyring = await store.putBuffer(input.keyringBytes);
  const proofSuites: ProofSuite[] = [];
  const releaseFiles: SnapshotProof['releaseFiles'] = [];
  const proofCopies: ReleaseFileEntry[][] = [];
  for (const w of input.suites) {
    const files: ProofSuite['releaseFiles'] = [];
    for (const f of w.up.files) {
      const b = await store.putBuffer(f.data);
      files.push({ name: f.name, sha256: b.sha256, size: b.size });
    }
    // Only the uncompressed variant (an index brought up to date by pdiffs): the proof holds a zstd copy of
    // it instead, which the auditor checks through the uncompressed hash the upstream Release lists.
    const copies = new Map<string, ReleaseFileEntry>();
    for (const chosen of needingCopies(w.groups, w.have)) {
      const copy = await store.putBuffer(await compressBuffer('zst', await store.read(chosen.hash)));
      copies.set(chosen.path, { path: `${chosen.path}.zst`, hash: copy.sha256, size: copy.size });
    }
    releaseFiles.push(files);
    proofCopies.push([...copies.values()]);
    proofSuites.push({
      suite: w.up.suite,
      form: w.up.form,
      fetchedAt: w.up.fetchedAt.toISOString(),
      releaseDate: w.up.release.date!.toISOString(),
      signers: w.up.verified.signers.map((s) => s.fingerprint),
      releaseFiles: files,
      indices: proofIndices(w.groups, w.have, w.filtered, copies),
    });
  }
  const manifest: ProofManifest = {
    format: 1,
    archive: input.archive.name,
    upstreamUrl: input.archive.url,
    serial: input.serial,
    createdAt: new Date(Math.floor(input.createdAt.getTime() / 1000) * 1000).toISOString(),
    keyring: { name: basename(input.archive.keyring).endsWith('.asc') ? 'keyring.asc' : 'keyring.gpg', sha256: keyring.sha256, size: keyring.size },
    suites: proofSuites,
  };
  const manifestBlob = await store.putBuffer(Buffer.from(JSON.stringify(manifest)));
  // As parts, stored by streaming them: the package is never copied into one buffer.
  const deb = await buildProofDebParts(manifest, store);
  const blob = await store.putStream(
    (async function* () {
      yield* deb;
    })(),
  );
  // The proof's Filename is the serial's own proof.deb, not a pool path: the pool
  // directory is shared by serials with the same pool set, and the proof differs per serial.
  const stanza = Buffer.from(proofStanza(manifest, deb, 'proof.deb'));
  const gz = await compressBuffer('gz', stanza);
  const archDirs = [...new Set([...input.archive.architectures.filter((a) => a !== 'all'), 'all'])].map((a) => `binary-${a}`);
  const plainRef = await store.putBuffer(stanza);
  const gzRef = await store.putBuffer(gz);
  const indexEntries: ReleaseFileEntry[] = [];
  for (const d of archDirs) {
    indexEntries.push({ path: `${proofComponent}/${d}/Packages`, hash: plainRef.sha256, size: plainRef.size });
    indexEntries.push({ path: `${proofComponent}/${d}/Packages.gz`, hash: gzRef.sha256, size: gzRef.size });
  }
  return { keyring, manifestBlob, blob, releaseFiles, proofCopies, indexEntries };
}

/** The smallest served variant of each index: one compressed variant is enough for the auditor. */
function chosenVariant(g: IndexGroup, have: ReadonlyMap<string, ReleaseFileEntry>): ReleaseFileEntry | undefined {
  return g.variants.filter((v) => have.has(v.path)).sort((a, b) => a.size - b.size)[0];
}

/** The chosen variants that are uncompressed and large: the proof holds a zstd copy of each. */
export function needingCopies(groups: readonly IndexGroup[], have: ReadonlyMap<string, ReleaseFileEntry>): ReleaseFileEntry[] {
  return groups.map((g) => chosenVariant(g, have)).filter((c): c is ReleaseFileEntry => c !== undefined && c.size > copyAbove && compressionOf(c.path) === 'none');
}

/**
 * The proof manifest's index list of one suite: every served variant with what we serve of it,
 * which one the proof holds (the smallest; or its zstd copy, from `copies` by the variant's path),
 * and of a filtered index, the smallest served copy, so that the auditor can check its stanzas.
 */
export function proofIndices(
  groups: readonly IndexGroup[],
  have: ReadonlyMap<string, ReleaseFileEntry>,
  filtered: ReadonlyMap<string, ReleaseFileEntry>,
  copies: ReadonlyMap<string, ReleaseFileEntry>,
): ProofIndex[] {
  const indices: ProofIndex[] = [];
  for (const g of groups) {
    const available = g.variants.filter((v) => have.has(v.path));
    const chosen = chosenVariant(g, have);
    const servedChosen = available.map((v) => filtered.get(v.path)).filter((f) => f !== undefined).sort((a, b) => a.size - b.size)[0];
    const copy = chosen ? copies.get(chosen.path) : undefined;
    for (const v of available) {
      const f = filtered.get(v.path);
      indices.push({
        path: v.path,
        size: v.size,
        sha256: v.hash,
        served: f ? 'filtered' : 'verbatim',
        ...(f ? { servedSha256: f.hash, servedSize: f.size, servedInProof: f === servedChosen } : {}),
        inProof: v === chosen && !copy,
      });
    }
    if (copy) indices.push({ path: copy.path, size: copy.size, sha256: copy.hash, served: 'verbatim', inProof: true });
  }
  return indices;
}
