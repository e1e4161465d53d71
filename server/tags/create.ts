import { archiveLock } from '../catalog/repo.ts';
import { AptfreezeError, asAptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import type { TreeFile, TreeLink } from '../publish/tree.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import { parseRelease } from '../debian/release.ts';
import { compressBuffer, compressionOf, stripCompression, type Compression } from '../debian/compress.ts';
import type { PoolRef } from '../snapshot/parse-index.ts';
import { writeManifest, type SerialManifest } from '../snapshot/manifest.ts';
import { ourReleaseText } from '../snapshot/release-file.ts';
import { signRelease } from '../sign/signer.ts';
import { buildProofDebParts, proofStanza } from '../proof/build.ts';
import { proofComponent, type ProofIndex, type ProofManifest } from '../proof/manifest.ts';
import { unverifiedText, signedReleaseOf } from '../verify/signature.ts';
import { checkTagName } from './name.ts';
import { binaryKey, emitBuildManifest, parseBuildManifest, sourceKey, type BuildManifest } from './build-manifest.ts';
import { openSerial, packagesOf, sourcesOf, type IndexGroup, type SerialSource } from './serial-source.ts';
import { whereStored } from '../store/port.ts';
import { TagRepo, type TagArchiveRow } from '../catalog/tags.ts';
import { describeTag, type TagView } from './query.ts';

export type TagDeps = Pick<Services, 'config' | 'db' | 'repo' | 'store' | 'publisher' | 'key' | 'now' | 'log'>;

export interface TagCreateRequest {
  name: unknown;
  /** The build manifest: YAML or JSON text, or an already parsed JSON value. */
  manifest: unknown;
}

/**
 * The locks a tag creation holds (server/ops/kinds/tags.ts declares them; the operations runner
 * takes them before createTag runs and releases them after): the tag's name, and the snapshot
 * lock of every archive it takes packages from. gc sweeps the store only when it can take every snapshot lock
 * (release/gc.ts, THE RULE), so the blobs of the referenced serials stay while the tag is
 * built, even if gc collects a serial meanwhile; the tag's own manifest is recorded before
 * the locks are released, and from then on gc keeps what it lists.
 */
export function tagResources(name: string, manifest: Pick<BuildManifest, 'origins'>): string[] {
  return [`tag:${name}`, ...[...manifest.origins.keys()].sort().map(archiveLock)];
}

/**
 * Makes a tag from a build manifest: per archive named in `origin_references`, a permanent
 * partial snapshot holding exactly the listed binary packages found in the referenced serial
 * (and the listed sources, where the serial has Sources), published at
 * `/<archive>/tags/<name>/`. A listed binary that none of the referenced serials holds is a
 * hard error listing every such package (PACKAGES_MISSING); nothing is published then. A
 * package found in several archives goes into each of them (a release team pins corner cases
 * that way). Sources are taken where they are found and never required: a third-party archive
 * mirrored without sources still makes a tag. Run as the `tag.create` operation, which holds
 * `tagResources` while it runs.
 */
export async function createTag(s: TagDeps, req: TagCreateRequest, actor: string): Promise<TagView> {
  const name = checkTagName(req.name);
  const bm = parseBuildManifest(req.manifest);
  for (const archive of bm.origins.keys()) {
    if (!s.config.archives.some((a) => a.name === archive) && !s.repo.listArchives().some((a) => a.name === archive)) {
      throw new AptfreezeError('NOT_FOUND', `manifest: unknown archive ${archive}`);
    }
  }
  const tags = new TagRepo(s.db);
  if (tags.get(name)) throw new AptfreezeError('CONFLICT', `tag ${name} exists`);
  const committed: Array<{ archive: string }> = [];
  const staged: string[] = [];
  try {

    const t0 = Date.now();
    const serials: SerialSource[] = [];
    for (const [archive, serial] of [...bm.origins].sort()) serials.push(await openSerial(s, archive, serial));
    const want = wanted(bm);
    const found = { binary: new Set<string>(), source: new Set<string>() };
    const selections: Selection[] = [];
    for (const src of serials) selections.push(await select(s, src, want, found));
    const missing = bm.binary.filter((b) => !found.binary.has(binaryKey(b))).map((b) => `${b.package}=${b.version}/${b.arch}`);
    if (missing.length) {
      const where = [...bm.origins].map(([a, ser]) => `${a} ${ser}`).join(', ');
      throw new AptfreezeError('PACKAGES_MISSING', `${missing.length} package(s) of the manifest are in none of the referenced serials (${where}): ${missing.join(', ')}`, { details: { missing } });
    }

    const t1 = Date.now();
    const text = typeof req.manifest === 'string' ? req.manifest : emitBuildManifest(bm);
    const buildManifest = await s.store.putBuffer(Buffer.from(text));
    const createdAt = s.now();
    const built: Array<{ row: TagArchiveRow; links: TreeLink[]; files: TreeFile[] }> = [];
    for (const sel of selections) built.push(await buildArchive(s, name, sel, createdAt, buildManifest));

    const t2 = Date.now();
    for (const b of built) {
      // A tree with no row: left by a creation interrupted between its rename and its record.
      await s.publisher.tags.remove(b.row.archive, name);
      staged.push(await s.publisher.tags.stage(b.row.archive, name, b.links, b.files));
    }
    for (let i = 0; i < built.length; i++) {
      await s.publisher.tags.commit(built[i]!.row.archive, name, staged[i]!);
      committed.push({ archive: built[i]!.row.archive });
    }
    staged.length = 0;
    s.db.transaction(() => {
      tags.insert({ name, created_at: createdAt.toISOString(), created_by: actor, build_manifest: buildManifest.sha256 }, built.map((b) => b.row));
      s.repo.appendAudit(
        {
          actor,
          action: 'tag-create',
          target: `tag/${name}`,
          after: { archives: Object.fromEntries(built.map((b) => [b.row.archive, { serial: b.row.serial, binaries: b.row.binaries, sources: b.row.sources, bytes: b.row.bytes }])), buildManifest: buildManifest.sha256 },
        },
        createdAt,
      );
    }).immediate();
    s.log.info({ tag: name, archives: built.map((b) => `${b.row.archive}/${b.row.serial}`), ms: { select: t1 - t0, build: t2 - t1, publish: Date.now() - t2 } }, 'tag created');
    return describeTag(s, name)!;
  } catch (e) {
    for (const d of staged) await s.publisher.tags.discard(d);
    // Published trees of a creation that failed before its record: nothing of it stays.
    if (!tags.get(name)) for (const c of committed) await s.publisher.tags.remove(c.archive, name).catch(() => {});
    throw asAptfreezeError(e);
  }
}

interface Wanted {
  /** package name -> `package version arch` keys */
  binary: Map<string, Set<string>>;
  source: Set<string>;
}

function wanted(bm: BuildManifest): Wanted {
  const binary = new Map<string, Set<string>>();
  for (const b of bm.binary) {
    const set = binary.get(b.package) ?? new Set<string>();
    set.add(binaryKey(b));
    binary.set(b.package, set);
  }
  return { binary, source: new Set(bm.source.map(sourceKey)) };
}

/** What a tag takes from one serial: per index, the wanted stanzas byte for byte and the pool files they name. */
interface Selection {
  src: SerialSource;
  groups: Array<{ group: IndexGroup; raws: Buffer[]; refs: PoolRef[] }>;
  binaries: Set<string>;
  sources: Set<string>;
}

async function select(s: TagDeps, src: SerialSource, want: Wanted, found: { binary: Set<string>; source: Set<string> }): Promise<Selection> {
  const cap = s.config.fetch.maxDecompressedBytes;
  const out: Selection = { src, groups: [], binaries: new Set(), sources: new Set() };
  for (const g of src.groups) {
    const raws: Buffer[] = [];
    const refs: PoolRef[] = [];
    if (g.kind === 'packages') {
      for await (const e of packagesOf(s.store, g, cap, (p) => want.binary.has(p))) {
        const key = binaryKey({ package: e.package, version: e.version, arch: e.architecture });
        if (!want.binary.get(e.package)?.has(key)) continue;
        raws.push(e.raw!);
        refs.push({ path: e.filename, sha256: e.sha256, size: e.size });
        out.binaries.add(key);
        found.binary.add(key);
      }
    } else {
      for await (const st of sourcesOf(s.store, g, cap, (p, v) => want.source.has(`${p} ${v}`))) {
        raws.push(st.raw);
        refs.push(...st.refs);
        out.sources.add(`${st.package} ${st.version}`);
        found.source.add(`${st.package} ${st.version}`);
      }
    }
    out.groups.push({ group: g, raws, refs });
  }
  return out;
}

const suffix: Record<'none' | 'gz' | 'xz', string> = { none: '', gz: '.gz', xz: '.xz' };

/**
 * One archive's tag: indices, proof, signed Release files, the tree's links and its manifest.
 * Each index is written uncompressed and gzipped (apt 2.6 wants the uncompressed name listed),
 * and as xz where the serial served xz. No by-hash copies and no Acquire-By-Hash: a tag never
 * changes under a reader, which is what by-hash guards against. No Valid-Until: a tag stays
 * valid for good (the Tails practice, REFERENCES.md), and apt checks no expiry without one.
 */
async function buildArchive(s: TagDeps, name: string, sel: Selection, createdAt: Date, buildManifest: { sha256: string; size: number }) {
  const { src } = sel;
  const links = new Map<string, TreeLink>();
  const link = (l: TreeLink) => {
    const seen = links.get(l.path);
    if (seen && seen.sha256 !== l.sha256) throw new AptfreezeError('MALFORMED', `${src.archive}/${src.serial}: two different files for ${l.path}`);
    links.set(l.path, l);
  };
  const served = new Map<string, Map<string, ReleaseFileEntry>>(); // suite -> path -> entry
  let poolBytes = 0;
  for (const { group: g, raws, refs } of sel.groups) {
    const parts: Buffer[] = [];
    raws.forEach((raw, i) => {
      if (i > 0) parts.push(Buffer.from('\n'));
      parts.push(raw);
    });
    const plain = Buffer.concat(parts);
    const kinds: Array<'none' | 'gz' | 'xz'> = ['none', 'gz', ...(g.variants.has('xz') ? (['xz'] as const) : [])];
    const bySuite = served.get(g.suite) ?? new Map<string, ReleaseFileEntry>();
    served.set(g.suite, bySuite);
    for (const k of kinds) {
      const ref = await s.store.putBuffer(k === 'none' ? plain : await compressBuffer(k, plain));
      const path = `${g.base}${suffix[k]}`;
      bySuite.set(path, { path, hash: ref.sha256, size: ref.size });
      link({ path: `dists/${g.suite}/${path}`, sha256: ref.sha256, size: ref.size });
    }
    for (const r of refs) {
      if (!links.has(r.path)) poolBytes += r.size;
      link({ path: r.path, sha256: r.sha256, size: r.size });
    }
  }
  const stored = new Set(await whereStored(s.store, links.values(), (l) => l.sha256));
  const missingBlobs = [...links.values()].filter((l) => !stored.has(l)).map((l) => l.path);
  if (missingBlobs.length) throw new AptfreezeError('INTERNAL', `${src.archive}/${src.serial}: the store lacks ${missingBlobs.length} file(s) of the serial (${missingBlobs.slice(0, 3).join(', ')}); run aptfreeze fsck`);

  const extra: TreeLink[] = [{ path: '@build-manifest', sha256: buildManifest.sha256, size: buildManifest.size }];
  const proofEntries: ReleaseFileEntry[] = [];
  if (src.proof) {
    const proof = await makeProof(s, name, src, src.proof, served, createdAt);
    link({ path: 'proof.deb', sha256: proof.blob.sha256, size: proof.blob.size });
    proofEntries.push(...proof.indexEntries);
    extra.push(...proof.extra);
  }
  for (const e of proofEntries) for (const suite of src.suites) link({ path: `dists/${suite}/${e.path}`, sha256: e.hash, size: e.size });

  const files: TreeFile[] = [];
  for (const suite of src.suites) {
    const entries = [...(served.get(suite)?.values() ?? []), ...proofEntries];
    const text = ourReleaseText(await releaseFields(s, src, suite), entries, { archive: src.archive, validUntil: null, byHash: false, extraComponents: src.proof ? [proofComponent] : [] });
    const signed = await signRelease(s.key, text);
    files.push({ path: `dists/${suite}/Release`, data: text }, { path: `dists/${suite}/Release.gpg`, data: signed.releaseGpg }, { path: `dists/${suite}/InRelease`, data: signed.inRelease });
  }
  const tree = [...links.values()];
  const manifest: SerialManifest = { tree, extra };
  const manifestBlob = await writeManifest(s.store, manifest);
  const row: TagArchiveRow = { tag: name, archive: src.archive, serial: src.serial, manifest_sha256: manifestBlob.sha256, binaries: sel.binaries.size, sources: sel.sources.size, bytes: poolBytes };
  return { row, links: tree, files };
}

/**
 * The Release fields of a suite as upstream wrote them (Origin, Label, Suite, Codename, Date,
 * Components...): from the upstream Release in the serial's proof, which was verified when the
 * serial was taken and is stored by its hash; for an archive without proofs, from the serial's
 * own Release. ourReleaseText drops what is ours to write (hashes, Valid-Until, by-hash, Snapshots).
 */
async function releaseFields(s: TagDeps, src: SerialSource, suite: string): Promise<ReadonlyArray<[string, string]>> {
  const ps = src.proof?.suites.find((x) => x.suite === suite);
  let text: string | null = null;
  if (ps) {
    const blob = async (n: string) => {
      const f = ps.releaseFiles.find((r) => r.name === n);
      return f ? s.store.read(f.sha256) : undefined;
    };
    text = unverifiedText(signedReleaseOf({ inRelease: await blob('InRelease'), release: await blob('Release'), releaseGpg: await blob('Release.gpg') }, `${src.archive}/${src.serial} ${suite}`));
  } else {
    text = await s.publisher.readSigned(src.archive, src.serial, suite, 'Release');
  }
  if (text === null) throw new AptfreezeError('MALFORMED', `${src.archive}/${src.serial}: the Release of ${suite} cannot be read`);
  return parseRelease(text).fields;
}

const writable = new Set<Compression>(['none', 'gz', 'xz']);

/**
 * The tag's proof package: the serial's proof (upstream Release files, keyring, full upstream
 * indices) with every index marked `filtered`: the tag serves only the listed stanzas, and the
 * auditor's check (verify/proof-verifier.ts) finds each of them byte for byte in upstream's
 * index, whose hash the upstream signature covers. Only the Packages and Sources indices the
 * tag serves are listed; an upstream variant the tag did not write (bz2, lz4, zst) is left out.
 */
async function makeProof(s: TagDeps, name: string, src: SerialSource, p: ProofManifest, served: Map<string, Map<string, ReleaseFileEntry>>, createdAt: Date) {
  const extra: TreeLink[] = [{ path: '@keyring', sha256: p.keyring.sha256, size: p.keyring.size }];
  const held = new Set(await whereStored(s.store, p.suites.flatMap((ps) => ps.indices.map((i) => i.sha256)), (h) => h));
  const suites = p.suites.map((ps) => {
    const mine = served.get(ps.suite) ?? new Map<string, ReleaseFileEntry>();
    for (const f of ps.releaseFiles) extra.push({ path: `@upstream/${ps.suite}/${f.name}`, sha256: f.sha256, size: f.size });
    const groups = new Map<string, ProofIndex[]>();
    for (const i of ps.indices) {
      const base = stripCompression(i.path);
      const kind = compressionOf(i.path);
      if (!writable.has(kind) || !mine.has(i.path) || !held.has(i.sha256)) continue;
      const list = groups.get(base) ?? [];
      list.push(i);
      groups.set(base, list);
    }
    const indices: ProofIndex[] = [];
    for (const list of groups.values()) {
      const upstream = list.find((i) => i.inProof) ?? [...list].sort((a, b) => a.size - b.size)[0]!;
      const servedChosen = [...list].sort((a, b) => mine.get(a.path)!.size - mine.get(b.path)!.size)[0]!;
      for (const i of list) {
        const t = mine.get(i.path)!;
        indices.push({ path: i.path, size: i.size, sha256: i.sha256, served: 'filtered', servedSha256: t.hash, servedSize: t.size, inProof: i === upstream, servedInProof: i === servedChosen });
        if (i === upstream) extra.push({ path: `@upstream/${ps.suite}/${i.path}`, sha256: i.sha256, size: i.size });
      }
    }
    return { ...ps, indices };
  });
  const manifest: ProofManifest = {
    format: 1,
    archive: p.archive,
    upstreamUrl: p.upstreamUrl,
    serial: src.serial,
    tag: name,
    createdAt: new Date(Math.floor(createdAt.getTime() / 1000) * 1000).toISOString(),
    keyring: p.keyring,
    suites,
  };
  const manifestBlob = await s.store.putBuffer(Buffer.from(JSON.stringify(manifest)));
  extra.push({ path: '@proof-manifest', sha256: manifestBlob.sha256, size: manifestBlob.size });
  const deb = await buildProofDebParts(manifest, s.store);
  const blob = await s.store.putStream((async function* () {
    yield* deb;
  })());
  // Filename: the tag's own proof.deb, as a serial's proof is at its serial's root.
  const stanza = Buffer.from(proofStanza(manifest, deb, 'proof.deb'));
  const plainRef = await s.store.putBuffer(stanza);
  const gzRef = await s.store.putBuffer(await compressBuffer('gz', stanza));
  const archDirs = [...new Set([...src.groups.filter((g) => g.kind === 'packages').map((g) => g.dir), 'binary-all'])].sort();
  const indexEntries: ReleaseFileEntry[] = archDirs.flatMap((d) => [
    { path: `${proofComponent}/${d}/Packages`, hash: plainRef.sha256, size: plainRef.size },
    { path: `${proofComponent}/${d}/Packages.gz`, hash: gzRef.sha256, size: gzRef.size },
  ]);
  return { blob, indexEntries, extra };
}
