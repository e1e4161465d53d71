// The serving module's in-memory caches (server/http/serve-tree.ts) never answer with bytes the
// tree no longer holds: a file renamed over (freeze/thaw re-signing) is served with its new
// bytes, even with the same size and mtime; a removed serial's files (gc) are 410/404, never 200,
// whether they were cached as large files, small files or immutable URLs. The answers (headers,
// HEAD, conditional requests, Range) are those the file's stat gives, cached or not.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdir, writeFile, readFile, rename, rm, symlink, utimes, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import express from 'express';
import { TreeServer, type TreeServerOptions, type ServingCatalog } from '../server/http/serve-tree.ts';
import { FsTreeSource } from '../server/http/tree-source.ts';
import { errorMiddleware } from '../server/http/app.ts';
import { AptfreezeError } from '../server/errors.ts';
import { silentLogger } from '../server/log.ts';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages, churn } from './helpers/upstream.ts';
import { DAY, api, fakeClock, setUp, snapshot, suite, token, type Fixture } from './helpers/release.ts';

const S1 = '2026112701';
const S2 = '2026112702';
const packages = 'dists/bookworm/main/binary-amd64/Packages';
const inRelease = 'dists/bookworm/InRelease';
const bigDeb = 'pool/main/b/big/big_1.0_amd64.deb';
const smallDeb = 'pool/main/s/small/small_1.0_amd64.deb';

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer({ keepAliveTimeout: 1000 }, handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return { server, url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}

async function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(url, { method, headers });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** Replaces a file the way re-signing does (temp file, rename), keeping its size and mtime: only the inode tells. */
async function renameOver(path: string, data: Buffer): Promise<void> {
  const old = await stat(path);
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, data);
  await utimes(tmp, old.atime, old.mtime);
  await rename(tmp, path);
}

/** The headers a file's stat gives (independently of the server's code). */
async function expectedHeaders(abs: string, rel: string, immutable: boolean): Promise<Record<string, string>> {
  const st = await stat(abs);
  const ms = st.mtime.getTime();
  return {
    'content-length': String(st.size),
    etag: `W/"${st.size.toString(16)}-${ms.toString(16)}"`,
    'last-modified': new Date(Math.floor(ms / 1000) * 1000).toUTCString(),
    'content-type': rel.endsWith('.deb') ? 'application/vnd.debian.binary-package' : 'text/plain; charset=utf-8',
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=60',
    'accept-ranges': 'bytes',
  };
}

describe('the serving caches on a published tree', () => {
  let root: string;
  const collected = new Set<string>();
  const catalog: ServingCatalog = { isCollected: (_a, s) => collected.has(s), newestSerials: () => [] };
  const servers: Server[] = [];
  let fast: string;
  let small: string;
  let uncached: string;
  const body: Record<string, Buffer> = {};

  const serve = async (opts: TreeServerOptions = {}) => {
    const app = express();
    app.use((_req: express.Request, _res: express.Response, next: express.NextFunction) => next(new AptfreezeError('NOT_FOUND', 'not found')));
    app.use(errorMiddleware({ log: silentLogger }));
    const s = await listen(new TreeServer(new FsTreeSource(root, ['debian']), catalog, app, opts).handle);
    servers.push(s.server);
    return s.url;
  };

  before(async () => {
    root = join(await tmpDir('af-serve-cache'), 'public');
    const archive = join(root, 'debian');
    for (const [serial, pool] of [[S1, 'p1'], [S2, 'p2']] as const) {
      const dir = join(archive, serial);
      await mkdir(join(dir, 'dists/bookworm/main/binary-amd64'), { recursive: true });
      await mkdir(join(archive, '.pools', pool, 'main/b/big'), { recursive: true });
      await mkdir(join(archive, '.pools', pool, 'main/s/small'), { recursive: true });
      await symlink(`../.pools/${pool}`, join(dir, 'pool'));
      for (const [rel, size] of [[packages, 300_000], [inRelease, 3000], [bigDeb, 100_000], [smallDeb, 2048]] as const) {
        const b = randomBytes(size);
        body[`${serial}/${rel}`] = b;
        await writeFile(join(dir, rel), b);
      }
    }
    await symlink(S2, join(archive, 'latest'));
    // The archive directory's mtime must be safely in the past for the immutable-URL cache to be used.
    const past = new Date(Date.now() - 60_000);
    await utimes(archive, past, past);
    fast = await serve();
    // A body budget of 250 kB (three quarters of the total) holding files up to 120 kB.
    small = await serve({ cacheBytes: 333_334, maxCachedFile: 120_000 });
    uncached = await serve({ cacheBytes: 0 });
  });
  after(async () => {
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it('answers large and small files with the headers their stat gives, cached or not, also for HEAD, conditional requests and Range', async () => {
    for (const rel of [packages, inRelease, bigDeb, smallDeb]) {
      for (const serial of [S1, 'latest']) {
        const want = body[`${serial === 'latest' ? S2 : serial}/${rel}`]!;
        const path = `/debian/${serial}/${rel}`;
        const expected = await expectedHeaders(join(root, 'debian', serial, rel), rel, serial !== 'latest' && rel.startsWith('pool/'));
        for (let i = 0; i < 3; i++) {
          for (const url of [fast, uncached]) {
            const a = await get(url + path);
            assert.equal(a.status, 200, path);
            assert.ok(a.body.equals(want), `${path}: the file's bytes`);
            for (const [h, v] of Object.entries(expected)) assert.equal(a.headers.get(h), v, `${path}: ${h}`);
          }
        }
        const head = await get(fast + path, {}, 'HEAD');
        assert.equal(head.status, 200);
        assert.equal(head.headers.get('content-length'), String(want.length));
        assert.equal(head.body.length, 0);
        const etag = head.headers.get('etag')!;
        assert.equal((await get(fast + path, { 'if-none-match': etag })).status, 304);
        assert.equal((await get(fast + path, { 'if-modified-since': head.headers.get('last-modified')! })).status, 304);
        for (const url of [fast, small, uncached]) {
          const range = await get(url + path, { range: 'bytes=100-199' });
          assert.equal(range.status, 206);
          assert.equal(range.headers.get('content-range'), `bytes 100-199/${want.length}`);
          assert.ok(range.body.equals(want.subarray(100, 200)), `${path}: the range`);
          const tail = await get(url + path, { range: 'bytes=-10' });
          assert.equal(tail.status, 206);
          assert.ok(tail.body.equals(want.subarray(want.length - 10)), `${path}: the last 10 bytes`);
          const from = await get(url + path, { range: `bytes=${want.length - 5}-`, 'if-range': head.headers.get('last-modified')! });
          assert.equal(from.status, 206, 'resuming with If-Range of the same date');
          assert.ok(from.body.equals(want.subarray(want.length - 5)));
          const stale = await get(url + path, { range: 'bytes=0-9', 'if-range': 'Thu, 01 Jan 2015 00:00:00 GMT' });
          assert.equal(stale.status, 200, 'a stale If-Range gets the whole file');
          assert.ok(stale.body.equals(want));
          const beyond = await get(url + path, { range: `bytes=${want.length}-` });
          assert.equal(beyond.status, 416);
          assert.equal(beyond.headers.get('content-range'), `bytes */${want.length}`);
          assert.equal((await get(url + path, { 'if-match': '"nope"' })).status, 412);
        }
      }
    }
  });

  it('serves many concurrent requests of an uncached large file, and files beyond the budget, with the right bytes', async () => {
    const url = await serve();
    const all = await Promise.all(Array.from({ length: 20 }, () => get(`${url}/debian/${S1}/${packages}`)));
    for (const r of all) assert.ok(r.status === 200 && r.body.equals(body[`${S1}/${packages}`]!));
    // The small budget: Packages (300 kB) is beyond its largest file and streams; the two 100 kB debs evict each other.
    for (let i = 0; i < 4; i++) {
      for (const [serial, rel] of [[S1, packages], [S1, bigDeb], [S2, bigDeb], ['latest', bigDeb]] as const) {
        const r = await get(`${small}/debian/${serial}/${rel}`);
        assert.equal(r.status, 200);
        assert.ok(r.body.equals(body[`${serial === 'latest' ? S2 : serial}/${rel}`]!), `${serial}/${rel}`);
      }
    }
  });

  it('serves a file renamed over (re-signing) with its new bytes, though its size and mtime are unchanged', async () => {
    for (const rel of [inRelease, packages]) {
      for (const url of [fast, small]) for (const serial of [S2, 'latest']) assert.ok((await get(`${url}/debian/${serial}/${rel}`)).body.equals(body[`${S2}/${rel}`]!), 'cached first');
      const fresh = randomBytes(body[`${S2}/${rel}`]!.length);
      await renameOver(join(root, 'debian', S2, rel), fresh);
      body[`${S2}/${rel}`] = fresh;
      for (const url of [fast, small]) {
        for (const serial of [S2, 'latest']) {
          const r = await get(`${url}/debian/${serial}/${rel}`);
          assert.equal(r.status, 200);
          assert.ok(r.body.equals(fresh), `${serial}/${rel}: the new bytes`);
          assert.ok(r.body.equals(await readFile(join(root, 'debian', S2, rel))));
        }
      }
    }
  });

  it('answers 410 for every file of a collected serial once its tree is removed, cached or not, and 404 for a removed one', async () => {
    const rels = [packages, inRelease, bigDeb, smallDeb];
    for (const url of [fast, small]) for (const rel of rels) for (let i = 0; i < 2; i++) assert.equal((await get(`${url}/debian/${S1}/${rel}`)).status, 200, 'cached first');
    collected.add(S1);
    // As gc does: the serial's tree goes; its shared pool directory stays until the store sweep.
    await rm(join(root, 'debian', S1), { recursive: true });
    for (const url of [fast, small]) {
      for (const rel of rels) {
        const r = await get(`${url}/debian/${S1}/${rel}`);
        assert.equal(r.status, 410, `${S1}/${rel}`);
        assert.equal(JSON.parse(r.body.toString()).error.code, 'GONE');
      }
    }
    collected.delete(S1);
    for (const rel of rels) assert.equal((await get(`${fast}/debian/${S1}/${rel}`)).status, 404);
  });
});

describe('re-signing and gc through the running service', () => {
  const clock = fakeClock(new Date(Date.now() + 3600_000));
  const day0 = clock.now().getTime();
  let f: Fixture;
  let rm: string;
  let admin: string;
  // Uncompressed Packages above the small-file size, so that it goes through the large-file cache.
  let pkgs = makePackages(400);

  before(async () => {
    f = await setUp(await tmpDir('af-serve-cache-svc'), [suite(pkgs, { compressions: ['none', 'gz'] })], { config: { lifetime: '10d', keep: 1 }, now: clock.now });
    rm = token(f.h, 'release-manager');
    admin = token(f.h, 'admin');
  });
  after(async () => {
    await f?.close();
  });

  const onDisk = (serial: string, rel: string) => readFile(join(f.h.dataDir, 'public', 'debian', serial, rel));

  it('serves InRelease, Release and Release.gpg with their new bytes after a freeze and a thaw, and 410 for all once gc collected the serial', async () => {
    const s1 = await snapshot(f.h, rm);
    const files = ['dists/bookworm/InRelease', 'dists/bookworm/Release', 'dists/bookworm/Release.gpg', 'dists/bookworm/main/binary-amd64/Packages'];
    assert.ok((await onDisk(s1, files[3]!)).length > 64 * 1024, 'Packages is a large file');
    /** Each file of the serial, by its serial and (while it is the latest) by latest/. */
    const served = async (serial: string, latest = true) => {
      const out: Buffer[] = [];
      for (const rel of files) {
        for (const path of latest ? [serial, 'latest'] : [serial]) {
          const r = await get(`${f.h.url}/debian/${path}/${rel}`);
          assert.equal(r.status, 200, `${path}/${rel}`);
          assert.ok(r.body.equals(await onDisk(serial, rel)), `${path}/${rel}: the bytes on disk`);
          out.push(r.body);
        }
      }
      return out;
    };
    const before = await served(s1);
    await served(s1);
    const fr = await api(f.h, 'POST', `/archives/debian/serials/${s1}/freeze`, { token: rm, body: { until: new Date(day0 + 30 * DAY).toISOString(), reason: 'release' } });
    assert.equal(fr.status, 200, JSON.stringify(fr.body));
    const frozen = await served(s1);
    assert.ok(!frozen[0]!.equals(before[0]!), 'InRelease was re-signed');
    assert.ok(frozen[6]!.equals(before[6]!), 'Packages is unchanged');
    clock.advance(DAY);
    assert.equal((await api(f.h, 'POST', `/archives/debian/serials/${s1}/thaw`, { token: rm })).status, 200);
    const thawed = await served(s1);
    assert.ok(!thawed[0]!.equals(frozen[0]!), 'InRelease was re-signed again');

    pkgs = churn(pkgs, 0.5, 1);
    await f.publish([suite(pkgs, { compressions: ['none', 'gz'] })]);
    const s2 = await snapshot(f.h, rm);
    assert.notEqual(s2, s1);
    await served(s1, false);
    clock.advance(20 * DAY);
    const gc = await api(f.h, 'POST', '/gc?wait=1', { token: admin, body: {} });
    assert.equal(gc.status, 200, JSON.stringify(gc.body));
    assert.deepEqual(gc.body.collected.map((c: { serial: string }) => c.serial), [s1]);
    for (const rel of [...files, 'dists/bookworm/main/binary-amd64/Packages.gz', 'proof.deb']) {
      const r = await get(`${f.h.url}/debian/${s1}/${rel}`);
      assert.equal(r.status, 410, `${s1}/${rel}`);
    }
    await served(s2);
  });
});
