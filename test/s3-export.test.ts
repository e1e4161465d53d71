// The writer's export (server/s3/export.ts, reconcileArchive) on its own, without engines: a working
// copy made of plain objects (serial rows, a manifest blob, signed Release texts) and an in-memory
// catalog with the publication catalog's rules (compare-and-swap on latest, collected serials keep
// their row and lose their files). What it must do from any state it finds: publish what is missing
// oldest first, re-sign what changed, mark what was collected, and do nothing the second time. The
// same function against Ceph RGW + PostgreSQL and real processes: s3-writer-readers.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AptfreezeError } from '../server/errors.ts';
import type { SerialRow } from '../server/catalog/repo.ts';
import type { Publication, PublishedFile, PublishedSerial } from '../server/catalog/pg-publication.ts';
import { reconcileArchive, type ExportSource, type ExportTarget } from '../server/s3/export.ts';
import { sha256 } from './helpers/hash.ts';

const A = 'deb';

/** An in-memory catalog with PgPublicationCatalog's rules. */
class MemoryCatalog {
  rows = new Map<string, PublishedSerial>();
  fileRows = new Map<string, PublishedFile[]>();
  current: string | null = null;
  failNextPublish = false;

  async serials(_a: string) {
    return [...this.rows.values()];
  }
  async latest(_a: string) {
    return this.current;
  }
  async publish(p: Publication) {
    if (this.failNextPublish) {
      this.failNextPublish = false;
      throw new AptfreezeError('STORE_UNAVAILABLE', 'the catalog went away');
    }
    if (this.current !== p.expectedLatest) throw new AptfreezeError('CONFLICT', 'latest moved');
    if (this.rows.has(p.serial)) throw new AptfreezeError('CONFLICT', 'published already');
    this.rows.set(p.serial, { archive: A, serial: p.serial, publishedAt: '', frozen: p.frozen, validUntil: p.validUntil, supersededAt: null, collectedAt: null });
    this.fileRows.set(p.serial, [...p.files]);
    if (p.moveLatest !== false) this.current = p.serial;
  }
  async moveLatest(_a: string, expected: string | null, serial: string) {
    if (this.current !== expected) throw new AptfreezeError('CONFLICT', 'latest moved');
    this.current = serial;
  }
  async resign(_a: string, serial: string, state: { frozen: boolean; validUntil: string | null }, files: PublishedFile[]) {
    const r = this.rows.get(serial)!;
    Object.assign(r, state);
    const paths = new Set(files.map((f) => f.path));
    this.fileRows.set(serial, [...this.fileRows.get(serial)!.filter((f) => !paths.has(f.path)), ...files]);
  }
  async markCollected(_a: string, serials: string[]) {
    if (this.current !== null && serials.includes(this.current)) throw new AptfreezeError('CONFLICT', 'latest');
    for (const s of serials) {
      this.rows.get(s)!.collectedAt = 'now';
      this.fileRows.delete(s);
    }
  }
  async file(_a: string, serial: string, path: string) {
    return this.fileRows.get(serial)?.find((f) => f.path === path) ?? null;
  }
  async files(_a: string, serial: string) {
    return this.fileRows.get(serial) ?? [];
  }
}

/** Objects by hash, counting the questions asked about them. */
function memoryBlobs() {
  const objects = new Map<string, Buffer>();
  const asked: string[] = [];
  return {
    objects,
    asked,
    async has(h: string) {
      asked.push(h);
      return objects.has(h);
    },
    async putStream(source: AsyncIterable<Uint8Array>, expected?: { sha256?: string; size?: number }) {
      const chunks: Buffer[] = [];
      for await (const c of source) chunks.push(Buffer.from(c));
      const data = Buffer.concat(chunks);
      assert.equal(sha256(data), expected?.sha256, 'the bytes put are those of the hash');
      objects.set(sha256(data), data);
      return { sha256: sha256(data), size: data.length };
    },
  };
}

/** A working copy: serial rows, their manifests and pool files in a local store, their signed texts. */
function workingCopy() {
  const store = new Map<string, Buffer>();
  const put = (b: Buffer | string) => {
    const data = Buffer.from(b);
    store.set(sha256(data), data);
    return { sha256: sha256(data), size: data.length };
  };
  const rows: SerialRow[] = [];
  const signed = new Map<string, string>();
  const shared = put(Buffer.alloc(5000, 1)); // a pool file every serial lists
  const add = (serial: string, n: number) => {
    const own = put(`Package: p${n}\n`);
    const manifest = put(`${shared.sha256} ${shared.size} pool/main/s/shared.deb\n${own.sha256} ${own.size} dists/stable/main/binary-amd64/Packages\n`);
    rows.push({ archive: A, serial, state: 'live', created_at: '', published_at: '', valid_until: '2026-12-20T00:00:00.000Z', frozen_until: null, freeze_reason: null, frozen_by: null, frozen_at: null, collected_at: null, manifest_sha256: manifest.sha256, stats: null, error: null });
    for (const name of ['Release', 'Release.gpg', 'InRelease']) signed.set(`${serial}/${name}`, `${name} of ${serial} valid until 2026-12-20\n`);
  };
  const src: ExportSource = {
    repo: {
      listSerials: (_a, o) => rows.filter((r) => r.state === 'live' || r.state === 'frozen' || (o?.includeCollected && r.state === 'collected')).sort((x, y) => (x.serial < y.serial ? 1 : -1)),
      latestSerial: () => rows.filter((r) => r.state === 'live' || r.state === 'frozen').map((r) => r.serial).sort().pop() ?? null,
      suiteSnapshots: () => [{ suite: 'stable', release_date: '', upstream_sha256: '', signers: '[]', fetched_at: '' }],
    },
    store: {
      read: async (h) => store.get(h)!,
      readStream: async function* (h) {
        yield store.get(h)!;
      },
    },
    publisher: { readSigned: async (_a, serial, _suite, name) => signed.get(`${serial}/${name}`)! },
  };
  return { src, rows, signed, add, shared };
}

describe('the export of a working copy to the publication catalog (reconcileArchive)', () => {
  it('publishes every missing serial oldest first, moves latest to the newest, and does nothing the second time', async () => {
    const w = workingCopy();
    ['2026120601', '2026120602', '2026120603'].forEach((s, i) => w.add(s, i));
    const catalog = new MemoryCatalog();
    const blobs = memoryBlobs();
    const dst: ExportTarget = { blobs, catalog };
    const first = await reconcileArchive(w.src, dst, A);
    assert.deepEqual(first.published, ['2026120601', '2026120602', '2026120603']);
    assert.equal(catalog.current, '2026120603');
    assert.equal(first.uploaded, 1 + 3 + 3 * 3, 'the shared pool file once, each Packages, each serial\'s three signed files');
    for (const f of await catalog.files(A, '2026120603')) assert.ok(blobs.objects.has(f.sha256), f.path);
    const again = await reconcileArchive(w.src, dst, A);
    assert.deepEqual([again.published, again.resigned, again.collected, again.uploaded], [[], [], [], 0]);
  });

  it('does not ask the object store about the blobs the catalog\'s latest already references', async () => {
    const w = workingCopy();
    w.add('2026120601', 0);
    const catalog = new MemoryCatalog();
    const blobs = memoryBlobs();
    await reconcileArchive(w.src, { blobs, catalog }, A);
    blobs.asked.length = 0;
    w.add('2026120602', 1);
    await reconcileArchive(w.src, { blobs, catalog }, A);
    assert.equal(blobs.asked.includes(w.shared.sha256), false);
    assert.ok(blobs.asked.length > 0);
  });

  it('re-signs a serial whose frozen flag, Valid-Until and signed files changed, uploading the new signed files first', async () => {
    const w = workingCopy();
    w.add('2026120601', 0);
    w.add('2026120602', 1);
    const catalog = new MemoryCatalog();
    const blobs = memoryBlobs();
    await reconcileArchive(w.src, { blobs, catalog }, A);
    Object.assign(w.rows[0]!, { state: 'frozen', valid_until: '2027-06-30T00:00:00.000Z' });
    for (const name of ['Release', 'Release.gpg', 'InRelease']) w.signed.set(`2026120601/${name}`, `${name} of 2026120601 frozen until 2027-06-30\n`);
    const r = await reconcileArchive(w.src, { blobs, catalog }, A);
    assert.deepEqual(r.resigned, ['2026120601']);
    assert.equal(r.uploaded, 3);
    const row = catalog.rows.get('2026120601')!;
    assert.deepEqual([row.frozen, row.validUntil], [true, '2027-06-30T00:00:00.000Z']);
    const inRelease = (await catalog.file(A, '2026120601', 'dists/stable/InRelease'))!;
    assert.equal(blobs.objects.get(inRelease.sha256)!.toString(), 'InRelease of 2026120601 frozen until 2027-06-30\n');
    assert.equal(catalog.current, '2026120602', 'latest untouched');
  });

  it('marks the serials the working copy collected, never the latest', async () => {
    const w = workingCopy();
    ['2026120601', '2026120602', '2026120603'].forEach((s, i) => w.add(s, i));
    const catalog = new MemoryCatalog();
    await reconcileArchive(w.src, { blobs: memoryBlobs(), catalog }, A);
    w.rows[0]!.state = 'collected';
    w.rows[1]!.state = 'collected';
    const r = await reconcileArchive(w.src, { blobs: memoryBlobs(), catalog }, A);
    assert.deepEqual(r.collected, ['2026120601', '2026120602']);
    assert.ok(catalog.rows.get('2026120601')!.collectedAt);
    assert.deepEqual(await catalog.files(A, '2026120601'), []);
    assert.equal(catalog.current, '2026120603');
  });

  it('after a publication that failed at its catalog transaction, the next run publishes it without uploading again', async () => {
    const w = workingCopy();
    w.add('2026120601', 0);
    const catalog = new MemoryCatalog();
    const blobs = memoryBlobs();
    await reconcileArchive(w.src, { blobs, catalog }, A);
    w.add('2026120602', 1);
    catalog.failNextPublish = true;
    await assert.rejects(reconcileArchive(w.src, { blobs, catalog }, A), (e: AptfreezeError) => e.code === 'STORE_UNAVAILABLE');
    assert.equal(catalog.current, '2026120601', 'readers stay on the previous latest');
    const r = await reconcileArchive(w.src, { blobs, catalog }, A);
    assert.deepEqual(r.published, ['2026120602']);
    assert.equal(r.uploaded, 0, 'every object was up already');
    assert.equal(catalog.current, '2026120602');
  });

  it('adds a serial older than the catalog\'s latest beside it, and moves latest to the working copy\'s when the catalog points elsewhere', async () => {
    const w = workingCopy();
    w.add('2026120601', 0);
    w.add('2026120603', 2);
    const catalog = new MemoryCatalog();
    const blobs = memoryBlobs();
    await reconcileArchive(w.src, { blobs, catalog }, A);
    w.add('2026120602', 1); // exported late (e.g. restored from a backup)
    const r = await reconcileArchive(w.src, { blobs, catalog }, A);
    assert.deepEqual(r.published, ['2026120602']);
    assert.equal(catalog.current, '2026120603', 'an older serial does not take latest');
    catalog.current = '2026120601'; // the catalog's latest elsewhere (another writer's mistake, a restore)
    const back = await reconcileArchive(w.src, { blobs, catalog }, A);
    assert.equal(back.latest, '2026120603');
    assert.equal(catalog.current, '2026120603');
  });
});
