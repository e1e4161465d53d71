// Unit tests of the snapshot's step modules (server/snapshot/build.ts, server/proof/snapshot-proof.ts)
// and of the one Packages reader (server/snapshot/packages-reader.ts), over a real store in a temp dir.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { FsBlobStore } from '../server/store/store.ts';
import { parseRelease, type ReleaseFileEntry } from '../server/debian/release.ts';
import type { IndexGroup } from '../server/mirror/plan.ts';
import type { UpstreamRelease } from '../server/mirror/upstream.ts';
import { buildSnapshot, dedupeLinks } from '../server/snapshot/build.ts';
import { proofIndices, needingCopies, type SnapshotProof } from '../server/proof/snapshot-proof.ts';
import { readPackagesBlob } from '../server/snapshot/packages-reader.ts';
import { isAptfreezeError } from '../server/errors.ts';

const h = (s: string) => createHash('sha256').update(s).digest('hex');
const entry = (path: string, size: number): ReleaseFileEntry => ({ path, hash: h(path), size });

const gz = entry('main/binary-amd64/Packages.gz', 100);
const xz = entry('main/binary-amd64/Packages.xz', 80);
const plain = entry('main/binary-amd64/Packages', 500);
const group: IndexGroup = { base: 'main/binary-amd64/Packages', kind: 'packages', component: 'main', prefix: 'main', variants: [plain, gz, xz] };

const releaseText = [
  'Origin: Debian',
  'Suite: stable',
  'Codename: bookworm',
  'Date: Sat, 05 Dec 2026 00:00:00 UTC',
  'Architectures: amd64',
  'Components: main',
  'SHA256:',
  ...[plain, gz, xz].map((e) => ` ${e.hash} ${e.size} ${e.path}`),
  '',
].join('\n');

const up = { suite: 'bookworm', release: parseRelease(releaseText) } as unknown as UpstreamRelease;

const proof: SnapshotProof = {
  keyring: { sha256: h('keyring'), size: 1 },
  manifestBlob: { sha256: h('manifest'), size: 2 },
  blob: { sha256: h('proof.deb'), size: 3 },
  releaseFiles: [[{ name: 'InRelease', sha256: h('InRelease'), size: 4 }]],
  proofCopies: [[]],
  indexEntries: [{ path: 'aptfreeze-proof/binary-all/Packages', hash: h('proof-packages'), size: 5 }],
};

function build(have: ReleaseFileEntry[], filtered: ReleaseFileEntry[] = []) {
  return buildSnapshot({
    archive: 'debian',
    suites: [{ up, groups: [group], have: new Map(have.map((e) => [e.path, e])), filtered: { files: new Map(filtered.map((e) => [e.path, e])), bases: new Set(filtered.length ? [group.base] : []) } }],
    proof,
    outsidePool: [],
    heads: new Map([['bookworm/main/binary-amd64/Packages', h('head')]]),
    refsChain: (head) => [{ sha256: head, size: 7 }, { sha256: h('base'), size: 8 }],
    validUntil: new Date('2026-12-15T00:00:00Z'),
    snapshots: 'http://localhost/debian/@SNAPSHOTID@/',
  });
}

describe('the build step', () => {
  it('links each served index at its path and by hash, the proof at proof.deb, and lists the refs chain in the manifest', () => {
    const b = build([gz, xz]);
    const paths = b.links.map((l) => l.path).sort();
    assert.deepEqual(paths, [
      'dists/bookworm/aptfreeze-proof/binary-all/Packages',
      `dists/bookworm/aptfreeze-proof/binary-all/by-hash/SHA256/${h('proof-packages')}`,
      'dists/bookworm/main/binary-amd64/Packages.gz',
      'dists/bookworm/main/binary-amd64/Packages.xz',
      `dists/bookworm/main/binary-amd64/by-hash/SHA256/${gz.hash}`,
      `dists/bookworm/main/binary-amd64/by-hash/SHA256/${xz.hash}`,
      'proof.deb',
    ]);
    const extra = new Map(b.manifest.extra.map((l) => [l.path, l.sha256]));
    assert.equal(extra.get('@refs/bookworm/main/binary-amd64/Packages'), h('head'));
    assert.equal(extra.get('@refs-chain/bookworm/main/binary-amd64/Packages/1'), h('base'));
    assert.equal(extra.get('@upstream/bookworm/InRelease'), h('InRelease'));
    assert.equal(extra.get('@keyring'), h('keyring'));
    // The Release keeps upstream's index hashes, adds the proof component and our Valid-Until.
    assert.equal(b.releases.length, 1);
    const ours = parseRelease(b.releases[0]!.text);
    assert.deepEqual(ours.sha256.map((e) => e.path).sort(), ['aptfreeze-proof/binary-all/Packages', gz.path, plain.path, xz.path].sort());
    assert.equal(ours.validUntil?.toISOString(), '2026-12-15T00:00:00.000Z');
  });

  it('lists a filtered index only in the compressions written for it', () => {
    const served = { path: gz.path, hash: h('filtered gz'), size: 10 };
    const b = build([gz, xz], [served]);
    const ours = parseRelease(b.releases[0]!.text);
    const listed = ours.sha256.filter((e) => e.path.startsWith('main/'));
    assert.deepEqual(listed.map((e) => [e.path, e.hash]), [[gz.path, served.hash]]);
    assert.ok(!b.links.some((l) => l.sha256 === gz.hash), 'the upstream copy is not served');
  });

  it('refuses two different files for one path with MALFORMED', () => {
    assert.throws(
      () => dedupeLinks([{ path: 'a', sha256: h('1'), size: 1 }, { path: 'a', sha256: h('2'), size: 1 }]),
      (e: unknown) => isAptfreezeError(e) && e.code === 'MALFORMED',
    );
  });
});

describe('the proof manifest index list', () => {
  it('puts the smallest served variant in the proof, or a zstd copy of a large uncompressed-only index', () => {
    const withCompressed = proofIndices([group], new Map([[gz.path, gz], [xz.path, xz]]), new Map(), new Map());
    assert.deepEqual(withCompressed.filter((i) => i.inProof).map((i) => i.path), [xz.path]);
    const big = entry('main/binary-amd64/Packages', 100_000);
    const g2: IndexGroup = { ...group, variants: [big, gz, xz] };
    const only = new Map([[big.path, big]]);
    assert.deepEqual(needingCopies([g2], only).map((e) => e.path), [big.path]);
    const copy = { path: `${big.path}.zst`, hash: h('copy'), size: 9 };
    const list = proofIndices([g2], only, new Map(), new Map([[big.path, copy]]));
    assert.deepEqual(list.map((i) => [i.path, i.inProof]), [[big.path, false], [copy.path, true]]);
  });
});

describe('the one Packages reader', () => {
  let dir: string;
  let store: FsBlobStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aptfreeze-steps-'));
    store = new FsBlobStore(join(dir, 'store'));
    await store.init();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const stanza = (n: number) => `Package: p${n}\nVersion: 1\nArchitecture: amd64\nFilename: pool/main/p/p${n}_1_amd64.deb\nSize: 10\nSHA256: ${h(`p${n}`)}\n`;
  const text = Array.from({ length: 50 }, (_, i) => stanza(i)).join('\n');

  it('reads every entry of a compressed index', async () => {
    const ref = await store.putBuffer(gzipSync(text));
    const got = [];
    for await (const b of readPackagesBlob(store, { sha256: ref.sha256, path: 'main/binary-amd64/Packages.gz' }, { maxBytes: 1 << 20 })) got.push(...b);
    assert.equal(got.length, 50);
    assert.equal(got[7]!.filename, 'pool/main/p/p7_1_amd64.deb');
  });

  it('refuses an index that decompresses past the configured cap with UPSTREAM_TOO_LARGE', async () => {
    const ref = await store.putBuffer(gzipSync(text));
    await assert.rejects(
      async () => {
        for await (const _ of readPackagesBlob(store, { sha256: ref.sha256, path: 'main/binary-amd64/Packages.gz' }, { maxBytes: 1024 })) void _;
      },
      (e: unknown) => isAptfreezeError(e) && e.code === 'UPSTREAM_TOO_LARGE',
    );
  });

  it('refuses a corrupt compressed index with MALFORMED', async () => {
    const ref = await store.putBuffer(Buffer.concat([gzipSync(text).subarray(0, 40), Buffer.alloc(40, 0xff)]));
    await assert.rejects(
      async () => {
        for await (const _ of readPackagesBlob(store, { sha256: ref.sha256, path: 'main/binary-amd64/Packages.gz' }, { maxBytes: 1 << 20 })) void _;
      },
      (e: unknown) => isAptfreezeError(e) && e.code === 'MALFORMED',
    );
  });
});
