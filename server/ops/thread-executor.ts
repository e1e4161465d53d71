import { Worker } from 'node:worker_threads';
import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import type { Dispatch, ExecutionEvents, Executor } from './executor.ts';
import type { Progress } from './operation.ts';

export interface ThreadExecutorOptions {
  config: Config;
  dataDir: string;
  log: Logger;
  /** The daemon's clock; when it is not the system clock (a test's), the thread asks for the time. */
  now: () => Date;
  systemClock: boolean;
  events: ExecutionEvents;
  /** After a crash, before the thread starts again: crash recovery (half-built serials). */
  onCrash?: () => Promise<void>;
}

/** Messages from the thread (worker.ts). */
export type FromThread =
  | { t: 'ready' }
  | { t: 'started'; id: number }
  | { t: 'progress'; id: number; progress: Progress }
  | { t: 'done'; id: number; result?: unknown; error?: { code: string; message: string } }
  | { t: 'log'; line: string }
  | { t: 'now' };

/**
 * Containment: operations run in a worker thread, supervised here. A throw
 * nothing catches (a bug, an internal assertion of a library) ends the thread,
 * not the daemon: its operations are recorded failed with INTERNAL, the locks
 * they held are released, crash recovery runs, and a new thread starts.
 * The thread opens the data directory itself (its own database handle) and
 * sends back progress, outcomes and its log lines (logged here, so the
 * daemon's log carries them).
 */
export class ThreadExecutor implements Executor {
  private worker: Worker | null = null;
  private readonly inflight = new Set<number>();
  private closing = false;
  private recovering: Promise<void> = Promise.resolve();
  private readonly clock = new SharedArrayBuffer(16);
  /** Resolved when the current thread says it is ready (its data directory open, its code warm). */
  private ready: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(private readonly o: ThreadExecutorOptions) {}

  start(d: Dispatch): void {
    this.inflight.add(d.id);
    // After a crash, the thread starts again once recovery is done; the dispatch waits for it.
    void this.recovering.then(() => this.thread().postMessage({ t: 'run', ...d }));
  }

  /**
   * Starts the thread now and waits until it is ready, so that the first operation does not pay
   * for the thread's start (loading its code, opening the data directory: a few hundred ms).
   * The daemon of `aptfreeze serve` calls it before it listens. A thread that fails to open
   * still counts as ready: each operation then reports that failure.
   */
  async warm(): Promise<void> {
    await this.recovering;
    this.thread();
    await this.ready?.promise;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.ready?.resolve();
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
    this.failInflight('interrupted: the daemon stopped');
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = spawnThread({ config: this.o.config, dataDir: this.o.dataDir, logLevel: this.o.log.level, clock: this.o.systemClock ? null : this.clock });
    this.worker = w;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.ready = { promise, resolve };
    w.on('message', (m: FromThread) => this.onMessage(m));
    w.on('error', (e) => this.o.log.error({ err: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }, 'the operations thread crashed'));
    w.on('exit', (code) => {
      resolve();
      if (this.worker === w) this.worker = null;
      if (this.closing) return;
      const ids = [...this.inflight];
      this.inflight.clear();
      this.o.log.error({ operations: ids, code }, 'operations failed with their thread; recovering, then starting another');
      const message = `the operation crashed (its thread exited with ${code}); see the daemon's log`;
      const recover = () => this.o.onCrash?.() ?? Promise.resolve();
      this.recovering = (this.o.events.crashed ? this.o.events.crashed(ids, message, recover) : recover()).catch((e) =>
        this.o.log.error({ err: (e as Error).message }, 'recovery after the crash failed'),
      );
      // Supervised: a new thread at once, so the next operation does not wait for it.
      void this.recovering.then(() => {
        if (!this.closing) this.thread();
      });
    });
    return w;
  }

  private failInflight(message: string): void {
    const ids = [...this.inflight];
    this.inflight.clear();
    for (const id of ids) this.o.events.finished(id, { error: { code: 'INTERNAL', message } });
  }

  private onMessage(m: FromThread): void {
    switch (m.t) {
      case 'ready':
        this.ready?.resolve();
        return;
      case 'started':
        this.o.events.started(m.id);
        return;
      case 'progress':
        this.o.events.progress(m.id, m.progress);
        return;
      case 'done':
        if (!this.inflight.delete(m.id)) return;
        this.o.events.finished(m.id, m.error ? { error: m.error } : { result: m.result });
        return;
      case 'log':
        relayLog(this.o.log, m.line);
        return;
      case 'now': {
        const i32 = new Int32Array(this.clock, 0, 1);
        new Float64Array(this.clock, 8, 1)[0] = this.o.now().getTime();
        Atomics.store(i32, 0, 1);
        Atomics.notify(i32, 0);
        return;
      }
    }
  }
}

export interface ThreadData {
  config: Config;
  dataDir: string;
  logLevel: string;
  clock: SharedArrayBuffer | null;
}

/**
 * The thread's entry: worker.ts through tsx when running from the sources,
 * dist/ops-worker.mjs (scripts/build.mjs) from the bundle. A worker thread does
 * not inherit the loader hooks of its parent, so the sources' entry registers tsx first.
 */
function spawnThread(data: ThreadData): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./ops-worker.mjs', here), { workerData: data });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./worker.ts', here).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(code, { eval: true, workerData: data });
}

/** A log line of the thread, logged again by the daemon's logger (its own time, pid and name). */
function relayLog(log: Logger, line: string): void {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  const { level, msg, time: _t, pid: _p, hostname: _h, name: _n, ...rest } = o;
  const label = log.levels.labels[Number(level)] ?? 'info';
  const fn = (log as unknown as Record<string, (obj: unknown, msg?: string) => void>)[label];
  fn?.call(log, { ...rest, thread: 'operations' }, typeof msg === 'string' ? msg : undefined);
}
