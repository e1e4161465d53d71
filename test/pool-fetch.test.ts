// Issue 16: the pool step reads small files whole (server/mirror/whole-body.ts) and many at once.
// Among dozens of new pool files downloaded together, one whose bytes are not the signed ones,
// one whose body runs past its signed size and one whose body ends short each refuse the
// snapshot with their code, and the published state stays byte-identical (hostile.ts's checks:
// tree, serials, latest, no partial file, every store blob whole). Once upstream answers
// honestly, the next snapshot publishes every file whole.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { churn } from './helpers/upstream.ts';
import { hostileEnv, onPath, type HostileEnv } from './helpers/hostile.ts';

describe('the pool step downloading many small files at once', () => {
  let env: HostileEnv;
  /** A pool file the churned upstream lists and the store does not hold yet. */
  let target: { path: string; size: number; sha256: string };
  let newFiles = 0;

  before(async () => {
    env = await hostileEnv('pool-fetch', { packages: 48, fetch: { concurrency: 8, retries: 1 } });
    const before = env.build;
    env.pkgs = churn(env.pkgs, 0.75, 1600);
    await env.rebuild(env.pkgs);
    const fresh = env.build.debs.filter((x) => !before.debs.some((b) => b.filename === x.filename));
    newFiles = fresh.length;
    const d = fresh[Math.floor(fresh.length / 2)]!;
    target = { path: `/${d.filename}`, size: d.size, sha256: d.sha256 };
  });
  afterEach(() => {
    if (env) env.up.fault = null;
  });
  after(async () => {
    await env?.close();
  });

  const answer = (body: Buffer, length: boolean) => (_p: string, res: ServerResponse) => {
    res.writeHead(200, length ? { 'Content-Length': body.length } : { 'Content-Type': 'application/octet-stream' });
    res.end(body);
    return true;
  };

  it('has dozens of new files to fetch', () => {
    assert.ok(newFiles >= 30, `${newFiles} new pool files`);
  });

  it('refuses a file whose bytes are not the signed ones (HASH_MISMATCH), publishing nothing', async () => {
    const body = await readFile(join(env.upRoot, target.path));
    body[body.length >> 1] ^= 0x40;
    env.up.fault = onPath((p) => p === target.path, answer(body, true));
    env.up.reset();
    await env.expectRefusal('HASH_MISMATCH');
    assert.equal(env.up.count((p) => p === target.path), 1, 'not retried');
  });

  it('refuses a body running past its signed size (SIZE_MISMATCH), publishing nothing', async () => {
    const body = Buffer.concat([await readFile(join(env.upRoot, target.path)), Buffer.alloc(4096, 7)]);
    env.up.fault = onPath((p) => p === target.path, answer(body, false));
    env.up.reset();
    await env.expectRefusal('SIZE_MISMATCH');
    assert.equal(env.up.count((p) => p === target.path), 1, 'not retried');
  });

  it('refuses a body that ends short (SIZE_MISMATCH, after its retry), publishing nothing', async () => {
    const body = (await readFile(join(env.upRoot, target.path))).subarray(0, target.size - 17);
    env.up.fault = onPath((p) => p === target.path, answer(body, false));
    env.up.reset();
    await env.expectRefusal('SIZE_MISMATCH');
    assert.equal(env.up.count((p) => p === target.path), 2, 'the first attempt and one retry');
  });

  it('publishes every new file whole once upstream answers honestly', async () => {
    const { serial } = await env.expectSurvival();
    const published = await readFile(join(env.svc.dataDir, 'public', 'debian', serial, target.path));
    assert.equal(published.length, target.size);
  });
});
