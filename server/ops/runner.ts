import type { Db } from '../catalog/open.ts';
import type { Repo } from '../catalog/repo.ts';
import type { Logger } from '../log.ts';
import { AptfreezeError } from '../errors.ts';
import type { Outcome, OperationView, Progress, SubmitRequest } from './operation.ts';
import type { ExecutionEvents, Executor, Finished } from './executor.ts';
import { OpsRepo } from '../catalog/operations.ts';
import { operationDef } from './registry.ts';

export interface RunnerDeps {
  db: Db;
  repo: Repo;
  log: Logger;
  now: () => Date;
}

interface Live {
  kind: string;
  resources: string[];
  record?: (r: unknown) => unknown;
  waiters: Array<(o: Outcome) => void>;
  watchers: Set<(p: Progress) => void>;
}

/**
 * The one operations runner of a data directory (the daemon's primary, or the
 * CLI when no daemon runs). submit() is synchronous up to the answer: the
 * parameters are checked, the resources taken (all or none, db/repo.ts
 * tryLock) and the operation recorded in one transaction; a resource held by
 * another operation (this process or another) is CONFLICT at once, recorded
 * as a failed operation, never a wait. The executor then runs it; its
 * outcome is recorded and its resources released in one transaction.
 */
export class OperationRunner {
  readonly ops: OpsRepo;
  private readonly live = new Map<number, Live>();
  private readonly executor: Executor;
  private crashNext: { kind: string; at: string } | null = null;

  constructor(
    private readonly deps: RunnerDeps,
    makeExecutor: (events: ExecutionEvents) => Executor,
  ) {
    this.ops = new OpsRepo(deps.db);
    this.executor = makeExecutor({
      started: (id) => this.ops.markRunning(id, this.deps.now()),
      progress: (id, p) => this.progress(id, p),
      finished: (id, f) => this.finish(id, f),
      crashed: (ids, message, recover) => this.afterCrash(ids, message, recover),
    });
    this.failInterrupted();
  }

  /** Records and starts an operation; returns it as recorded (pending). CONFLICT, BAD_REQUEST as thrown. */
  submit(req: SubmitRequest): OperationView {
    const def = operationDef(req.kind);
    const params = def.params(req.params) as unknown;
    const resources = def.resources(params);
    const archive = def.archive?.(params);
    const now = this.deps.now();
    const pid = process.pid;
    const taken = this.deps.db
      .transaction(() => {
        const lock = this.deps.repo.tryLock(resources, pid, now);
        if (!lock.ok) {
          const message = `${req.kind}${archive ? ` of ${archive}` : ''}: ${lock.busy.map((b) => `${b.name} is held by ${b.pid === pid ? 'a running operation' : `process ${b.pid}`} since ${b.acquired_at}`).join('; ')}`;
          const error = { code: 'CONFLICT', message };
          return { id: this.ops.insert({ kind: req.kind, archive, actor: req.actor, state: 'failed', resources, pid, now, error }), error };
        }
        return { id: this.ops.insert({ kind: req.kind, archive, actor: req.actor, state: 'pending', resources, pid, now }) };
      })
      .immediate();
    if (taken.error) throw new AptfreezeError('CONFLICT', taken.error.message, { details: { operation: String(taken.id) } });
    const id = taken.id;
    this.live.set(id, { kind: req.kind, resources, record: def.record, waiters: [], watchers: new Set() });
    const view = this.ops.get(id)!;
    const crash = this.crashNext?.kind === req.kind ? this.crashNext.at : undefined;
    if (crash) this.crashNext = null;
    this.executor.start({ id, kind: req.kind, params, actor: req.actor, ...(crash ? { testCrashAt: crash } : {}) });
    return view;
  }

  /** The operation's end (immediately if it has ended). */
  whenDone(id: string): Promise<Outcome> {
    const live = this.live.get(Number(id));
    if (!live) {
      const op = this.ops.get(Number(id));
      if (!op) return Promise.reject(new AptfreezeError('NOT_FOUND', `no operation ${id}`));
      return Promise.resolve({ op });
    }
    return new Promise((resolve) => live.waiters.push(resolve));
  }

  /** Follows an operation's progress until it ends; returns the unsubscribe function. */
  watch(id: string, fn: (p: Progress) => void): () => void {
    const live = this.live.get(Number(id));
    if (!live) return () => {};
    live.watchers.add(fn);
    return () => live.watchers.delete(fn);
  }

  get(id: string): OperationView | undefined {
    return /^\d{1,15}$/.test(id) ? this.ops.get(Number(id)) : undefined;
  }

  /** Operations still pending or running in this runner. */
  running(): number {
    return this.live.size;
  }

  /**
   * TEST ONLY: the next operation of this kind crashes its thread with an
   * uncaught throw at `at` (a snapshot step, or `start`). Inert unless a test calls it.
   */
  injectCrashForTest(kind: string, at = 'start'): void {
    this.crashNext = { kind, at };
  }

  async close(): Promise<void> {
    await this.executor.close();
  }

  private progress(id: number, p: Progress): void {
    const live = this.live.get(id);
    if (!live) return;
    this.ops.setProgress(id, p);
    for (const w of live.watchers) w(p);
  }

  private finish(id: number, f: Finished): void {
    const live = this.live.get(id);
    if (!live) return;
    const now = this.deps.now();
    const kept = f.result === undefined || !live.record ? f.result : live.record(f.result);
    try {
      this.deps.db.transaction(() => {
        this.ops.finish(id, now, { result: kept, error: f.error });
        this.deps.repo.unlock(live.resources, process.pid);
      }).immediate();
    } catch (e) {
      // The database can fail too (a full disk): the waiter still gets the operation's own outcome.
      this.deps.log.error({ operation: id, err: (e as Error).message }, 'could not record the end of an operation');
    }
    this.live.delete(id);
    if (f.error?.code === 'INTERNAL') this.deps.log.error({ operation: id, kind: live.kind, code: f.error.code, err: f.error.message }, 'operation failed');
    let op: OperationView;
    try {
      op = this.ops.get(id)!;
    } catch {
      op = { id: String(id), kind: live.kind, actor: '', state: f.error ? 'failed' : 'succeeded', progress: {}, createdAt: now.toISOString(), ...(f.error ? { error: f.error } : {}) };
    }
    const outcome: Outcome = { op, result: f.result };
    void this.answered.then(() => {
      for (const w of live.waiters) w(outcome);
    });
  }

  /** Resolved when those waiting for an operation may be answered (after a crash, once recovery is done). */
  private answered: Promise<void> = Promise.resolve();

  /**
   * A crashed thread's operations are recorded failed and their locks released, then any lock
   * its code took itself (a gc sweep's); recovery runs; then their waiters are answered.
   */
  private async afterCrash(ids: number[], message: string, recover: () => Promise<void>): Promise<void> {
    let open!: () => void;
    this.answered = new Promise<void>((r) => (open = r));
    try {
      for (const id of ids) this.finish(id, { error: { code: 'INTERNAL', message } });
      const held = new Set([...this.live.values()].flatMap((l) => l.resources));
      const dropped = this.deps.repo.unlockAllOf(process.pid, held);
      if (dropped.length) this.deps.log.warn({ locks: dropped }, 'released the locks a crashed operation held');
      await recover();
    } finally {
      open();
    }
  }

  /** Operations a previous runner left pending or running (its process died, or it was this one before a restart). */
  private failInterrupted(): void {
    const now = this.deps.now();
    for (const r of this.ops.interrupted(process.pid, new Set(this.live.keys()))) {
      this.deps.db.transaction(() => {
        this.ops.finish(r.id, now, { error: { code: 'INTERNAL', message: 'interrupted: the process running it ended' } });
        this.deps.repo.unlock(r.resources, r.pid);
      }).immediate();
    }
  }
}
