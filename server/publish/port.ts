// The PublishedTree port (ARCHITECTURE.md "Ports"): everything the rest of the service does to
// the published tree, and the only code that knows its layout (`.pools`, `.staging-`, `.tmp-`,
// layout.ts) and builds its paths. The filesystem implementation is the Publisher (tree.ts, with
// reads.ts, tag-tree.ts, pool-gc.ts, signed.ts); hard links into the store stay an optimisation
// inside it. test/ownership.test.ts fails when a path of the tree is built outside server/publish/
// (rule `published-tree-path`); fsck, the filesystem backend's own checker, is its one reader.
//
// On the object store (issue 15) the writer keeps this tree as its working copy and exports each
// committed serial (server/s3/); the readers serve the export, not this port.
import type { PublishedReads } from './reads.ts';
import type { TagTrees } from './tag-tree.ts';
import type { PoolTrees } from './pool-gc.ts';
import type { SignedFiles, SignedName } from './signed.ts';
import type { PendingPool, PoolPlan, TreeFile, TreeLink } from './tree.ts';
import type { TreeSource } from '../http/tree-source.ts';

export interface PublishedTree {
  // Stage a serial, commit it.
  /** Builds a serial's tree aside (its files, its links to the store, its pool part). */
  stage(archive: string, serial: string, links: TreeLink[], files: TreeFile[], pool?: PoolPlan | null): Promise<{ dir: string; createdPool: string | null }>;
  /** Renames a staged serial into place, durable before the catalog records it. */
  commit(archive: string, serial: string, stagingDir: string): Promise<void>;
  /** Drops a staged tree or a pool tree being built (a run that failed before its commit). */
  discard(stagingDir: string): Promise<void>;
  /** Removes a committed serial's tree (a run failed after its commit; gc collecting it). */
  removeSerial(archive: string, serial: string): Promise<void>;
  /** Removes the serial trees `drop` names; returns `<archive>/<serial>` of each. */
  removeSerials(archive: string, drop: (serial: string) => boolean): Promise<string[]>;

  // Extend and prune pool trees.
  beginPool(archive: string, all: TreeLink[]): PendingPool;
  poolIdOf(archive: string, serial: string): string | null;
  discardPool(archive: string, id: string): Promise<void>;
  removeOrphanPools(archive: string): Promise<string[]>;
  readonly poolTrees: PoolTrees;

  // Move latest.
  setLatest(archive: string, serial: string | null, now: Date): Promise<void>;
  latestOf(archive: string): string | null;

  // Replace signed Release files.
  readSigned(archive: string, serial: string, suite: string, name: SignedName): Promise<string>;
  replaceSignedSync(archive: string, serial: string, suites: readonly SignedFiles[]): void;
  replaceFile(archive: string, serial: string, relPath: string, data: string | Uint8Array): Promise<void>;

  // Outside the serials: tags, kept .buildinfo files.
  readonly tags: TagTrees;
  writeExtra(rel: string, data: Uint8Array): Promise<void>;

  // Walk, read, open a file for serving.
  readonly reads: PublishedReads;
  servingSource(archives: Iterable<string>): TreeSource;

  /** Start-up recovery: staging leftovers removed, `keep` decides which serial trees stay. */
  recover(skip: (archive: string) => boolean, keep: (archive: string, serial: string) => boolean): Promise<string[]>;
}
