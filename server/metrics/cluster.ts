import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const ask = 'aptfreeze:metrics';
const answer = 'aptfreeze:metrics-text';

/**
 * /metrics under `serve --workers N`: the worker that takes the scrape asks the primary, which
 * gathers every worker's registry (prom-client's AggregatorRegistry: counters summed, the
 * database-derived gauges taken once) and answers with the text. Called in the primary.
 */
export function serveClusterMetrics(): void {
  const agg = new AggregatorRegistry();
  cluster.on('message', (worker, msg: { type?: string; id?: number }) => {
    if (msg?.type !== ask) return;
    agg.clusterMetrics().then(
      (text) => worker.send({ type: answer, id: msg.id, text }),
      (e: Error) => worker.send({ type: answer, id: msg.id, error: e.message }),
    );
  });
}

let counter = 0;
const waiting = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void }>();
let listening = false;

/** In a worker: its registry is offered to the primary's aggregation. */
export function joinClusterMetrics(registry: Registry): void {
  if (!cluster.isWorker) return;
  new AggregatorRegistry(); // adds prom-client's worker-side listener
  AggregatorRegistry.setRegistries([registry]);
  if (listening) return;
  listening = true;
  process.on('message', (msg: { type?: string; id?: number; text?: string; error?: string }) => {
    if (msg?.type !== answer || msg.id === undefined) return;
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (msg.error !== undefined) w?.reject(new Error(msg.error));
    else w?.resolve(msg.text ?? '');
  });
}

/** The metrics text: the cluster's in a worker, else this process's own registry. */
export function metricsText(registry: Registry): Promise<string> {
  if (!cluster.isWorker || !process.send) return registry.metrics();
  const id = ++counter;
  const own = () => registry.metrics();
  return new Promise<string>((resolve, reject) => {
    // A primary that does not answer (not `serve`'s, or busy past reason): this worker's own figures.
    const timer = setTimeout(() => {
      waiting.delete(id);
      own().then(resolve, reject);
    }, 10_000);
    const done = <T>(f: (x: T) => void) => (x: T) => {
      clearTimeout(timer);
      f(x);
    };
    waiting.set(id, { resolve: done(resolve), reject: done(reject) });
    process.send!({ type: ask, id });
  });
}
