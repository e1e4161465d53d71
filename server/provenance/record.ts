import { createHash } from 'node:crypto';
import type { Db } from '../catalog/open.ts';
import type { ProvenanceIndexRow, PresenceRow, Repo } from '../catalog/repo.ts';
import { AptfreezeError } from '../errors.ts';
import type { BlobStore } from '../store/store.ts';
import { readPackagesBlob } from '../snapshot/packages-reader.ts';
import { defaults } from '../config/defaults.ts';

/** One Packages index a snapshot published, as the provenance recorder sees it. */
export interface PublishedPackagesIndex {
  suite: string;
  component: string;
  /** binary-amd64, binary-all, ... */
  archDir: string;
  /** The upstream variant that was parsed (relative to dists/<suite>/) and its sha256 in the store. */
  parsedPath: string;
  parsedSha256: string;
  /** The binary package names kept by the archive's filter, or null for all. */
  filter: ReadonlySet<string> | null;
  /** The package files the index lists (after the filter) when the snapshot parsed it already: not parsed again. */
  listed?: ListedPackage[];
}

/** One package file of a Packages index, as provenance records it. */
export type ListedPackage = Pick<PresenceRow, 'package' | 'version' | 'architecture' | 'sha256' | 'size' | 'filename'>;

export interface ProvenanceInput {
  /** Read before the publish transaction (the snapshot lock keeps this archive's rows still meanwhile). */
  repo: Repo;
  archive: string;
  serial: string;
  /** The archive's newest published serial before this one, or null. */
  previousSerial: string | null;
  indices: PublishedPackagesIndex[];
  /** Cap on a decompressed index read here (the configured `fetch.maxDecompressedBytes`); default: the configuration's default. */
  maxBytes?: number;
}

/** A prepared provenance update: run it inside the transaction that publishes the serial. */
export type ProvenanceUpdate = ((db: Db) => void) & { stats: ProvenanceStats };

/** What the cost of one provenance update was (for logs and the benchmark). */
export interface ProvenanceStats {
  indices: number;
  /** Indices unchanged since the previous serial: one row updated each, nothing parsed. */
  unchanged: number;
  /** Indices parsed and compared with their open ranges. */
  parsed: number;
  opened: number;
  closed: number;
}

type PresenceKeyed = Omit<PresenceRow, 'id' | 'last_serial'>;

interface IndexPlan {
  row: ProvenanceIndexRow;
  /** The index's last_serial this plan was made against (null: a new index). */
  expectLast: string | null;
  close: number[];
  closeAt: string | null;
  open: PresenceKeyed[];
}

/**
 * Prepares the provenance update of one snapshot (async: reads the changed
 * indices from the store) and returns a synchronous step that the snapshot
 * runs inside the database transaction that publishes the serial.
 *
 * Presence is kept as ranges per (index, package file). Work is proportional
 * to change: an index whose parsed upstream file (and filter) is the one the
 * previous serial recorded only moves its last_serial, which extends every
 * open range of it at once; a changed index is parsed and compared with its
 * open ranges: ranges of files no longer listed close at the previous serial,
 * new files open a range at this one. An index absent from a snapshot keeps
 * its open ranges ending at its last_serial; if it comes back, they are closed
 * there and new ones opened.
 */
export async function prepareProvenance(store: BlobStore, input: ProvenanceInput): Promise<ProvenanceUpdate> {
  const { repo, archive, serial, previousSerial } = input;
  const current = new Map(repo.provenanceIndices(archive).map((r) => [keyOf(r.suite, r.component, r.arch_dir), r]));
  const stats: ProvenanceStats = { indices: input.indices.length, unchanged: 0, parsed: 0, opened: 0, closed: 0 };
  const plans: IndexPlan[] = [];
  for (const idx of input.indices) {
    const cur = current.get(keyOf(idx.suite, idx.component, idx.archDir));
    const row: ProvenanceIndexRow = {
      archive,
      suite: idx.suite,
      component: idx.component,
      arch_dir: idx.archDir,
      parsed_path: idx.parsedPath,
      parsed_sha256: idx.parsedSha256,
      filter_key: filterKey(idx.filter),
      last_serial: serial,
    };
    const plan: IndexPlan = { row, expectLast: cur?.last_serial ?? null, close: [], closeAt: null, open: [] };
    plans.push(plan);
    const continuous = cur !== undefined && previousSerial !== null && cur.last_serial === previousSerial;
    if (continuous && cur.parsed_sha256 === row.parsed_sha256 && cur.parsed_path === row.parsed_path && cur.filter_key === row.filter_key) {
      stats.unchanged++;
      continue;
    }
    stats.parsed++;
    const listed = await listedFiles(store, idx, input.maxBytes ?? defaults.fetch.maxDecompressedBytes);
    if (continuous) {
      // Compare with the open ranges: keep what is still listed, close what is gone.
      plan.closeAt = previousSerial;
      for (const [id, filename, sha256, pkg, version, architecture] of repo.openPresenceKeys(archive, idx.suite, idx.component, idx.archDir)) {
        if (!takeListed(listed, filename, sha256, pkg, version, architecture)) plan.close.push(id);
      }
    } else if (cur) {
      // The index was not in the previous serial: its open ranges ended at its own last serial.
      plan.closeAt = cur.last_serial;
      plan.close = repo.openPresence(archive, idx.suite, idx.component, idx.archDir).map((r) => r.id);
    }
    plan.open = [...listed.values()].flat().map((p) => ({ archive, suite: idx.suite, component: idx.component, arch_dir: idx.archDir, ...p, first_serial: serial }));
    stats.opened += plan.open.length;
    stats.closed += plan.close.length;
  }

  const apply = (db: Db) => {
    void db; // the repo's handle is the same connection, inside the same transaction
    const now = new Map(repo.provenanceIndices(archive).map((r) => [keyOf(r.suite, r.component, r.arch_dir), r]));
    for (const p of plans) {
      const seen = now.get(keyOf(p.row.suite, p.row.component, p.row.arch_dir))?.last_serial ?? null;
      if (seen !== p.expectLast) {
        throw new AptfreezeError('CONFLICT', `provenance of ${archive} ${p.row.suite} ${p.row.component}/${p.row.arch_dir} changed while serial ${serial} was recorded`);
      }
      if (p.close.length) repo.closePresence(p.close, p.closeAt!);
      if (p.open.length) repo.openPresenceRanges(p.open);
      repo.setProvenanceIndex(p.row);
    }
  };
  return Object.assign(apply, { stats });
}

function keyOf(suite: string, component: string, archDir: string): string {
  return `${suite}\0${component}\0${archDir}`;
}

function presenceKey(r: Pick<PresenceRow, 'package' | 'version' | 'architecture' | 'sha256' | 'filename'>): string {
  return `${r.package}\0${r.version}\0${r.architecture}\0${r.sha256}\0${r.filename}`;
}

function filterKey(filter: ReadonlySet<string> | null): string {
  if (!filter) return '';
  return createHash('sha256').update([...filter].sort().join('\n')).digest('hex');
}

/**
 * The package files an index lists (after the archive's filter), by file name: the name strings
 * are those the snapshot holds already, so the map costs its entries only (60,000 at Debian
 * scale). The same file listed under two names is an array.
 */
type Listed = Map<string, ListedPackage | ListedPackage[]>;

/** Removes and reports the listed file matching an open range's presence key. */
function takeListed(listed: Listed, filename: string, sha256: string, pkg: string, version: string, architecture: string): boolean {
  const v = listed.get(filename);
  if (!v) return false;
  const same = (p: ListedPackage) => p.sha256 === sha256 && p.package === pkg && p.version === version && p.architecture === architecture;
  if (!Array.isArray(v)) {
    if (!same(v)) return false;
    listed.delete(filename);
    return true;
  }
  const i = v.findIndex(same);
  if (i < 0) return false;
  v.splice(i, 1);
  if (!v.length) listed.delete(filename);
  return true;
}

function addListed(listed: Listed, p: ListedPackage): void {
  const v = listed.get(p.filename);
  if (!v) listed.set(p.filename, p);
  else if (Array.isArray(v)) {
    if (!v.some((q) => presenceKey(q) === presenceKey(p))) v.push(p);
  } else if (presenceKey(v) !== presenceKey(p)) listed.set(p.filename, [v, p]);
}

async function listedFiles(store: BlobStore, idx: PublishedPackagesIndex, maxBytes: number): Promise<Listed> {
  // Rows are made only for the files that open a range (a 1% churn: ~1% of them).
  const out: Listed = new Map();
  if (idx.listed) {
    for (const p of idx.listed) addListed(out, p);
    return out;
  }
  // The one Packages reader, under the configured cap. It reads only the selected stanzas' files; those
  // lacking Filename, Size or SHA256 were refused by the snapshot that first parsed this index.
  const select = (name: string) => name !== '' && (!idx.filter || idx.filter.has(name));
  for await (const batch of readPackagesBlob(store, { sha256: idx.parsedSha256, path: idx.parsedPath }, { select, maxBytes })) {
    for (const e of batch) {
      if (!select(e.package)) continue;
      addListed(out, { package: e.package, version: e.version, architecture: e.architecture, sha256: e.sha256, size: e.size, filename: e.filename });
    }
  }
  return out;
}
