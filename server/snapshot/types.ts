import type { Config } from '../config/load.ts';
import type { ArchiveConfig } from '../config/schema.ts';
import type { Repo } from '../catalog/repo.ts';
import type { BlobStore } from '../store/port.ts';
import type { TreeLink, PoolPlan, PendingPool } from '../publish/tree.ts';
import type { PublishedTree } from '../publish/port.ts';
import type { ServiceKey } from '../sign/key.ts';
import type { Logger } from '../log.ts';
import type { Fetcher } from '../mirror/fetch.ts';
import type { UpstreamRelease } from '../mirror/upstream.ts';
import type { IndexGroup } from '../mirror/plan.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import type { PoolRef } from './parse-index.ts';
import type { ProvenanceUpdate } from '../provenance/record.ts';

/**
 * The types the snapshot's steps hand each other (plan → indices → parse → pool →
 * proof → build → sign → publish). Each step module imports these, never the
 * orchestrator (run.ts); each step returns a new value and changes none it was given.
 */

export interface SnapshotContext {
  config: Config;
  repo: Repo;
  store: BlobStore;
  publisher: PublishedTree;
  key: ServiceKey;
  now: () => Date;
  log: Logger;
  /** Called at each named step (crash tests hook kill points here). */
  step?: (name: string) => void | Promise<void>;
  /** Download progress (bytes) for a terminal display. */
  onBytes?: (n: number) => void;
  onPlan?: (info: { poolFiles: number; poolBytes: number }) => void;
  /** A pool file fetched and stored (operation progress counts). */
  onPoolFile?: () => void;
}

export interface SnapshotStats {
  suites: number;
  indexFiles: number;
  indexFetched: number;
  /** Indices brought up to date by upstream's pdiffs (not fetched whole). */
  indexPatched?: number;
  poolFiles: number;
  poolFetched: number;
  bytesFetched: number;
  requests: number;
  retries: number;
  ms: number;
}

export interface SnapshotResult {
  archive: string;
  serial: string;
  validUntil: string;
  stats: SnapshotStats;
}

/** What every step of one run shares: the context, the archive, and the run's one fetcher. */
export interface RunDeps {
  ctx: SnapshotContext;
  archive: ArchiveConfig;
  fetcher: Fetcher;
}

/** plan: one suite's verified upstream Release and the index files it needs. */
export interface SuitePlan {
  up: UpstreamRelease;
  groups: IndexGroup[];
}

/** plan's output. */
export interface SnapshotPlan {
  /** The archive's configured keyring as read (it goes into the proof). */
  keyringBytes: Buffer;
  suites: SuitePlan[];
  serial: string;
  createdAt: Date;
}

/** indices' output: per suite (in plan order), the variants upstream actually served (404s skipped), by path. */
export interface FetchedIndices {
  have: Array<ReadonlyMap<string, ReleaseFileEntry>>;
  /** Index variants looked at (stored or fetched). */
  indexFiles: number;
  indexFetched: number;
  indexPatched: number;
  /** Bytes fetched for pdiffs (outside the fetcher's count). */
  patchBytes: number;
}

/** What a new serial needs of the previous one: its refs heads by index, its pool tree, its files outside pool/. */
export interface PreviousPool {
  heads: ReadonlyMap<string, string>;
  poolId: string | null;
  poolFiles: number;
  outsidePool: TreeLink[];
}

/** Served replacements of one suite's filtered indices. */
export interface SuiteFiltered {
  /** Served copies, by upstream path. */
  files: ReadonlyMap<string, ReleaseFileEntry>;
  /** Index groups (paths without compression suffix) served filtered. */
  bases: ReadonlySet<string>;
}

/** parse's output. */
export interface ParsedSnapshot {
  /** The archive's newest published serial before this one. */
  previousSerial: string | null;
  previous: PreviousPool | null;
  /** `<suite>/<index base>` -> the refs blob of the pool files that index lists. */
  heads: ReadonlyMap<string, string>;
  /** Per suite (in plan order). */
  filtered: SuiteFiltered[];
  /** The provenance change, prepared (only the ranges to open and close are kept). */
  provenance: ProvenanceUpdate;
}

/** pool's output. */
export interface PoolResult {
  /** The pool set equals the previous serial's: nothing compared, fetched or linked. */
  unchanged: boolean;
  plan: PoolPlan;
  /** Pool files of the serial. */
  poolFiles: number;
  /** Files listed by indices outside pool/ (linked at their own paths). */
  outsidePool: TreeLink[];
  /** Files fetched. */
  fetched: number;
  /** A new pool tree linked while downloading (discarded if the run fails before it is committed). */
  pending: PendingPool | null;
}

export type { SnapshotProof } from '../proof/snapshot-proof.ts';
export type { PoolRef };
