// A static file server for a fixture upstream (node:http, 127.0.0.1, ephemeral port, keep-alive).
//
// - GET and HEAD; files only (a directory is 404); Content-Length always; a single `Range: bytes=a-b`
//   is answered 206 (416 when unsatisfiable). No Last-Modified / ETag on purpose: fixture files are
//   rewritten within the same second, and a conditional 304 would then be wrong.
// - 400 for an undecodable path or a NUL, 403 for traversal (`..` in the decoded path, or a
//   symlink resolving outside the root), 405 for other methods, 404 for missing files.
// - `requests` records the percent-decoded path (query string dropped) of every request, in order,
//   before `fault` runs. apt percent-encodes some characters (e.g. `+` in versions); decoding makes
//   `count(p => p.endsWith('_1.0-1+b1_amd64.deb'))` work whichever client asked.
// - `fault`: when set and it returns (or resolves to) true, it has answered the request itself.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface UpstreamServer {
  /** http://127.0.0.1:<port>, no trailing slash */
  url: string;
  port: number;
  /** every request path in order (percent-decoded, without query) */
  requests: string[];
  count(predicate: (path: string) => boolean): number;
  /** clears `requests` */
  reset(): void;
  fault: ((req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>) | null;
  close(): Promise<void>;
}

function plain(res: ServerResponse, status: number, text: string, head: boolean): void {
  const body = Buffer.from(`${text}\n`);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  res.end(head ? undefined : body);
}

function decodePath(url: string): string | null {
  const raw = url.split('?')[0] ?? '/';
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

export async function serveUpstream(root: string): Promise<UpstreamServer> {
  const rootAbs = path.resolve(root);
  const rootReal = await realpath(rootAbs);
  const requests: string[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const decoded = decodePath(url);
    requests.push(decoded ?? url.split('?')[0] ?? url);
    if (server.fault && (await server.fault(req, res))) return;

    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      plain(res, 405, 'method not allowed', false);
      return;
    }
    if (decoded === null || decoded.includes('\0') || !decoded.startsWith('/')) {
      plain(res, 400, 'bad path', head);
      return;
    }
    if (decoded.split(/[\\/]/).includes('..')) {
      plain(res, 403, 'forbidden', head);
      return;
    }
    const file = path.join(rootAbs, decoded);
    if (file !== rootAbs && !file.startsWith(rootAbs + path.sep)) {
      plain(res, 403, 'forbidden', head);
      return;
    }
    let real: string;
    let size: number;
    try {
      real = await realpath(file);
      const st = await stat(real);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      plain(res, 404, 'not found', head);
      return;
    }
    if (real !== rootReal && !real.startsWith(rootReal + path.sep)) {
      plain(res, 403, 'forbidden', head);
      return;
    }

    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (typeof range === 'string') {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (m && (m[1] !== '' || m[2] !== '')) {
        if (m[1] === '') {
          start = Math.max(0, size - Number(m[2]));
        } else {
          start = Number(m[1]);
          if (m[2] !== '') end = Math.min(end, Number(m[2]));
        }
        if (start >= size || start > end) {
          res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
          res.end();
          return;
        }
        status = 206;
      }
    }
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Content-Length': size === 0 ? 0 : end - start + 1,
      'Accept-Ranges': 'bytes',
    };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    if (head || size === 0) {
      res.end();
      return;
    }
    const stream = createReadStream(real, { start, end });
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };

  const httpServer = createServer({ keepAlive: true }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) plain(res, 500, `internal error: ${String(err)}`, false);
      else res.destroy();
    });
  });
  httpServer.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const port = (httpServer.address() as AddressInfo).port;

  const server: UpstreamServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    count: (predicate) => requests.filter(predicate).length,
    reset: () => {
      requests.length = 0;
    },
    fault: null,
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      }),
  };
  return server;
}
