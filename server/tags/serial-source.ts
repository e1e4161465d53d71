import { AptfreezeError } from '../errors.ts';
import type { Repo } from '../catalog/repo.ts';
import type { BlobStore } from '../store/port.ts';
import type { TreeLink } from '../publish/tree.ts';
import { readManifest, type SerialManifest } from '../snapshot/manifest.ts';
import { parseProofManifest, proofComponent, type ProofManifest } from '../proof/manifest.ts';
import { compressionOf, stripCompression, type Compression } from '../debian/compress.ts';
import { readPackagesBlob, type PackageEntry } from '../snapshot/packages-reader.ts';
import { stanzasOfBlob, sourcesRefs, type PoolRef } from '../snapshot/parse-index.ts';

/**
 * What one published serial of an archive served, read back from its manifest (a store blob:
 * the serial's tree may be collected meanwhile, its blobs stay while a lock keeps gc from
 * sweeping). Generic over archives: anything with a serial row and a manifest listing
 * `dists/<suite>/<component>/binary-<arch>/Packages*` and `…/source/Sources*` reads the same.
 */
export interface SerialSource {
  archive: string;
  serial: string;
  manifest: SerialManifest;
  /** The serial's proof manifest (`@proof-manifest`), or null for an archive without proofs. */
  proof: ProofManifest | null;
  suites: string[];
  groups: IndexGroup[];
}

/** One index of a suite (all its compressions). */
export interface IndexGroup {
  suite: string;
  kind: 'packages' | 'sources';
  /** Relative to dists/<suite>/, without compression suffix: `main/binary-amd64/Packages`. */
  base: string;
  /** `binary-amd64` or `source`. */
  dir: string;
  /** The served variants, by compression. */
  variants: Map<Compression, TreeLink>;
}

type Deps = { repo: Repo; store: BlobStore };

/** Opens a serial that is published now (live or frozen): NOT_FOUND when it never was, GONE when collected. */
export async function openSerial(s: Deps, archive: string, serial: string): Promise<SerialSource> {
  const row = s.repo.getSerial(archive, serial);
  if (!row || row.state === 'pending' || row.state === 'failed') throw new AptfreezeError('NOT_FOUND', `no serial ${serial} of ${archive}`);
  if (row.state === 'collected') throw new AptfreezeError('GONE', `${archive}/${serial} was collected`);
  if (!row.manifest_sha256 || !(await s.store.has(row.manifest_sha256))) throw new AptfreezeError('INTERNAL', `${archive}/${serial} has no readable manifest`);
  const manifest = await readManifest(s.store, row.manifest_sha256, { expand: false });
  const pm = manifest.extra.find((l) => l.path === '@proof-manifest');
  const proof = pm ? parseProofManifest(await s.store.read(pm.sha256)) : null;
  const suites = proof ? proof.suites.map((x) => x.suite) : s.repo.suiteSnapshots(archive, serial).map((x) => x.suite);
  return { archive, serial, manifest, proof, suites, groups: indexGroups(manifest.tree, suites) };
}

const indexRe = /^(.+)\/(binary-[^/]+|source)\/(Packages|Sources)(\.[a-z0-9]+)?$/;

/** The Packages and Sources indices of a tree, by suite (the longest suite name that prefixes a path wins: `buster/updates`). */
export function indexGroups(tree: readonly TreeLink[], suites: readonly string[]): IndexGroup[] {
  const bySuite = [...suites].sort((a, b) => b.length - a.length);
  const groups = new Map<string, IndexGroup>();
  for (const l of tree) {
    if (!l.path.startsWith('dists/') || l.path.includes('/by-hash/')) continue;
    const suite = bySuite.find((x) => l.path.startsWith(`dists/${x}/`));
    if (!suite) continue;
    const rel = l.path.slice(`dists/${suite}/`.length);
    const m = indexRe.exec(rel);
    if (!m || m[1] === proofComponent) continue;
    const kind = m[3] === 'Packages' ? 'packages' : 'sources';
    if ((kind === 'packages') !== m[2]!.startsWith('binary-')) continue;
    const base = stripCompression(rel);
    const key = `${suite}\n${base}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { suite, kind, base, dir: m[2]!, variants: new Map() }));
    g.variants.set(compressionOf(rel), l);
  }
  return [...groups.values()].sort((a, b) => (a.suite + a.base < b.suite + b.base ? -1 : 1));
}

/** The variant read: the cheapest to decompress. */
function readable(g: IndexGroup): TreeLink {
  for (const c of ['none', 'gz', 'xz', 'zst', 'lz4', 'bz2'] as const) {
    const v = g.variants.get(c);
    if (v) return v;
  }
  throw new AptfreezeError('INTERNAL', `${g.suite}/${g.base}: no variant`);
}

/** Every Packages stanza of a group, in index order; `want` picks the packages whose raw bytes are kept. */
export async function* packagesOf(store: BlobStore, g: IndexGroup, maxBytes: number, want?: (pkg: string) => boolean): AsyncGenerator<PackageEntry> {
  const v = readable(g);
  const opts = want ? { select: want, keepRaw: want } : {};
  for await (const batch of readPackagesBlob(store, { sha256: v.sha256, path: v.path }, { ...opts, maxBytes, where: `${g.suite}/${g.base}` })) yield* batch;
}

export interface SourceStanza {
  package: string;
  version: string;
  raw: Buffer;
  refs: PoolRef[];
}

/** Every Sources stanza of a group wanted by `want(name, version)`. */
export async function* sourcesOf(store: BlobStore, g: IndexGroup, maxBytes: number, want: (pkg: string, version: string) => boolean): AsyncGenerator<SourceStanza> {
  const v = readable(g);
  const where = `${g.suite}/${g.base}`;
  for await (const s of stanzasOfBlob(store, v.sha256, v.path, maxBytes)) {
    const name = s.get('Package') ?? '';
    const version = s.get('Version') ?? '';
    if (!want(name, version)) continue;
    yield { package: name, version, raw: s.raw, refs: sourcesRefs(s, where) };
  }
}
