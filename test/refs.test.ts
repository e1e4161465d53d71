// Refs blobs (server/snapshot/refs.ts): the pool files of an index, stored as deltas on the
// previous version of the same index, with chains cut at MAX_DEPTH.
import { fsBlobFiles } from '../server/store/fs-links.ts';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { FsBlobStore } from '../server/store/store.ts';
import { MAX_DEPTH, clearRefsCache, loadRefs, refsChain, blobReader, writeRefs } from '../server/snapshot/refs.ts';
import type { PoolRef } from '../server/snapshot/parse-index.ts';

const sha = (n: number) => n.toString(16).padStart(64, '0');
const ref = (i: number, v = 0): PoolRef => ({ path: `pool/main/p/p${i}/p${i}_${v}.deb`, sha256: sha(i * 1000 + v), size: 100 + i });

async function store(): Promise<FsBlobStore> {
  const s = new FsBlobStore(await tmpDir('af-refs'));
  await s.init();
  return s;
}

function asSorted(m: ReadonlyMap<string, PoolRef>): PoolRef[] {
  return [...m.values()].map((r) => ({ path: r.path, sha256: r.sha256, size: r.size })).sort((a, b) => (a.path < b.path ? -1 : 1));
}

describe('refs blobs', () => {
  it('a small change is a delta on the base; reading it back (cold) gives the full list', async () => {
    const s = await store();
    const v1 = Array.from({ length: 100 }, (_, i) => ref(i));
    const b1 = await writeRefs(s, v1, null);
    // 3 new versions (new paths: the old ones go), 5 removed, 1 added
    const v2 = [...v1.slice(0, 95).map((r, i) => (i < 3 ? ref(i, 1) : r)), ref(200)];
    const b2 = await writeRefs(s, v2, { sha256: b1.sha256, loaded: b1.loaded });
    const text = (await s.read(b2.sha256)).toString('utf8').split('\n');
    assert.equal(text[1], `base ${b1.sha256}`);
    assert.equal(text.filter((l) => l.startsWith('+')).length, 4);
    assert.equal(text.filter((l) => l.startsWith('-')).length, 8);
    clearRefsCache();
    const back = await loadRefs(blobReader(s), b2.sha256);
    assert.deepEqual(asSorted(back.refs), asSorted(new Map(v2.map((r) => [r.path, r]))));
    assert.deepEqual(back.chain, [b2.sha256, b1.sha256]);
    assert.deepEqual(await refsChain(s, b2.sha256), [b2.sha256, b1.sha256]);
  });

  it('the same list again is the base itself; a large change is a full blob', async () => {
    const s = await store();
    const v1 = Array.from({ length: 10 }, (_, i) => ref(i));
    const b1 = await writeRefs(s, v1, null);
    const same = await writeRefs(s, [...v1].reverse(), { sha256: b1.sha256, loaded: b1.loaded });
    assert.equal(same.sha256, b1.sha256);
    const most = await writeRefs(s, v1.map((r, i) => (i < 8 ? ref(i, 2) : r)), { sha256: b1.sha256, loaded: b1.loaded });
    assert.equal(most.loaded.depth, 0);
    assert.match((await s.read(most.sha256)).toString('utf8'), /^aptfreeze-refs 2\nbase -\ndepth 0\n/);
  });

  it('a chain is cut at MAX_DEPTH: reading never walks more blobs than that', async () => {
    const s = await store();
    let list = Array.from({ length: 200 }, (_, i) => ref(i));
    let b = await writeRefs(s, list, null);
    const depths: number[] = [];
    for (let round = 1; round <= MAX_DEPTH + 3; round++) {
      list = list.map((r, i) => (i === round ? ref(i, round) : r));
      b = await writeRefs(s, list, { sha256: b.sha256, loaded: b.loaded });
      depths.push(b.loaded.depth);
    }
    assert.equal(Math.max(...depths), MAX_DEPTH);
    assert.equal(depths[MAX_DEPTH], 0, 'the blob after the deepest is full');
    clearRefsCache();
    const back = await loadRefs(blobReader(s), b.sha256);
    assert.ok(back.chain.length <= MAX_DEPTH + 1);
    assert.deepEqual(asSorted(back.refs), asSorted(new Map(list.map((r) => [r.path, r]))));
  });

  it('a path listed with two different files is MALFORMED; a damaged or missing base is refused', async () => {
    const s = await store();
    await assert.rejects(writeRefs(s, [ref(1), { ...ref(1), sha256: sha(9) }], null), { code: 'MALFORMED' });
    const b1 = await writeRefs(s, Array.from({ length: 10 }, (_, i) => ref(i)), null);
    const b2 = await writeRefs(s, Array.from({ length: 10 }, (_, i) => (i === 0 ? ref(0, 1) : ref(i))), { sha256: b1.sha256, loaded: b1.loaded });
    clearRefsCache();
    await writeFile(fsBlobFiles(s).fileOf(b1.sha256), 'aptfreeze-refs 2\nbase -\ndepth 0\n+zz 1 pool/x\n');
    await assert.rejects(loadRefs(blobReader(s), b2.sha256), { code: 'MALFORMED' });
    clearRefsCache();
    await s.remove(b1.sha256);
    assert.equal(await refsChain(s, b2.sha256), null, 'a chain with a missing base is not usable');
  });
});
