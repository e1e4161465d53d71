// The operations thread (thread-executor.ts): opens the data directory and runs the operations
// the daemon hands it, one message each. Everything it reports goes back as messages.
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { openServices } from '../services.ts';
import type { Dispatch } from './executor.ts';
import { errorOf, plain } from './executor.ts';
import { operationDef } from './registry.ts';
import { progressThrottle } from './progress.ts';
import { MrRepo } from '../catalog/snapmr.ts';
import { mrIndexer } from '../snapmr/index.ts';
import type { FromThread, ThreadData } from './thread-executor.ts';

const port = parentPort!;
const data = workerData as ThreadData;
const post = (m: FromThread) => port.postMessage(m);

const log = pino({ level: data.logLevel }, { write: (line: string) => post({ t: 'log', line }) });

/** The daemon's clock: asked synchronously, as a clock is read (only when the daemon's is not the system's). */
const now = data.clock
  ? (() => {
      const i32 = new Int32Array(data.clock, 0, 1);
      const f64 = new Float64Array(data.clock, 8, 1);
      return () => {
        Atomics.store(i32, 0, 0);
        post({ t: 'now' });
        return Atomics.wait(i32, 0, 0, 5000) === 'timed-out' ? new Date() : new Date(f64[0]!);
      };
    })()
  : () => new Date();

// Recovery is the daemon's (it runs before this thread starts again after a crash).
const services = openServices({ config: data.config, dataDir: data.dataDir, log, now, recover: false });
// A failure to open is reported by each operation (below), not as a crash of the thread at start.
// Ready once open (or failed to open): what ThreadExecutor.warm waits for.
services.then(
  () => post({ t: 'ready' }),
  () => post({ t: 'ready' }),
);

/** TEST ONLY (Dispatch.testCrashAt): an uncaught throw, as a library's internal error would be. */
function crash(): void {
  setImmediate(() => {
    throw new Error('injected crash (test fault hook): an uncaught throw inside the operation');
  });
}

/**
 * The snapshot.debian.org tables follow publications in the background: once this thread has
 * had no operation for `indexIdleMs` after one that may have published, it indexes the new
 * serials (work proportional to the indices that changed). Not right after the operation: the
 * next step of a release manager's script (a freeze, another snapshot, the command line on the
 * same database) would compete with it. A /mr/ or /file/ request catches up itself meanwhile.
 */
const indexIdleMs = 60_000;
const publishing = new Set(['snapshot', 'upload', 'suite.create', 'suite.merge', 'suite.reset', 'tag.create']);
let indexTimer: NodeJS.Timeout | null = null;
let running = 0;
let catchUp: (() => Promise<void>) | null = null;
function indexWhenIdle(): void {
  if (indexTimer) clearTimeout(indexTimer);
  indexTimer = setTimeout(() => {
    indexTimer = null;
    if (running > 0) return indexWhenIdle();
    void services.then((s) => {
      catchUp ??= mrIndexer({ ...s, mr: new MrRepo(s.db) });
      return catchUp();
    }).catch((e: Error) => log.warn({ err: e.message }, 'indexing for the snapshot.debian.org reads failed; retried at the next request'));
  }, indexIdleMs);
  indexTimer.unref();
}

port.on('message', (d: Dispatch & { t: 'run' }) => {
  running++;
  if (indexTimer) indexWhenIdle();
  void (async () => {
    post({ t: 'started', id: d.id });
    const progress = progressThrottle((p) => post({ t: 'progress', id: d.id, progress: p }));
    try {
      const s = await services;
      const def = operationDef(d.kind);
      if (d.testCrashAt === 'start') crash();
      const step = d.testCrashAt ? (name: string) => (name === d.testCrashAt ? crash() : undefined) : undefined;
      const result = await def.run(s, def.params(d.params), { actor: d.actor, progress: progress.send, step });
      progress.flush();
      post({ t: 'done', id: d.id, result: plain(result) });
      if (publishing.has(d.kind)) indexWhenIdle();
    } catch (e) {
      progress.flush();
      post({ t: 'done', id: d.id, error: errorOf(e) });
    } finally {
      running--;
    }
  })();
});
