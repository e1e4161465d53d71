import { dirname } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import { stripCompression } from '../debian/compress.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import type { IndexGroup } from '../mirror/plan.ts';
import type { UpstreamRelease } from '../mirror/upstream.ts';
import type { TreeLink } from '../publish/tree.ts';
import { proofComponent } from '../proof/manifest.ts';
import type { SnapshotProof } from '../proof/snapshot-proof.ts';
import { ourReleaseText } from './release-file.ts';
import { refsPrefix, refsChainPrefix, type SerialManifest } from './manifest.ts';
import { refsChain } from './refs.ts';
import type { BlobStore } from '../store/port.ts';

/** One suite as the build step sees it. */
export interface BuildSuite {
  up: UpstreamRelease;
  groups: readonly IndexGroup[];
  have: ReadonlyMap<string, ReleaseFileEntry>;
  filtered: { files: ReadonlyMap<string, ReleaseFileEntry>; bases: ReadonlySet<string> };
}

export interface BuildInput {
  archive: string;
  suites: readonly BuildSuite[];
  proof: SnapshotProof;
  /** Files the indices list outside pool/. */
  outsidePool: readonly TreeLink[];
  /** `<suite>/<index base>` -> refs head. */
  heads: ReadonlyMap<string, string>;
  /** A refs head's chain (the head first, then the bases it patches), with sizes. */
  refsChain: (head: string) => Array<{ sha256: string; size: number }>;
  validUntil: Date;
  /** The `Snapshots:` URL template (release-file.ts snapshotsUrl). */
  snapshots: string;
}

/** What the build step makes: the serial's tree (store links), its Release texts (unsigned), its manifest. */
export interface BuiltSnapshot {
  /** Every store-linked file of the tree outside pool/, one per path. */
  links: TreeLink[];
  releases: Array<{ suite: string; text: string }>;
  manifest: SerialManifest;
}

/**
 * Step 6 (design, mirror cycle 5, first half): a pure function from what the run
 * learnt to the serial's tree outside pool/ (indices at their paths and by-hash,
 * the proof), each suite's Release text (upstream's index hashes, our filtered
 * copies and the proof component, a new Valid-Until) and the serial's manifest.
 * No I/O: signing and storing are the next steps.
 */
export function buildSnapshot(input: BuildInput): BuiltSnapshot {
  const { proof } = input;
  const links: TreeLink[] = [];
  for (const r of input.outsidePool) links.push({ path: r.path, sha256: r.sha256, size: r.size });
  links.push({ path: 'proof.deb', sha256: proof.blob.sha256, size: proof.blob.size });
  const releases: BuiltSnapshot['releases'] = [];
  for (const w of input.suites) {
    const { files: filtered, bases: filteredBases } = w.filtered;
    const entries = new Map<string, ReleaseFileEntry>();
    for (const e of w.up.release.sha256) entries.set(e.path, e);
    for (const [path, e] of filtered) entries.set(path, e);
    for (const e of proof.indexEntries) entries.set(e.path, e);
    // A filtered index is listed only in the compressions we wrote for it.
    for (const e of w.up.release.sha256) if (filteredBases.has(stripCompression(e.path)) && !filtered.has(e.path)) entries.delete(e.path);
    // An index served uncompressed (brought up to date by pdiffs) is listed only in the variants served: apt
    // would otherwise ask for the compressed ones first and get a 404 for each.
    for (const e of w.up.release.sha256) if (e.path !== stripCompression(e.path) && w.have.has(stripCompression(e.path)) && !w.have.has(e.path) && w.groups.some((g) => g.base === stripCompression(e.path))) entries.delete(e.path);
    const served = [...w.have.values()].filter((v) => !filteredBases.has(stripCompression(v.path))).concat([...filtered.values()], proof.indexEntries);
    for (const e of served) {
      const d = `dists/${w.up.suite}`;
      links.push({ path: `${d}/${e.path}`, sha256: e.hash, size: e.size });
      links.push({ path: `${d}/${dirname(e.path)}/by-hash/SHA256/${e.hash}`, sha256: e.hash, size: e.size });
    }
    const text = ourReleaseText(w.up.release.fields, [...entries.values()], { validUntil: input.validUntil, extraComponents: [proofComponent], snapshots: input.snapshots, archive: input.archive });
    releases.push({ suite: w.up.suite, text });
  }
  const unique = dedupeLinks(links);
  const manifest: SerialManifest = {
    tree: unique,
    extra: [
      { path: '@keyring', sha256: proof.keyring.sha256, size: proof.keyring.size },
      { path: '@proof-manifest', sha256: proof.manifestBlob.sha256, size: proof.manifestBlob.size },
      ...input.suites.flatMap((w, i) => proof.releaseFiles[i]!.map((f) => ({ path: `@upstream/${w.up.suite}/${f.name}`, sha256: f.sha256, size: f.size }))),
      // Every upstream variant fetched, including those not linked (none are, today) and full indices of filtered ones.
      ...input.suites.flatMap((w) => [...w.have.values()].map((e) => ({ path: `@upstream/${w.up.suite}/${e.path}`, sha256: e.hash, size: e.size }))),
      ...input.suites.flatMap((w, i) => proof.proofCopies[i]!.map((e) => ({ path: `@proof-copy/${w.up.suite}/${e.path}`, sha256: e.hash, size: e.size }))),
      // The pool set: refs heads, and the bases of delta refs (kept while a head needs them).
      ...[...input.heads].flatMap(([key, h]) => input.refsChain(h).map((b, i) => ({ path: i === 0 ? `${refsPrefix}${key}` : `${refsChainPrefix}${key}/${i}`, sha256: b.sha256, size: b.size }))),
    ],
  };
  return { links: unique, releases, manifest };
}

/** One link per path; the same path with two different files is MALFORMED. */
export function dedupeLinks(links: readonly TreeLink[]): TreeLink[] {
  const m = new Map<string, TreeLink>();
  for (const l of links) {
    const seen = m.get(l.path);
    if (seen && seen.sha256 !== l.sha256) throw new AptfreezeError('MALFORMED', `two different files for ${l.path}`);
    m.set(l.path, l);
  }
  return [...m.values()];
}

/**
 * The chains of stored refs heads, with sizes, read beforehand (buildSnapshot is pure and
 * synchronous), for BuildInput.refsChain: the orchestrator hands it in.
 */
export async function storedChains(store: BlobStore, heads: Iterable<string>): Promise<(head: string) => Array<{ sha256: string; size: number }>> {
  const chains = new Map<string, Array<{ sha256: string; size: number }>>();
  for (const head of heads) {
    if (chains.has(head)) continue;
    const chain: Array<{ sha256: string; size: number }> = [];
    for (const sha256 of (await refsChain(store, head)) ?? [head]) chain.push({ sha256, size: await store.size(sha256) });
    chains.set(head, chain);
  }
  return (head) => chains.get(head) ?? [];
}
