// The operations thread (thread-executor.ts): opens the data directory and runs the operations
// the daemon hands it, one message each. Everything it reports goes back as messages.
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { openServices } from '../services.ts';
import type { Dispatch } from './executor.ts';
import { errorOf, plain } from './executor.ts';
import { operationDef } from './registry.ts';
import { progressThrottle } from './progress.ts';
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

port.on('message', (d: Dispatch & { t: 'run' }) => {
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
    } catch (e) {
      progress.flush();
      post({ t: 'done', id: d.id, error: errorOf(e) });
    }
  })();
});
