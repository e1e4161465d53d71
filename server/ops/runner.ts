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
  /**
   * Past one machine (s3/exporter.ts): called after an operation ran (succeeded, or failed with part
   * of its work committed: a gc that collected some serials before its sweep failed), before its
   * end is recorded and its resources released, so the readers' catalog has the change when it is
   * reported done and no other operation on those archives runs meanwhile. Never throws.
   */
  exporter?: { afterOperation(op: { kind: string; resources: readonly string[] }): Promise<void> };
}

interface Live {
  kind: string;
  resources: string[];
  record?: (r: unknown) => unknown;
  waiters: Array<(o: Outcome) => void>;
  watchers: Set<(p: Progress) => void>;
  /** Its line (OperationDef.line), if its kind has one. */
  line?: string;
}

/** An operation waiting in a line: recorded pending, holding nothing, dispatched when its turn comes. */
interface Waiting {
  id: number;
  kind: string;
  params: unknown;
  actor: string;
  resources: string[];
}

/** A line: the operation holding its resources now, and those waiting behind it in arrival order. */
interface Line {
  holder: number;
  waiting: Waiting[];
}

/**
 * The one operations runner of a data directory (the daemon's primary, or the
 * CLI when no daemon runs). submit() is synchronous up to the answer: the
 * parameters are checked, the resources taken (all or none, catalog/repo.ts
 * tryLock) and the operation recorded in one transaction; a resource held by
 * another operation (this process or another) is CONFLICT at once, recorded
 * as a failed operation, never a wait. The executor then runs it; its
 * outcome is recorded and its resources released in one transaction.
 */
export class OperationRunner {
  readonly ops: OpsRepo;
  private readonly live = new Map<number, Live>();
  private readonly lines = new Map<string, Line>();
  /** While a crash is recovered: the lines whose holder crashed, handed on after recovery. */
  private stalled: string[] | null = null;
  private closing = false;
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
      finished: (id, f) => this.exportThenFinish(id, f),
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
    const lineName = def.line?.(params);
    const now = this.deps.now();
    const pid = process.pid;
    const line = lineName === undefined ? undefined : this.lines.get(lineName);
    if (line) {
      // Behind an operation of its line: recorded pending, it holds nothing until its turn (finish()).
      const id = this.deps.db.transaction(() => this.ops.insert({ kind: req.kind, archive, actor: req.actor, state: 'pending', resources, pid, now })).immediate();
      line.waiting.push({ id, kind: req.kind, params, actor: req.actor, resources });
      this.live.set(id, { kind: req.kind, resources, record: def.record, waiters: [], watchers: new Set(), line: lineName });
      return this.ops.get(id)!;
    }
    // Relaxed (not flushed on its own): the operation's first durable commit flushes it (catalog/operations.ts).
    const taken = this.ops.relaxed(() => this.deps.db
      .transaction(() => {
        const lock = this.deps.repo.tryLock(resources, pid, now);
        if (!lock.ok) {
          const message = `${req.kind}${archive ? ` of ${archive}` : ''}: ${lock.busy.map((b) => `${b.name} is held by ${b.pid === pid ? 'a running operation' : `process ${b.pid}`} since ${b.acquired_at}`).join('; ')}`;
          const error = { code: 'CONFLICT', message };
          return { id: this.ops.insert({ kind: req.kind, archive, actor: req.actor, state: 'failed', resources, pid, now, error }), error };
        }
        return { id: this.ops.insert({ kind: req.kind, archive, actor: req.actor, state: 'pending', resources, pid, now }) };
      })
      .immediate());
    if (taken.error) throw new AptfreezeError('CONFLICT', taken.error.message, { details: { operation: String(taken.id) } });
    const id = taken.id;
    this.live.set(id, { kind: req.kind, resources, record: def.record, waiters: [], watchers: new Set(), ...(lineName === undefined ? {} : { line: lineName }) });
    if (lineName !== undefined) this.lines.set(lineName, { holder: id, waiting: [] });
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

  /** Gets the executor ready (the daemon's operations thread started and its data directory open). */
  async warm(): Promise<void> {
    await this.executor.warm?.();
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.executor.close();
    await Promise.allSettled([...this.exporting]);
    // Operations still waiting in a line never started: failed as interrupted, as a restart would record them.
    const error = { code: 'INTERNAL', message: 'interrupted: the daemon stopped before it started' };
    for (const [name, line] of this.lines) {
      this.lines.delete(name);
      for (const w of line.waiting.splice(0)) {
        try {
          this.deps.db.transaction(() => this.ops.finish(w.id, this.deps.now(), { error })).immediate();
        } catch {
          // the next runner records it interrupted (failInterrupted)
        }
        this.finishWaiting(w.id, error);
      }
    }
  }

  private progress(id: number, p: Progress): void {
    const live = this.live.get(id);
    if (!live) return;
    this.ops.setProgress(id, p);
    for (const w of live.watchers) w(p);
  }

  /** Exports still running (their operations are recorded once they end). */
  private readonly exporting = new Set<Promise<void>>();

  /** The one place an operation's end goes through: the export (if any; not while the runner stops), then finish. */
  private exportThenFinish(id: number, f: Finished): void {
    const live = this.live.get(id);
    const exporter = this.deps.exporter;
    if (!live || !exporter || this.closing) return this.finish(id, f);
    const run = exporter
      .afterOperation({ kind: live.kind, resources: live.resources })
      .catch((e: Error) => this.deps.log.error({ operation: id, err: e.message }, 'export after the operation failed'))
      .then(() => this.finish(id, f))
      .catch((e: Error) => this.deps.log.error({ operation: id, err: e.message }, 'could not record the end of an operation'))
      .finally(() => this.exporting.delete(run));
    this.exporting.add(run);
  }

  private finish(id: number, f: Finished): void {
    const live = this.live.get(id);
    if (!live) return;
    const now = this.deps.now();
    const kept = f.result === undefined || !live.record ? f.result : live.record(f.result);
    const line = live.line === undefined ? undefined : this.lines.get(live.line);
    const ownsLine = line !== undefined && line.holder === id;
    // After a crash, the next of a line starts once recovery is done (afterCrash), not while it runs.
    const handOn = ownsLine && this.stalled === null && !this.closing;
    let next: { started?: Waiting; refused: Array<{ w: Waiting; error: { code: string; message: string } }> } = { refused: [] };
    try {
      next = this.deps.db.transaction(() => {
        this.ops.finish(id, now, { result: kept, error: f.error });
        this.deps.repo.unlock(live.resources, process.pid);
        // The next of its line takes the resources in this same transaction: nothing slips in between.
        return handOn ? this.handOn(line, now) : { refused: [] };
      }).immediate();
    } catch (e) {
      // The database can fail too (a full disk): the waiter still gets the operation's own outcome.
      this.deps.log.error({ operation: id, err: (e as Error).message }, 'could not record the end of an operation');
      if (ownsLine) next = { refused: line.waiting.splice(0).map((w) => ({ w, error: { code: 'INTERNAL', message: `could not start: ${(e as Error).message}` } })) };
    }
    if (ownsLine && this.closing) {
      // close() fails those still waiting.
    } else if (ownsLine && !handOn) {
      line.holder = 0; // held by none: new ones still queue behind it until recovery hands it on
      this.stalled!.push(live.line!);
    } else if (ownsLine) {
      if (next.started) line.holder = next.started.id;
      else this.lines.delete(live.line!);
    }
    for (const r of next.refused) this.finishWaiting(r.w.id, r.error);
    if (next.started) this.executor.start({ id: next.started.id, kind: next.started.kind, params: next.started.params, actor: next.started.actor });
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

  /**
   * Inside the transaction that ended a line's holder: the first waiting operation whose resources
   * can be taken takes them; one whose resources another holds (a freeze of the repository, a gc
   * sweep, another process) is failed CONFLICT, as it would have been at its submission.
   */
  private handOn(line: Line, now: Date): { started?: Waiting; refused: Array<{ w: Waiting; error: { code: string; message: string } }> } {
    const refused: Array<{ w: Waiting; error: { code: string; message: string } }> = [];
    for (let w = line.waiting.shift(); w; w = line.waiting.shift()) {
      const lock = this.deps.repo.tryLock(w.resources, process.pid, now);
      if (lock.ok) return { started: w, refused };
      const error = { code: 'CONFLICT', message: `${w.kind}: ${lock.busy.map((b) => `${b.name} is held by process ${b.pid} since ${b.acquired_at}`).join('; ')}` };
      this.ops.finish(w.id, now, { error });
      refused.push({ w, error });
    }
    return { refused };
  }

  /** Answers those waiting for a line's operation that never started (its record is written already). */
  private finishWaiting(id: number, error: { code: string; message: string }): void {
    const live = this.live.get(id);
    if (!live) return;
    this.live.delete(id);
    const op = this.ops.get(id) ?? { id: String(id), kind: live.kind, actor: '', state: 'failed' as const, progress: {}, createdAt: this.deps.now().toISOString(), error };
    void this.answered.then(() => {
      for (const w of live.waiters) w({ op });
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
    this.stalled = [];
    try {
      for (const id of ids) this.finish(id, { error: { code: 'INTERNAL', message } });
      const waiting = new Set([...this.lines.values()].flatMap((l) => l.waiting.map((w) => w.id)));
      const held = new Set([...this.live].filter(([id]) => !waiting.has(id)).flatMap(([, l]) => l.resources));
      const dropped = this.deps.repo.unlockAllOf(process.pid, held);
      if (dropped.length) this.deps.log.warn({ locks: dropped }, 'released the locks a crashed operation held');
      await recover();
    } finally {
      const stalled = this.stalled;
      this.stalled = null;
      for (const name of stalled) this.advance(name);
      open();
    }
  }

  /** Hands a line held by none (its holder crashed) on to the next of it, as finish() does. */
  private advance(name: string): void {
    const line = this.lines.get(name);
    if (!line || line.holder !== 0) return;
    let next: ReturnType<OperationRunner['handOn']> = { refused: [] };
    try {
      next = this.deps.db.transaction(() => this.handOn(line, this.deps.now())).immediate();
    } catch (e) {
      next = { refused: line.waiting.splice(0).map((w) => ({ w, error: { code: 'INTERNAL', message: `could not start: ${(e as Error).message}` } })) };
    }
    if (next.started) line.holder = next.started.id;
    else this.lines.delete(name);
    for (const r of next.refused) this.finishWaiting(r.w.id, r.error);
    if (next.started) this.executor.start({ id: next.started.id, kind: next.started.kind, params: next.started.params, actor: next.started.actor });
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
