// Issue 6, hostile upstreams (2/3): attacks on the transport, from a malicious mirror or a
// man in the middle: tampered files, endless data, slow retrieval, resets and truncations,
// 5xx bursts, redirect loops and redirects to other hosts, lying Content-Length headers.
// Each is refused (one `aptfreeze: CODE:` line, the published state byte-identical) or
// survived (retried, then published whole), within bounded time and memory.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { churn } from './helpers/upstream.ts';
import { serveUpstream } from './helpers/http-upstream.ts';
import { hostileEnv, onPath, timingLines, type HostileEnv } from './helpers/hostile.ts';

const indexPath = /\/dists\/bookworm\/main\/binary-amd64\/(Packages(\.gz|\.xz)?|by-hash\/SHA256\/[0-9a-f]{64})$/;
const inRelease = (p: string) => p === '/dists/bookworm/InRelease';

/** Writes raw bytes on the connection, bypassing node:http (to send headers it would refuse). */
function raw(req: IncomingMessage, head: string, body: Buffer): true {
  req.socket.write(`HTTP/1.1 200 OK\r\n${head}Connection: close\r\n\r\n`);
  req.socket.end(body);
  return true;
}

/** Streams bytes forever (until the client goes away), without a Content-Length. */
function endless(res: ServerResponse): true {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
  const chunk = Buffer.alloc(64 * 1024, 'A');
  let open = true;
  res.on('close', () => (open = false));
  const pump = () => {
    while (open && res.write(chunk));
    if (open) res.once('drain', pump);
  };
  pump();
  return true;
}

/** One byte a second (slow retrieval), with an honest Content-Length. */
function trickle(res: ServerResponse, body: Buffer): true {
  res.writeHead(200, { 'Content-Length': body.length });
  let i = 0;
  const timer = setInterval(() => {
    if (i >= body.length) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write(body.subarray(i, ++i));
  }, 1000);
  res.on('close', () => clearInterval(timer));
  return true;
}

describe('a hostile upstream attacking the transport', () => {
  let env: HostileEnv;
  let seed = 200;
  /** A pool file the current upstream lists and the store does not hold yet. */
  let target: { path: string; size: number; sha256: string };

  /** Churns the upstream so that new pool files (and indices) are to be fetched. */
  async function freshUpstream() {
    const before = env.build;
    env.pkgs = churn(env.pkgs, 0.25, seed++);
    await env.rebuild(env.pkgs);
    const d = env.build.debs.find((x) => !before.debs.some((b) => b.filename === x.filename))!;
    target = { path: `/${d.filename}`, size: d.size, sha256: d.sha256 };
  }
  const targetBytes = () => readFile(join(env.upRoot, target.path));

  before(async () => {
    env = await hostileEnv('hostile-transport', {
      fetch: { retries: 2, backoffMs: 20, connectTimeout: '1s', idleTimeout: '2s', minRate: 4096, maxReleaseBytes: 65536 },
    });
    await freshUpstream();
  });
  afterEach(() => {
    if (env) env.up.fault = null;
  });
  after(async () => {
    await env?.close();
  });

  it('refuses an index with one byte changed (HASH_MISMATCH)', async () => {
    env.up.fault = onPath(
      (p) => indexPath.test(p),
      async (p, res) => {
        let body: Buffer;
        try {
          body = await readFile(join(env.upRoot, p));
        } catch {
          return false;
        }
        body[body.length >> 1] ^= 0x01;
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
        return true;
      },
    );
    await env.expectRefusal('HASH_MISMATCH', { name: 'tampered index' });
  });

  it('refuses a pool file with one byte changed (HASH_MISMATCH)', async () => {
    const body = await targetBytes();
    body[body.length - 1] ^= 0xff;
    env.up.fault = onPath(
      (p) => p === target.path,
      (_p, res) => {
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
        return true;
      },
    );
    await env.expectRefusal('HASH_MISMATCH', { name: 'tampered pool file' });
  });

  it('stops reading a pool file at its listed size when upstream sends endless data (SIZE_MISMATCH)', async () => {
    env.up.fault = onPath((p) => p === target.path, (_p, res) => endless(res));
    await env.expectRefusal('SIZE_MISMATCH', { name: 'endless data (pool file)', maxMs: 30_000 });
  });

  it('stops reading an InRelease at fetch.maxReleaseBytes when upstream sends endless data (UPSTREAM_TOO_LARGE)', async () => {
    env.up.fault = onPath(inRelease, (_p, res) => endless(res));
    await env.expectRefusal('UPSTREAM_TOO_LARGE', { name: 'endless data (InRelease)', maxMs: 30_000 });
  });

  it('cuts off a pool file trickling a byte a second at its deadline (slow retrieval, UPSTREAM_HTTP)', async () => {
    const body = await targetBytes();
    env.up.fault = onPath((p) => p === target.path, (_p, res) => trickle(res, body));
    // Per attempt: connectTimeout 1 s + idleTimeout 2 s + size / minRate; three attempts.
    await env.expectRefusal('UPSTREAM_HTTP', { name: 'slow retrieval (pool file)', maxMs: 35_000 });
  });

  it('cuts off an InRelease trickling a byte a second, whose size is not known beforehand (slow retrieval, UPSTREAM_HTTP)', async () => {
    const body = await readFile(join(env.upRoot, 'dists', 'bookworm', 'InRelease'));
    env.up.fault = onPath(inRelease, (_p, res) => trickle(res, body));
    // The rate check (minRate after the fixed slack) cuts it at ~4 s per attempt, not at maxReleaseBytes / minRate.
    await env.expectRefusal('UPSTREAM_HTTP', { name: 'slow retrieval (InRelease)', maxMs: 35_000 });
  });

  it('refuses a pool file cut off by a reset on every attempt (UPSTREAM_HTTP)', async () => {
    const body = await targetBytes();
    env.up.fault = onPath(
      (p) => p === target.path,
      (_p, res) => {
        res.writeHead(200, { 'Content-Length': body.length });
        res.write(body.subarray(0, body.length >> 1));
        setTimeout(() => res.socket?.resetAndDestroy(), 20);
        return true;
      },
    );
    await env.expectRefusal('UPSTREAM_HTTP', { name: 'reset mid-body, every attempt' });
  });

  it('refuses a pool file whose body ends early without a length (SIZE_MISMATCH)', async () => {
    const body = await targetBytes();
    env.up.fault = onPath(
      (p) => p === target.path,
      (_p, res) => {
        // Chunked, properly terminated, but short: nothing in HTTP says it is incomplete.
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.end(body.subarray(0, body.length - 100));
        return true;
      },
    );
    await env.expectRefusal('SIZE_MISMATCH', { name: 'truncated body (clean end)' });
  });

  it('refuses a pool file whose Content-Length disagrees with the signed size (SIZE_MISMATCH, not retried)', async () => {
    const body = Buffer.concat([await targetBytes(), Buffer.alloc(512)]);
    env.up.fault = onPath(
      (p) => p === target.path,
      (_p, res) => {
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
        return true;
      },
    );
    env.up.reset();
    await env.expectRefusal('SIZE_MISMATCH', { name: 'Content-Length larger than the signed size' });
    assert.equal(env.up.count((p) => p === target.path), 1, 'a wrong length is not worth another attempt');
  });

  it('refuses a pool file whose Content-Length is shorter than the body it sends (SIZE_MISMATCH)', async () => {
    const body = await targetBytes();
    env.up.fault = onPath((p) => p === target.path, (_p, _res, req) => raw(req, `Content-Length: ${body.length - 10}\r\n`, body));
    await env.expectRefusal('SIZE_MISMATCH', { name: 'Content-Length shorter than the body (pool file)' });
  });

  it('refuses an InRelease whose Content-Length cuts it short (MALFORMED)', async () => {
    const body = await readFile(join(env.upRoot, 'dists', 'bookworm', 'InRelease'));
    env.up.fault = onPath(inRelease, (_p, _res, req) => raw(req, `Content-Length: ${body.length - 200}\r\n`, body));
    await env.expectRefusal('MALFORMED', { name: 'Content-Length shorter than the body (InRelease)' });
  });

  it('refuses an upstream answering 5xx on every attempt, after its retries (UPSTREAM_HTTP)', async () => {
    env.up.fault = onPath(inRelease, (_p, res) => {
      res.writeHead(503, { 'Content-Length': 0 });
      res.end();
      return true;
    });
    env.up.reset();
    await env.expectRefusal('UPSTREAM_HTTP', { name: '5xx on every attempt' });
    assert.equal(env.up.count(inRelease), 3, 'the first attempt and two retries');
  });

  it('refuses a redirect loop on the same host (UPSTREAM_HTTP)', async () => {
    env.up.fault = async (req, res) => {
      const p = (req.url ?? '').split('?')[0]!;
      if (!inRelease(p) && !p.startsWith('/loop/')) return false;
      const n = p.startsWith('/loop/') ? Number(p.slice(6)) + 1 : 0;
      res.writeHead(302, { Location: n % 2 ? '/dists/bookworm/InRelease' : `/loop/${n}`, 'Content-Length': 0 });
      res.end();
      return true;
    };
    env.up.reset();
    await env.expectRefusal('UPSTREAM_HTTP', { name: 'redirect loop' });
    assert.ok(env.up.requests.length <= 8, `a loop is followed at most maxRedirects times and not retried (${env.up.requests.length} requests)`);
  });

  it('refuses a redirect to another host and never contacts it (UPSTREAM_HTTP)', async () => {
    const elsewhere = await serveUpstream(env.upRoot);
    try {
      env.up.fault = onPath(
        (p) => p === target.path || inRelease(p),
        (p, res) => {
          // Another origin: the same files, so only the origin rule can refuse it.
          res.writeHead(302, { Location: `http://localhost:${elsewhere.port}${p}`, 'Content-Length': 0 });
          res.end();
          return true;
        },
      );
      await env.expectRefusal('UPSTREAM_HTTP', { name: 'redirect to another host' });
      assert.equal(elsewhere.requests.length, 0, 'the other host got no request');
    } finally {
      await elsewhere.close();
    }
  });

  describe('transient faults, then a good answer', () => {
    it('survives a 5xx burst on every file (two failures each, then success)', async () => {
      await freshUpstream();
      const failures = new Map<string, number>();
      env.up.fault = onPath(
        (p) => inRelease(p) || indexPath.test(p) || p.startsWith('/pool/'),
        (p, res) => {
          const n = failures.get(p) ?? 0;
          if (n >= 2) return false;
          failures.set(p, n + 1);
          res.writeHead(n ? 502 : 503, { 'Content-Length': 0 });
          res.end();
          return true;
        },
      );
      await env.expectSurvival({ name: '5xx burst, then success' });
      assert.ok(failures.size >= 3, 'the burst hit the Release, an index and a pool file');
    });

    it('survives a reset in the middle of a pool file and an index (retried on a new connection)', async () => {
      await freshUpstream();
      const seen = new Set<string>();
      env.up.fault = onPath(
        (p) => p === target.path || indexPath.test(p),
        async (p, res) => {
          if (seen.has(p)) return false;
          seen.add(p);
          let body: Buffer;
          try {
            body = await readFile(join(env.upRoot, p));
          } catch {
            return false;
          }
          res.writeHead(200, { 'Content-Length': body.length });
          res.write(body.subarray(0, body.length >> 1));
          setTimeout(() => res.socket?.resetAndDestroy(), 20);
          return true;
        },
      );
      await env.expectSurvival({ name: 'reset mid-body once, then success' });
      assert.ok(seen.has(target.path));
    });
  });

  it('reports the time and memory of each attack', (t) => {
    assert.ok(env.timings.length >= 15);
    for (const line of timingLines(env.timings)) t.diagnostic(line);
  });
});
