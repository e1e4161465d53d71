/**
 * An operation: one mutation of the data directory (snapshot, freeze, thaw,
 * gc, fsck --repair, token create/revoke, tag create/delete, upload, overlay
 * suite create/merge/reset). Each is a
 * small object: its parameters checked, the resources it holds while it runs,
 * and a run function over the services. The runner (runner.ts) takes the
 * resources (CONFLICT when another holds one: never a race, never a wait),
 * records the operation, runs it where a crash is contained (executor.ts) and
 * records its outcome. See ARCHITECTURE.md, "How to add an operation".
 */
import type { Services } from '../services.ts';

export type OperationState = 'pending' | 'running' | 'succeeded' | 'failed';

/** What a run may report while it goes: small JSON counts, shown by GET /api/operations/<id> and the CLI's bar. */
export type Progress = Record<string, string | number | boolean | null>;

export interface OperationContext {
  /** Who asked (a token's name, `cli:<user>`, `schedule`). */
  actor: string;
  /** Replaces the operation's progress: throttled to a few a second, unless `urgent` (a new step, a plan). */
  progress(p: Progress, urgent?: boolean): void;
  /** Called at each named step of a snapshot (the containment test's fault hook attaches here). */
  step?: (name: string) => void | Promise<void>;
}

export interface OperationDef<P = unknown, R = unknown, D = Services> {
  kind: string;
  /** Checks the parameters (JSON from the API, the CLI or the control socket): BAD_REQUEST if malformed. */
  params(raw: unknown): P;
  /** The archive it concerns, if one (shown with the operation). */
  archive?(p: P): string | undefined;
  /** Lock names held from submission to the end: `archive:<name>` (catalog/repo.ts archiveLock), `store`, `tokens`. */
  resources(p: P): string[];
  /**
   * Operations of one runner with the same line name run one after the other, in arrival order
   * (uploads and overlay changes of one repository: dput clients send at once and expect each
   * upload processed, not refused). One submitted while another of its line holds the resources
   * is recorded pending and holds nothing until the runner hands it the resources of the one
   * before it, in the transaction that records that one's end. Anything else holding a resource
   * (a freeze, a gc sweep, another process) is CONFLICT at once, as for every operation.
   */
  line?(p: P): string;
  run(deps: D, p: P, ctx: OperationContext): Promise<R>;
  /** What the operations log keeps of the result (default all of it): never a secret. */
  record?(r: R): unknown;
}

/** An operation as GET /api/operations/<id> shows it (DESIGN.md, "Operations"). */
export interface OperationView {
  id: string;
  kind: string;
  archive?: string;
  actor: string;
  state: OperationState;
  progress: Progress;
  result?: unknown;
  error?: { code: string; message: string };
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface SubmitRequest {
  kind: string;
  params: unknown;
  actor: string;
}

/** The end of an operation: its record, and its result unredacted (for the one who waited, never stored). */
export interface Outcome {
  op: OperationView;
  result?: unknown;
}
