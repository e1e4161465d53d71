import { errorOf } from './error-of.ts';
import type { Progress } from './operation.ts';
import { operationDef } from './registry.ts';
import { progressThrottle } from './progress.ts';

/** One operation handed to an executor: what the runner recorded, in JSON. */
export interface Dispatch {
  id: number;
  kind: string;
  params: unknown;
  actor: string;
  /**
   * TEST ONLY (the containment test): crash the operation's thread with an
   * uncaught throw at this step of a snapshot (`start` for any kind). Set
   * only through OperationRunner.injectCrashForTest; inert otherwise.
   */
  testCrashAt?: string;
}

export interface Finished {
  result?: unknown;
  error?: { code: string; message: string };
}

/** What an executor reports back to the runner. */
export interface ExecutionEvents {
  started(id: number): void;
  progress(id: number, p: Progress): void;
  finished(id: number, f: Finished): void;
  /**
   * The thread died with these operations: the runner records them failed (INTERNAL), releases
   * their locks and any its code took, runs `recover` (half-built serials), and only then
   * answers those waiting for them, so that their next request finds the data directory whole.
   */
  crashed?(ids: number[], message: string, recover: () => Promise<void>): Promise<void>;
}

export interface Executor {
  start(d: Dispatch): void;
  /** Optional: get ready to run (a thread started, the data directory opened) before the first operation arrives. */
  warm?(): Promise<void>;
  close(): Promise<void>;
}

export { errorOf };

/** Results cross threads and sockets as JSON: make that explicit (no class instances, no undefined). */
export function plain(v: unknown): unknown {
  return v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as unknown);
}

/**
 * Runs operations in this thread: the CLI when no daemon runs (a crash ends
 * the command, which is what a one-shot command should do), and tests that
 * need no thread. The daemon uses ThreadExecutor (thread-executor.ts).
 */
export class InlineExecutor<D> implements Executor {
  constructor(
    private readonly deps: D,
    private readonly events: ExecutionEvents,
  ) {}

  start(d: Dispatch): void {
    void (async () => {
      this.events.started(d.id);
      // Each report passed on is a database update (the runner records it): a few a second.
      const progress = progressThrottle((p) => this.events.progress(d.id, p));
      try {
        const def = operationDef(d.kind);
        const result = await def.run(this.deps, def.params(d.params), { actor: d.actor, progress: progress.send });
        progress.flush();
        this.events.finished(d.id, { result: plain(result) });
      } catch (e) {
        progress.flush();
        this.events.finished(d.id, { error: errorOf(e) });
      }
    })();
  }

  async close(): Promise<void> {}
}
