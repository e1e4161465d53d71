// Issue 11 acceptance 4: the serving caches stay within their configured byte budget
// (`serve.cacheBytes`) while 10,000 distinct small files and 50 large files are requested over
// real HTTP on 127.0.0.1, asserted from the caches' own accounting (lru-cache's calculatedSize)
// after every answer; every answer carries the file's bytes, and the caches were in use (full
// to near their budget, so it was eviction that kept them within it).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { mkdirSync, writeFileSync, utimesSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import type { CacheStats } from '../server/http/serve-tree.ts';

const budget = 4 * 1024 * 1024;
const serial = '2026112701';
const smallCount = 10_000;
const largeCount = 50;

function get(agent: Agent, url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the serving caches under many distinct files', () => {
  let svc: ServiceHarness;
  const files: Array<{ path: string; sha256: string; size: number }> = [];

  before(async () => {
    const dir = await tmpDir('af-serve-budget');
    svc = await startService(dir, { archives: {}, serve: { cacheBytes: budget } });
    // A published tree as the service lays it out (an archive that is no longer configured
    // keeps being served): small pool files (by URL and by body) and large indices (by body).
    const archive = join(svc.dataDir, 'public', 'debian');
    const tree = join(archive, serial);
    for (let i = 0; i < smallCount; i++) {
      const rel = `pool/main/p${i % 100}/small-${i}_1.0_all.deb`;
      if (i < 100) mkdirSync(join(tree, 'pool/main', `p${i}`), { recursive: true });
      const b = randomBytes(1000 + (i % 1000));
      writeFileSync(join(tree, rel), b);
      files.push({ path: rel, sha256: sha(b), size: b.length });
    }
    mkdirSync(join(tree, 'dists/bookworm/main/binary-amd64/by-hash/SHA256'), { recursive: true });
    for (let i = 0; i < largeCount; i++) {
      const b = randomBytes(200_000 + i * 10_000);
      const rel = `dists/bookworm/main/binary-amd64/by-hash/SHA256/${sha(b)}`;
      writeFileSync(join(tree, rel), b);
      files.push({ path: rel, sha256: sha(b), size: b.length });
    }
    // The URL cache trusts the archive's stamp only once it is safely in the past.
    const past = new Date(Date.now() - 60_000);
    utimesSync(archive, past, past);
  });
  after(async () => {
    await svc?.close();
  });

  it('keeps both caches within serve.cacheBytes after every answer, and answers every file with its bytes', async () => {
    const tree = svc.daemon.tree!;
    assert.equal(tree.cacheStats().budget, budget, 'the configured budget reached the serving module');
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    let worst = 0;
    let most = { files: 0, urls: 0 };
    const within = (s: CacheStats) => {
      most = { files: Math.max(most.files, s.files.entries), urls: Math.max(most.urls, s.urls.entries) };
      assert.ok(s.files.max + s.urls.max <= budget, `the caches' limits fit the budget: ${JSON.stringify(s)}`);
      assert.ok(s.files.bytes <= s.files.max && s.urls.bytes <= s.urls.max, JSON.stringify(s));
      assert.ok(s.files.bytes + s.urls.bytes <= budget, JSON.stringify(s));
      worst = Math.max(worst, s.files.bytes + s.urls.bytes);
    };
    // Small and large interleaved, each file twice (the second is a cache hit where the entry survived).
    const order = [...files.keys(), ...files.keys()];
    let next = 0;
    let served = 0;
    try {
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < order.length) {
            const f = files[order[next++]!]!;
            const r = await get(agent, `${svc.url}/debian/${serial}/${f.path}`);
            assert.equal(r.status, 200, f.path);
            assert.equal(r.body.length, f.size, f.path);
            assert.equal(sha(r.body), f.sha256, f.path);
            served++;
            within(tree.cacheStats());
          }
        }),
      );
    } finally {
      agent.destroy();
    }
    assert.equal(served, 2 * (smallCount + largeCount));
    const end = tree.cacheStats();
    // In use, and full: the budget held because entries were evicted, not because nothing was kept.
    assert.ok(most.urls > 100 && most.files > 100 && end.files.entries > 0, `${JSON.stringify(most)} ${JSON.stringify(end)}`);
    assert.ok(worst > budget / 2, `the caches filled up to ${worst} of ${budget} bytes`);
  });
});
