import { createRequire } from 'node:module';
import type * as Zod from 'zod';
import { AptfreezeError } from '../errors.ts';
import { checkRelativePath } from '../debian/paths.ts';
import { isTagName, tagProofVersion } from '../tags/name.ts';

/**
 * The proof package's manifest.json: everything an auditor needs to find each
 * link of the chain. It is a map, not a trust anchor: every hash it lists is
 * checked against the files in the proof and the upstream Release (which the
 * auditor checks against a keyring of their own).
 */
export interface ProofManifest {
  format: 1;
  archive: string;
  upstreamUrl: string;
  serial: string;
  /**
   * A tag's proof (server/tags/): the tag's name. `serial` is then the serial the tag's packages
   * were taken from, and every index is `filtered` (the tag serves only the listed stanzas).
   */
  tag?: string;
  /** The serial's creation, whole seconds: also the mtime of every file of the package. */
  createdAt: string;
  /** The upstream keyring the snapshot checked the signatures with (reported to the auditor, never trusted). */
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
  /** Filtered only: whether the served (filtered) file is inside the proof too, under served/dists/<suite>/<path>. */
  servedInProof?: boolean;
}

export function proofPackageName(archive: string): string {
  return `aptfreeze-proof-${archive}`;
}

export function proofInstallDir(archive: string, serial: string, tag?: string): string {
  return tag === undefined ? `usr/share/aptfreeze/proofs/${archive}/${serial}` : `usr/share/aptfreeze/proofs/${archive}/tags/${tag}`;
}

/** The proof package's version: the serial, or for a tag `<serial>+tag.<name>` (tags/name.ts). */
export function proofVersion(m: Pick<ProofManifest, 'serial' | 'tag'>): string {
  return m.tag === undefined ? m.serial : tagProofVersion(m.serial, m.tag);
}

export function proofPoolPath(archive: string, serial: string): string {
  return `pool/aptfreeze-proof/${proofPackageName(archive)}_${serial}_all.deb`;
}

/** Where, inside the proof's directory, the upstream file of an index or Release lives. */
export function proofUpstreamPath(suite: string, path: string): string {
  return `dists/${suite}/${path}`;
}

/** Where, inside the proof's directory, the served copy of a filtered index lives. */
export function proofServedPath(suite: string, path: string): string {
  return `served/dists/${suite}/${path}`;
}

export { proofComponent } from './component.ts';

// ---------------------------------------------------------------------------
// Reading a manifest: outside data (the auditor got the proof from somewhere),
// so every field is checked and a bad one is MALFORMED, never a crash.

/** The schema, made on first use: building zod schemas is slow on a cold start, and a snapshot only writes manifests (docs/performance.md, 2026-12-06). */
function makeSchema() {
  // zod itself is required here too (CommonJS, as everywhere: tags/build-manifest.ts says why).
  const { z } = createRequire(import.meta.url)('zod') as typeof Zod;
  const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
  const size = z.number().int().nonnegative();
  const relPath = z.string().refine((p) => {
    try {
      checkRelativePath(p, 'manifest path');
      return true;
    } catch {
      return false;
    }
  }, 'a safe relative path');

  return z
    .object({
      format: z.literal(1),
      archive: z.string().regex(/^[a-z0-9][a-z0-9.+-]*$/),
      upstreamUrl: z.string(),
      serial: z.string().regex(/^\d{10}$/),
      tag: z.string().refine(isTagName, 'a tag name').optional(),
      createdAt: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'an ISO date'),
      keyring: z.object({ name: z.enum(['keyring.gpg', 'keyring.asc']), sha256: hex64, size }),
      suites: z
        .array(
          z.object({
            suite: relPath,
            form: z.enum(['inrelease', 'detached']),
            fetchedAt: z.string(),
            releaseDate: z.string(),
            signers: z.array(z.string()),
            releaseFiles: z.array(z.object({ name: z.enum(['InRelease', 'Release', 'Release.gpg']), sha256: hex64, size })).min(1),
            indices: z.array(
              z.object({
                path: relPath,
                size,
                sha256: hex64,
                served: z.enum(['verbatim', 'filtered']),
                servedSha256: hex64.optional(),
                servedSize: size.optional(),
                inProof: z.boolean(),
                servedInProof: z.boolean().optional(),
              }),
            ),
          }),
        )
        .min(1),
    })
    .loose();
}
let schema: ReturnType<typeof makeSchema> | undefined;

/** Parses and checks a manifest.json. Throws AptfreezeError('MALFORMED') naming the first bad field. */
export function parseProofManifest(bytes: Uint8Array | string): ProofManifest {
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new AptfreezeError('MALFORMED', `manifest.json is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const r = (schema ??= makeSchema()).safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new AptfreezeError('MALFORMED', `manifest.json: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  // The input as given (checked, not rebuilt by the schema): a rebuild from it keeps its key order, hence its bytes.
  const m = json as ProofManifest;
  for (const s of m.suites) {
    const names = s.releaseFiles.map((f) => f.name).sort().join(',');
    if (s.form === 'inrelease' ? names !== 'InRelease' : names !== 'Release,Release.gpg') {
      throw new AptfreezeError('MALFORMED', `manifest.json: suite ${s.suite}: form ${s.form} with release files ${names}`);
    }
    for (const i of s.indices) {
      if (i.served === 'filtered' && (i.servedSha256 === undefined || i.servedSize === undefined)) {
        throw new AptfreezeError('MALFORMED', `manifest.json: suite ${s.suite}: filtered index ${i.path} without servedSha256/servedSize`);
      }
    }
  }
  if (new Set(m.suites.map((s) => s.suite)).size !== m.suites.length) throw new AptfreezeError('MALFORMED', 'manifest.json: a suite is listed twice');
  return m;
}
