// Fetcher.toStore against a local server: files land in the store verified, candidates and
// same-origin redirects are followed, a tampered file is refused without a retry, and each
// request's deadline is enforced while it runs and cleared once it is over (no timer per file
// left pending for tens of seconds after tens of thousands of small files). Small files take the
// whole-body path (server/mirror/whole-body.ts): a wrong hash, a body past its signed size, one
// cut short and a lying Content-Length are refused there too, with nothing stored, while the
// downloads beside them on the same connections complete.
import { fsBlobFiles } from '../server/store/fs-links.ts';
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Fetcher } from '../server/mirror/fetch.ts';
import { FsBlobStore } from '../server/store/store.ts';
import { isAptfreezeError } from '../server/errors.ts';
import type { FetchSettings } from '../server/config/load.ts';
import { mapLimit } from '../server/util/limit.ts';
import { tmpDir } from './helpers/gpg.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const settings: FetchSettings = {
  concurrency: 8,
  retries: 2,
  backoffMs: 1,
  connectTimeoutMs: 2000,
  idleTimeoutMs: 2000,
  minRate: 16_384,
  maxReleaseBytes: 1 << 20,
  maxDecompressedBytes: 1 << 30,
  maxRedirects: 3,
};

describe('Fetcher.toStore', () => {
  let dir: string;
  let store: FsBlobStore;
  let server: Server;
  let url: string;
  const files = new Map<string, Buffer>();
  const requests: string[] = [];
  let fault: ((req: IncomingMessage, res: ServerResponse) => boolean) | null = null;

  before(async () => {
    dir = await tmpDir('af-fetch');
    store = new FsBlobStore(join(dir, 'store'));
    await store.init();
    for (let i = 0; i < 300; i++) files.set(`/pool/f${i}.deb`, randomBytes(500 + ((i * 977) % 9000)));
    files.set('/pool/large.deb', randomBytes((1 << 20) + 12_345));
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (fault?.(req, res)) return;
      const body = files.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  afterEach(() => {
    fault = null;
    requests.length = 0;
  });

  /** Runs fn while recording the timers of at least `minMs` that are set and neither fired nor cleared. */
  async function pendingLongTimers(minMs: number, fn: () => Promise<void>): Promise<number> {
    const pending = new Set<unknown>();
    const realSet = globalThis.setTimeout;
    const realClear = globalThis.clearTimeout;
    globalThis.setTimeout = ((cb: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      if ((ms ?? 0) < minMs) return realSet(cb, ms, ...args);
      const t = realSet((...a: unknown[]) => {
        pending.delete(t);
        cb(...a);
      }, ms, ...args);
      pending.add(t);
      return t;
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((t: Parameters<typeof clearTimeout>[0]) => {
      pending.delete(t);
      realClear(t);
    }) as typeof clearTimeout;
    try {
      await fn();
    } finally {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    }
    return pending.size;
  }

  it('stores every file verified, counts the bytes, and leaves no deadline timer behind', async () => {
    let counted = 0;
    const fetcher = new Fetcher(settings, (n) => (counted += n));
    const list = [...files].map(([p, data]) => ({ p, data }));
    const pending = await pendingLongTimers(settings.connectTimeoutMs + settings.idleTimeoutMs, async () => {
      await mapLimit(list, settings.concurrency, async ({ p, data }) => {
        await fetcher.toStore([`${url}${p}`], { sha256: sha(data), size: data.length }, store);
      });
    });
    await fetcher.close();
    assert.equal(pending, 0, 'every deadline timer cleared');
    const total = list.reduce((n, f) => n + f.data.length, 0);
    assert.equal(counted, total);
    assert.equal(fetcher.stats.bytes, total);
    assert.equal(fetcher.stats.requests, list.length);
    for (const { data } of list) assert.ok((await store.read(sha(data))).equals(data));
    assert.deepEqual(await readdir(fsBlobFiles(store).tmp), []);
  });

  it('tries the next candidate on 404 and follows a same-origin redirect', async () => {
    const data = files.get('/pool/f7.deb')!;
    fault = (req, res) => {
      if (req.url !== '/moved') return false;
      res.writeHead(302, { Location: '/pool/f7.deb' }).end();
      return true;
    };
    await store.remove(sha(data));
    const fetcher = new Fetcher(settings);
    const pending = await pendingLongTimers(settings.connectTimeoutMs + settings.idleTimeoutMs, () =>
      fetcher.toStore([`${url}/by-hash/missing`, `${url}/moved`], { sha256: sha(data), size: data.length }, store),
    );
    await fetcher.close();
    assert.equal(pending, 0);
    assert.deepEqual(requests, ['/by-hash/missing', '/moved', '/pool/f7.deb']);
    assert.ok(await store.has(sha(data)));
  });

  it('refuses a tampered file without a retry (HASH_MISMATCH), and keeps nothing', async () => {
    const data = randomBytes(4000);
    fault = (req, res) => {
      if (req.url !== '/pool/tampered.deb') return false;
      const bad = Buffer.from(data);
      bad[100] ^= 1;
      res.writeHead(200, { 'Content-Length': bad.length }).end(bad);
      return true;
    };
    const fetcher = new Fetcher(settings);
    await assert.rejects(fetcher.toStore([`${url}/pool/tampered.deb`], { sha256: sha(data), size: data.length }, store), (e) => {
      assert.ok(isAptfreezeError(e) && e.code === 'HASH_MISMATCH', String(e));
      assert.match(e.message, /\/pool\/tampered\.deb/);
      return true;
    });
    await fetcher.close();
    assert.equal(requests.length, 1, 'not retried');
    assert.equal(await store.has(sha(data)), false);
    assert.deepEqual(await readdir(fsBlobFiles(store).tmp), []);
  });

  describe('small files, read whole (one buffer, hashed once)', () => {
    const good = () => [...files].filter(([p]) => p !== '/pool/large.deb').slice(0, 60);
    /** Fetches `bad` among 60 good files, 8 at a time; returns the bad one's outcome after every download settled. */
    async function among(fetcher: Fetcher, bad: { path: string; data: Buffer }): Promise<PromiseSettledResult<void>> {
      for (const [, data] of good()) await store.remove(sha(data));
      const list = [...good().map(([p, data]) => ({ p, data })), { p: bad.path, data: bad.data }].sort((a, b) => (a.p < b.p ? -1 : 1));
      const outcomes = new Map<string, PromiseSettledResult<void>>();
      await mapLimit(list, 8, async ({ p, data }) => {
        const [r] = await Promise.allSettled([fetcher.toStore([`${url}${p}`], { sha256: sha(data), size: data.length }, store)]);
        outcomes.set(p, r!);
      });
      for (const [p, data] of good()) {
        assert.equal(outcomes.get(p)?.status, 'fulfilled', `${p}: ${String((outcomes.get(p) as PromiseRejectedResult | undefined)?.reason)}`);
        assert.ok((await store.read(sha(data))).equals(data), `${p} stored whole`);
      }
      return outcomes.get(bad.path)!;
    }
    /** The refusal's code, with nothing kept of the bad file and no partial file left. */
    async function refused(r: PromiseSettledResult<void>, code: string, bad: { path: string; data: Buffer }, served?: Buffer) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as unknown;
      assert.ok(isAptfreezeError(e) && e.code === code, String(e));
      assert.ok(e.message.includes(bad.path), e.message);
      assert.equal(await store.has(sha(bad.data)), false, 'nothing stored under the signed hash');
      if (served) assert.equal(await store.has(sha(served)), false, 'nothing stored under the hash of the bytes served');
      assert.deepEqual(await readdir(fsBlobFiles(store).tmp), []);
    }

    it('refuses a file whose bytes do not match the signed hash (HASH_MISMATCH, not retried)', async () => {
      const bad = { path: '/pool/whole-tampered.deb', data: randomBytes(3000) };
      const served = Buffer.from(bad.data);
      served[served.length - 1] ^= 0xff;
      fault = (req, res) => {
        if (req.url !== bad.path) return false;
        res.writeHead(200, { 'Content-Length': served.length }).end(served);
        return true;
      };
      const fetcher = new Fetcher(settings);
      await refused(await among(fetcher, bad), 'HASH_MISMATCH', bad, served);
      await fetcher.close();
      assert.equal(requests.filter((p) => p === bad.path).length, 1, 'a wrong hash is not worth another attempt');
    });

    it('stops at the first byte past the signed size of a body without a length (SIZE_MISMATCH, not retried)', async () => {
      const bad = { path: '/pool/whole-endless.deb', data: randomBytes(2000) };
      const served = Buffer.concat([bad.data, randomBytes(70_000)]);
      fault = (req, res) => {
        if (req.url !== bad.path) return false;
        // Chunked: nothing in HTTP says where it ends before it does.
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.write(served.subarray(0, 1000));
        res.end(served.subarray(1000));
        return true;
      };
      const fetcher = new Fetcher(settings);
      await refused(await among(fetcher, bad), 'SIZE_MISMATCH', bad, served);
      await fetcher.close();
      assert.equal(requests.filter((p) => p === bad.path).length, 1);
    });

    it('refuses a body that ends short with a clean end, after its retries (SIZE_MISMATCH)', async () => {
      const bad = { path: '/pool/whole-short.deb', data: randomBytes(5000) };
      const served = bad.data.subarray(0, 4000);
      fault = (req, res) => {
        if (req.url !== bad.path) return false;
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.end(served);
        return true;
      };
      const fetcher = new Fetcher(settings);
      await refused(await among(fetcher, bad), 'SIZE_MISMATCH', bad, served);
      await fetcher.close();
      assert.equal(requests.filter((p) => p === bad.path).length, 1 + settings.retries, 'a short body may be a dropped connection: retried');
    });

    it('refuses a Content-Length other than the signed size before reading the body (SIZE_MISMATCH, not retried)', async () => {
      const bad = { path: '/pool/whole-length.deb', data: randomBytes(2500) };
      const served = Buffer.concat([bad.data, Buffer.alloc(10)]);
      fault = (req, res) => {
        if (req.url !== bad.path) return false;
        res.writeHead(200, { 'Content-Length': served.length }).end(served);
        return true;
      };
      const fetcher = new Fetcher(settings);
      await refused(await among(fetcher, bad), 'SIZE_MISMATCH', bad, served);
      await fetcher.close();
      assert.equal(requests.filter((p) => p === bad.path).length, 1);
    });

    it('refuses a body cut off by the connection on every attempt (UPSTREAM_HTTP), and keeps using the other connections', async () => {
      const bad = { path: '/pool/whole-cut.deb', data: randomBytes(6000) };
      fault = (req, res) => {
        if (req.url !== bad.path) return false;
        res.writeHead(200, { 'Content-Length': bad.data.length });
        res.write(bad.data.subarray(0, 3000), () => res.socket?.destroy());
        return true;
      };
      const fetcher = new Fetcher(settings);
      await refused(await among(fetcher, bad), 'UPSTREAM_HTTP', bad);
      assert.equal(requests.filter((p) => p === bad.path).length, 1 + settings.retries);
      // The same fetcher, once upstream answers honestly: the file is stored whole.
      fault = null;
      const f3 = files.get('/pool/f3.deb')!;
      await store.remove(sha(f3));
      await fetcher.toStore([`${url}/pool/f3.deb`], { sha256: sha(f3), size: f3.length }, store);
      await fetcher.close();
      assert.ok((await store.read(sha(f3))).equals(f3));
    });
  });

  it('aborts a request at its deadline even while bytes still trickle within the idle timeout', async () => {
    const data = randomBytes(10);
    fault = (req, res) => {
      if (req.url !== '/pool/trickle.deb') return false;
      res.writeHead(200, { 'Content-Length': data.length });
      let i = 0;
      const timer = setInterval(() => (i < data.length ? res.write(data.subarray(i, ++i)) : res.end()), 300);
      res.on('close', () => clearInterval(timer));
      return true;
    };
    // Deadline: 100 + 500 ms of slack, the 10 bytes take no time at minRate: cut off at 600 ms,
    // before the next byte (every 300 ms) would let the rate check see it, and before the idle timeout.
    const fetcher = new Fetcher({ ...settings, retries: 0, connectTimeoutMs: 100, idleTimeoutMs: 500, minRate: 1 << 30 });
    const t0 = Date.now();
    await assert.rejects(fetcher.toStore([`${url}/pool/trickle.deb`], { sha256: sha(data), size: data.length }, store), (e) => {
      assert.ok(isAptfreezeError(e) && e.code === 'UPSTREAM_HTTP', String(e));
      assert.match(e.message, /timed out \(The operation was aborted due to timeout\)/);
      return true;
    });
    const ms = Date.now() - t0;
    await fetcher.close();
    assert.ok(ms >= 550 && ms < 1500, `cut off after ${ms} ms`);
    assert.equal(await store.has(sha(data)), false);
    assert.deepEqual(await readdir(fsBlobFiles(store).tmp), []);
  });
});
