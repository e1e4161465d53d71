// The writer past one machine (issue 15): its data directory (the fs tree, the local store and the
// SQLite catalog) stays its working copy and its operations log, and every committed change is
// EXPORTED to the object store and the PostgreSQL publication catalog, which the stateless readers
// serve (`serve --role reader`). Nothing here decides anything: the working copy is the record,
// and `reconcileArchive` makes the shared catalog say the same, from whatever state it finds:
//
//   a live or frozen serial the catalog lacks   → its blobs uploaded, confirmed present, then one
//                                                 catalog transaction (publishSerial); latest moves
//                                                 when it is newer than the catalog's latest
//   a serial whose frozen flag, Valid-Until or  → its signed Release files uploaded, then the state
//   signed Release files differ                   and the new file rows in one transaction (resign)
//   a serial the working copy has collected     → markCollected (readers answer 410)
//   latest elsewhere than the working copy's    → moved by compare-and-swap
//
// It is idempotent: run after every operation that touched the archive (ops/runner.ts) and once at
// the writer's start (a writer killed between its local commit and the export catches up then).
// A writer killed anywhere in it leaves readers on the previous latest, or on the new one once the
// catalog transaction committed; the next run finishes the rest. Kill points for the crash tests
// (util/killpoint.ts): `export-upload` (after each blob put), `export-commit` (all blobs of a
// serial confirmed, before its catalog transaction), `export-resign`, `export-collect`, `export-latest`.
import { createHash } from 'node:crypto';
import type { Repo, SerialRow } from '../catalog/repo.ts';
import type { PgPublicationCatalog, PublishedFile, PublishedSerial } from '../catalog/pg-publication.ts';
import type { PgGcCatalog } from '../catalog/pg-gc.ts';
import type { BlobStore } from '../store/port.ts';
import { readManifest } from '../snapshot/manifest.ts';
import { signedNames, type SignedName } from '../publish/signed.ts';
import { killPoint } from '../util/killpoint.ts';
import { publishSerial, type SerialFile } from './publish-serial.ts';

/** The working copy, read only. */
export interface ExportSource {
  repo: Pick<Repo, 'listSerials' | 'latestSerial' | 'suiteSnapshots'>;
  /** The local (filesystem) blob store. */
  store: Pick<BlobStore, 'read' | 'readStream'>;
  publisher: { readSigned(archive: string, serial: string, suite: string, name: SignedName): Promise<string> };
}

/** The shared side: the object store and the publication catalog. */
export interface ExportTarget {
  blobs: Pick<BlobStore, 'has' | 'putStream'>;
  catalog: Pick<PgPublicationCatalog, 'serials' | 'latest' | 'publish' | 'resign' | 'markCollected' | 'file' | 'files' | 'moveLatest'> & {
    /** The object store's gc (pg-gc.ts): its epoch, taken before looking for blobs, gates the commit. */
    gc?: () => Pick<PgGcCatalog, 'epoch'>;
  };
}

export interface ReconcileReport {
  archive: string;
  published: string[];
  resigned: string[];
  collected: string[];
  /** The catalog's latest afterwards. */
  latest: string | null;
  /** Blobs put into the object store. */
  uploaded: number;
  /** What the working copy and the catalog disagree on that this run leaves alone (a serial only the catalog has). */
  notes: string[];
}

const published = (r: SerialRow) => r.state === 'live' || r.state === 'frozen';
const sameTime = (a: string | null, b: string | null) => (a === null || b === null ? a === b : Date.parse(a) === Date.parse(b));

/** Makes the shared catalog say what the working copy says about one archive (see the file header). */
export async function reconcileArchive(src: ExportSource, dst: ExportTarget, archive: string): Promise<ReconcileReport> {
  const report: ReconcileReport = { archive, published: [], resigned: [], collected: [], latest: null, uploaded: 0, notes: [] };
  // Oldest first: each publication moves latest forward, never back.
  const local = src.repo.listSerials(archive, { includeCollected: true }).reverse();
  const remote = new Map((await dst.catalog.serials(archive)).map((r) => [r.serial, r]));
  let latest = await dst.catalog.latest(archive);
  const blobs = await knownPresent(dst, archive, latest, () => report.uploaded++);

  for (const row of local) {
    if (!published(row) || remote.has(row.serial)) continue;
    const move = latest === null || row.serial > latest;
    const files = [...(await treeFiles(src, row)), ...(await signedFiles(src, row))];
    await publishSerial(blobs, dst.catalog, { archive, serial: row.serial, frozen: row.state === 'frozen', validUntil: row.valid_until, files, expectedLatest: latest, moveLatest: move }, {
      beforeCommit: () => killPoint('export-commit'),
    });
    report.published.push(row.serial);
    if (move) latest = row.serial;
  }

  for (const row of local) {
    const r = remote.get(row.serial);
    if (!published(row) || !r || r.collectedAt) continue;
    const signed = await signedFiles(src, row);
    if (!(await stateDiffers(dst, row, r, signed))) continue;
    const gcEpoch = await dst.catalog.gc?.().epoch();
    for (const f of signed) if (!(await blobs.has(f.sha256))) await blobs.putStream(bytesOf(f), { sha256: f.sha256, size: f.size });
    killPoint('export-resign');
    await dst.catalog.resign(archive, row.serial, { frozen: row.state === 'frozen', validUntil: row.valid_until }, signed.map(plain), gcEpoch);
    report.resigned.push(row.serial);
  }

  const want = src.repo.latestSerial(archive);
  if (want !== null && want !== latest) {
    const r = remote.get(want);
    if (report.published.includes(want) || (r && !r.collectedAt)) {
      killPoint('export-latest');
      await dst.catalog.moveLatest(archive, latest, want);
      latest = want;
    } else report.notes.push(`latest ${want} of the working copy is not publishable in the catalog; latest stays ${latest ?? 'unset'}`);
  }

  const collect = local.filter((row) => row.state === 'collected' && remote.has(row.serial) && !remote.get(row.serial)!.collectedAt && row.serial !== latest).map((r) => r.serial);
  if (collect.length) {
    killPoint('export-collect');
    await dst.catalog.markCollected(archive, collect);
    report.collected.push(...collect);
  }

  const mine = new Set(local.map((r) => r.serial));
  for (const s of remote.keys()) if (!mine.has(s)) report.notes.push(`serial ${s} is in the catalog but not in the working copy (left as it is)`);
  report.latest = latest;
  return report;
}

/**
 * The object store as publishSerial sees it: a blob that a serial of the catalog's latest
 * references is present (each was confirmed before its publication, and the store's gc removes only
 * objects no serial references), so a new serial with 1% churn asks about 1% of its files, not all.
 * Every put is counted, and passes the `export-upload` kill point.
 */
async function knownPresent(dst: ExportTarget, archive: string, latest: string | null, counted: () => void): Promise<Pick<BlobStore, 'has' | 'putStream'>> {
  const known = new Set(latest === null ? [] : (await dst.catalog.files(archive, latest)).map((f) => f.sha256));
  return {
    has: async (sha256) => known.has(sha256) || (await dst.blobs.has(sha256)),
    putStream: async (source, expected) => {
      const ref = await dst.blobs.putStream(source, expected);
      counted();
      killPoint('export-upload');
      return ref;
    },
  };
}

/** Every store-linked file of a serial's tree, pool files included (from its manifest), streamed from the local store. */
async function treeFiles(src: ExportSource, row: SerialRow): Promise<SerialFile[]> {
  if (!row.manifest_sha256) return [];
  const m = await readManifest(src.store as BlobStore, row.manifest_sha256); // reads through `read` only
  return m.tree.map((l) => ({
    path: l.path,
    sha256: l.sha256,
    size: l.size,
    bytes: () => src.store.read(l.sha256),
    stream: () => src.store.readStream(l.sha256),
  }));
}

/** A serial's signed Release files as they are now in the working copy (each suite's Release, Release.gpg, InRelease). */
async function signedFiles(src: ExportSource, row: SerialRow): Promise<SerialFile[]> {
  const out: SerialFile[] = [];
  for (const { suite } of src.repo.suiteSnapshots(row.archive, row.serial)) {
    for (const name of signedNames) {
      const data = Buffer.from(await src.publisher.readSigned(row.archive, row.serial, suite, name), 'utf8');
      out.push({ path: `dists/${suite}/${name}`, sha256: createHash('sha256').update(data).digest('hex'), size: data.length, bytes: async () => data });
    }
  }
  return out;
}

/** Whether the catalog's row or signed files of a serial differ from the working copy's. */
async function stateDiffers(dst: ExportTarget, row: SerialRow, r: PublishedSerial, signed: SerialFile[]): Promise<boolean> {
  if (r.frozen !== (row.state === 'frozen') || !sameTime(r.validUntil, row.valid_until)) return true;
  for (const f of signed) if ((await dst.catalog.file(row.archive, row.serial, f.path))?.sha256 !== f.sha256) return true;
  return false;
}

const plain = (f: SerialFile): PublishedFile => ({ path: f.path, sha256: f.sha256, size: f.size });
const bytesOf = (f: SerialFile): AsyncIterable<Uint8Array> => (async function* () { yield await f.bytes(); })();
