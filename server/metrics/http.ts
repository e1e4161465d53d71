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
/** Totals by label set, keyed by the labels' values joined: the labels object is made once, at a set's first count. */
type Totals = Map<string, { labels: Record<string, string>; n: number }>;

function add(t: Totals, key: string, labels: () => Record<string, string>, n: number): void {
  const c = t.get(key);
  if (c) c.n += n;
  else t.set(key, { labels: labels(), n });
}

/** A prom-client counter set to `totals` at each scrape (reset, then one inc of each total). */
function totalsCounter(registry: Registry, name: string, help: string, labelNames: string[], totals: Totals): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of totals.values()) this.inc(c.labels, c.n);
    },
  });
}

export class HttpMetrics {
  readonly registry = new Registry();
  private readonly requestCounts: Totals = new Map();
  private readonly byteCounts: Totals = new Map();
  private readonly hitCounts: Totals = new Map();

  constructor() {
    totalsCounter(this.registry, 'aptfreeze_http_requests_total', 'HTTP requests answered, by route kind and status class', ['kind', 'status'], this.requestCounts);
    totalsCounter(this.registry, 'aptfreeze_http_response_bytes_total', 'Bytes of response bodies sent (by Content-Length), by route kind', ['kind'], this.byteCounts);
    totalsCounter(this.registry, 'aptfreeze_http_cache_hits_total', 'Answers from a memory cache of the file server (url: prepared small files; small; large)', ['cache'], this.hitCounts);
  }

  cacheHit = (cache: string): void => {
    add(this.hitCounts, cache, () => ({ cache }), 1);
  };

  private count(url: string, method: string | undefined, res: ServerResponse, bytesBefore: number, socketBytes: number): void {
    const kind = routeKind(url);
    const status = statusClass(res.statusCode);
    add(this.requestCounts, `${kind} ${status}`, () => ({ kind, status }), 1);
    if (method === 'HEAD' || res.statusCode === 304) return;
    // Headers written raw (writeHead with a prepared list, the file server's URL cache) are not
    // readable back: then the bytes this response put on the socket, its headers included.
    const len = Number(res.getHeader('content-length') ?? socketBytes - bytesBefore);
    if (Number.isFinite(len) && len > 0) add(this.byteCounts, kind, () => ({ kind }), len);
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
