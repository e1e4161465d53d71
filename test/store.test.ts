// The content-addressed store (FsBlobStore): what lands under a hash is whole and verified, a
// failed put leaves nothing (no blob, no temp file), for small blobs (gathered in memory, verified,
// then written once) and large ones (streamed to a temp file) alike.
import { fsBlobFiles } from '../server/store/fs-links.ts';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FsBlobStore, smallBlobBytes } from '../server/store/store.ts';
import { asAptfreezeError, isAptfreezeError } from '../server/errors.ts';
import { tmpDir } from './helpers/gpg.ts';
import { fillDisk } from './helpers/fill.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Yields `data` in chunks of `size`; `pulled` counts the chunks taken. */
function chunked(data: Buffer, size: number) {
  const it = {
    pulled: 0,
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < data.length; i += size) {
        it.pulled++;
        yield data.subarray(i, i + size);
      }
    },
  };
  return it;
}

/** Yields chunks of `size` forever (endless data). */
function endless(size: number) {
  const it = {
    pulled: 0,
    async *[Symbol.asyncIterator]() {
      for (;;) {
        it.pulled++;
        yield Buffer.alloc(size, 0x41);
      }
    },
  };
  return it;
}

async function* failing(data: Buffer, after: number): AsyncIterable<Uint8Array> {
  yield data.subarray(0, after);
  throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

describe('FsBlobStore', () => {
  let dir: string;
  let store: FsBlobStore;

  before(async () => {
    dir = await tmpDir('af-store');
    store = new FsBlobStore(join(dir, 'store'));
    await store.init();
  });

  async function assertNothingLeft(hash?: string) {
    assert.deepEqual(await readdir(fsBlobFiles(store).tmp), [], 'no temp file');
    if (hash) assert.equal(await store.has(hash), false, 'no blob under the hash');
  }

  for (const [label, size] of [
    ['a small blob', 3000],
    ['a blob at the small limit', smallBlobBytes],
    ['a large blob', smallBlobBytes + 70_000],
  ] as const) {
    describe(`${label} (${size} bytes)`, () => {
      const data = randomBytes(size);
      const hash = sha(data);

      it('is stored whole, read-only, under its hash', async () => {
        const ref = await store.putStream(chunked(data, 16_384), { sha256: hash, size });
        assert.deepEqual(ref, { sha256: hash, size });
        assert.ok(await store.has(hash));
        assert.ok((await store.read(hash)).equals(data));
        assert.equal((await stat(fsBlobFiles(store).fileOf(hash))).mode & 0o777, 0o444);
        await assertNothingLeft();
        await store.remove(hash);
      });

      it('is refused with one byte changed (HASH_MISMATCH), and nothing is kept', async () => {
        const bad = Buffer.from(data);
        bad[size >> 1] ^= 1;
        await assert.rejects(store.putStream(chunked(bad, 16_384), { sha256: hash, size }), (e) => isAptfreezeError(e) && e.code === 'HASH_MISMATCH');
        await assertNothingLeft(hash);
        await assertNothingLeft(sha(bad));
      });

      it('is refused when short (SIZE_MISMATCH, got < expected), and nothing is kept', async () => {
        await assert.rejects(store.putStream(chunked(data.subarray(0, size - 1), 16_384), { sha256: hash, size }), (e) => {
          assert.ok(isAptfreezeError(e) && e.code === 'SIZE_MISMATCH', String(e));
          assert.deepEqual(e.details, { got: size - 1, expected: size });
          return true;
        });
        await assertNothingLeft(hash);
      });

      it('stops reading endless data at the first chunk past the size (SIZE_MISMATCH)', async () => {
        const src = endless(16_384);
        await assert.rejects(store.putStream(src, { sha256: hash, size }), (e) => isAptfreezeError(e) && e.code === 'SIZE_MISMATCH');
        assert.equal(src.pulled, Math.floor(size / 16_384) + 1, 'not one chunk more than needed to pass the size');
        await assertNothingLeft(hash);
      });

      it('passes on a failure of the source (a reset), and nothing is kept', async () => {
        await assert.rejects(store.putStream(failing(data, 1000), { sha256: hash, size }), /socket hang up/);
        await assertNothingLeft(hash);
      });
    });
  }

  it('stores a stream without an expected size or hash (streamed), and bytes from memory', async () => {
    const a = randomBytes(5000);
    assert.deepEqual(await store.putStream(chunked(a, 1000)), { sha256: sha(a), size: a.length });
    const b = randomBytes(smallBlobBytes + 1);
    assert.deepEqual(await store.putBuffer(b), { sha256: sha(b), size: b.length });
    const c = randomBytes(100);
    assert.deepEqual(await store.putBuffer(c), { sha256: sha(c), size: c.length });
    for (const x of [a, b, c]) assert.ok((await store.read(sha(x))).equals(x));
    await assertNothingLeft();
  });

  it('creates a fan-out directory again when it was removed behind its back', async () => {
    const a = randomBytes(2000);
    await store.putBuffer(a);
    const fan = join(fsBlobFiles(store).root, sha(a).slice(0, 2));
    await rm(fan, { recursive: true });
    await store.putStream(chunked(a, 700), { sha256: sha(a), size: a.length });
    assert.ok((await store.read(sha(a))).equals(a));
    // And for the streaming path.
    const b = Buffer.concat([Buffer.from(sha(a).slice(0, 2)), randomBytes(smallBlobBytes + 10)]);
    await store.putBuffer(b);
    await rm(join(fsBlobFiles(store).root, sha(b).slice(0, 2)), { recursive: true });
    await store.putStream(chunked(b, 65_536), { sha256: sha(b), size: b.length });
    assert.ok(await store.has(sha(b)));
    await assertNothingLeft();
  });

  it('names temp files after its pid, and a restart removes only a dead writer\'s', async () => {
    const data = randomBytes(smallBlobBytes + 100);
    let seen: string[] = [];
    // Asked for its second chunk, the store has begun its temp file (opened asynchronously):
    // look until it shows, a bounded number of times (each look lets the open go on), no sleep.
    async function* slow(): AsyncIterable<Uint8Array> {
      yield data.subarray(0, 100);
      for (let i = 0; i < 1000 && seen.length === 0; i++) seen = await readdir(fsBlobFiles(store).tmp);
      yield data.subarray(100);
    }
    await store.putStream(slow(), { sha256: sha(data), size: data.length });
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, new RegExp(`^${process.pid}-[0-9a-f]+-\\d+\\.part$`));
    await writeFile(join(fsBlobFiles(store).tmp, '999999-0123456789abcdef.part'), 'partial');
    await writeFile(join(fsBlobFiles(store).tmp, `${process.pid}-mine.part`), 'in flight');
    const other = new FsBlobStore(join(dir, 'store'));
    await other.init();
    assert.deepEqual(await readdir(fsBlobFiles(store).tmp), [`${process.pid}-mine.part`]);
    await rm(join(fsBlobFiles(store).tmp, `${process.pid}-mine.part`));
  });

  describe('on a full disk (a small tmpfs; needs root)', () => {
    let full: string;
    let mounted = false;
    let fullStore: FsBlobStore;

    before(async () => {
      full = join(dir, 'full');
      await mkdir(full);
      mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', full]).status === 0;
      if (!mounted) return;
      fullStore = new FsBlobStore(join(full, 'store'));
      await fullStore.init();
      fillDisk(join(full, 'filler'));
    });
    after(() => {
      if (mounted) spawnSync('umount', ['-l', full]);
    });

    for (const size of [20_000, smallBlobBytes + 20_000]) {
      it(`fails with ENOSPC (DISK_FULL) and keeps no partial file: putStream and putBuffer of ${size} bytes`, async (t) => {
        if (!mounted) return t.skip('cannot mount a tmpfs here');
        const data = randomBytes(size);
        const isFull = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOSPC' && asAptfreezeError(e).code === 'DISK_FULL';
        await assert.rejects(fullStore.putStream(chunked(data, 16_384), { sha256: sha(data), size }), isFull);
        await assert.rejects(fullStore.putBuffer(data), isFull);
        assert.deepEqual(await readdir(fsBlobFiles(fullStore).tmp), []);
        assert.equal(await fullStore.has(sha(data)), false);
      });
    }
  });
});
