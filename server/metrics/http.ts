import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Registry } from 'prom-client';
import { routeKind, statusClass } from './route-kind.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The per-process HTTP counters: requests by route kind and status class, bytes served, answers
 * from the serving caches. Each `serve --workers` worker counts its own; /metrics sums them
 * (metrics/cluster.ts).
 */
export class HttpMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'aptfreeze_http_requests_total', help: 'HTTP requests answered, by route kind and status class', labelNames: ['kind', 'status'], registers: [this.registry] });
  private readonly bytes = new Counter({ name: 'aptfreeze_http_response_bytes_total', help: 'Bytes of response bodies sent (by Content-Length), by route kind', labelNames: ['kind'], registers: [this.registry] });
  private readonly hits = new Counter({ name: 'aptfreeze_http_cache_hits_total', help: 'Answers from a memory cache of the file server (url: prepared small files; small; large)', labelNames: ['cache'], registers: [this.registry] });

  cacheHit = (cache: string): void => {
    this.hits.inc({ cache });
  };

  /** Wraps a request handler: each finished response is counted. */
  observe(handler: Handler): Handler {
    return (req, res) => {
      const url = req.url ?? '/';
      const written = req.socket.bytesWritten;
      res.once('finish', () => {
        const kind = routeKind(url);
        this.requests.inc({ kind, status: statusClass(res.statusCode) });
        if (req.method === 'HEAD' || res.statusCode === 304) return;
        // Headers written raw (writeHead with a prepared list, the file server's URL cache) are not
        // readable back: then the bytes this response put on the socket, its headers included.
        const len = Number(res.getHeader('content-length') ?? req.socket.bytesWritten - written);
        if (Number.isFinite(len) && len > 0) this.bytes.inc({ kind }, len);
      });
      handler(req, res);
    };
  }
}
