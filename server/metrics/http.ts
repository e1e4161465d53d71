import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Registry } from 'prom-client';
import { routeKind, statusClass } from './route-kind.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The per-process HTTP counters: requests by route kind and status class, bytes served, answers
 * from the serving caches. Each `serve --workers` worker counts its own; /metrics sums them
 * (metrics/cluster.ts).
 *
 * The hot path (a small file from the URL cache, tens of thousands a second) pays for a few
 * additions to plain numbers: prom-client's labelled `inc` (a label check and a hashed key per
 * call) and a 'finish' listener per response cost ~10% of that path's throughput (measured with
 * wrk on a 2 kB pool file). The counters are handed to prom-client when it is scraped (`collect`).
 */
export class HttpMetrics {
  readonly registry = new Registry();
  private readonly requestCounts = new Map<string, { kind: string; status: string; n: number }>();
  private readonly byteCounts = new Map<string, number>();
  private readonly hitCounts = new Map<string, number>();

  constructor() {
    const requestCounts = this.requestCounts;
    const byteCounts = this.byteCounts;
    const hitCounts = this.hitCounts;
    // Each scrape sets the counters to the totals (reset, then one inc of the total each).
    new Counter({
      name: 'aptfreeze_http_requests_total',
      help: 'HTTP requests answered, by route kind and status class',
      labelNames: ['kind', 'status'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of requestCounts.values()) this.inc({ kind: c.kind, status: c.status }, c.n);
      },
    });
    new Counter({
      name: 'aptfreeze_http_response_bytes_total',
      help: 'Bytes of response bodies sent (by Content-Length), by route kind',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [kind, n] of byteCounts) this.inc({ kind }, n);
      },
    });
    new Counter({
      name: 'aptfreeze_http_cache_hits_total',
      help: 'Answers from a memory cache of the file server (url: prepared small files; small; large)',
      labelNames: ['cache'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [cache, n] of hitCounts) this.inc({ cache }, n);
      },
    });
  }

  cacheHit = (cache: string): void => {
    this.hitCounts.set(cache, (this.hitCounts.get(cache) ?? 0) + 1);
  };

  private count(url: string, method: string | undefined, res: ServerResponse, bytesBefore: number, socketBytes: number): void {
    const kind = routeKind(url);
    const status = statusClass(res.statusCode);
    const key = `${kind} ${status}`;
    const c = this.requestCounts.get(key);
    if (c) c.n++;
    else this.requestCounts.set(key, { kind, status, n: 1 });
    if (method === 'HEAD' || res.statusCode === 304) return;
    // Headers written raw (writeHead with a prepared list, the file server's URL cache) are not
    // readable back: then the bytes this response put on the socket, its headers included.
    const len = Number(res.getHeader('content-length') ?? socketBytes - bytesBefore);
    if (Number.isFinite(len) && len > 0) this.byteCounts.set(kind, (this.byteCounts.get(kind) ?? 0) + len);
  }

  /** Wraps a request handler: each finished response is counted. */
  observe(handler: Handler): Handler {
    return (req, res) => {
      const url = req.url ?? '/';
      const socket = req.socket;
      const written = socket.bytesWritten;
      handler(req, res);
      // Answered at once (the caches): counted now, without a listener (the socket's count
      // includes what it still buffers). Otherwise when the response finishes.
      if (res.writableEnded) this.count(url, req.method, res, written, socket.bytesWritten);
      else res.once('finish', () => this.count(url, req.method, res, written, socket.bytesWritten));
    };
  }
}
