// Issue 6, hostile upstreams (3/3): a correctly signed upstream whose indices are hostile:
// gzip and xz bombs (a small index that expands beyond fetch.maxDecompressedBytes), pool
// paths that climb out of the tree (`Filename: ../../x`), a huge field. Each is refused with one
// `aptfreeze: CODE:` line in bounded time and memory, nothing is read or written outside the
// service's directories, and the published state stays byte-identical.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { hostileEnv, sha256, timingLines, writeSignedSuite, type HostileEnv } from './helpers/hostile.ts';

const cap = 256 * 1024; // fetch.maxDecompressedBytes in this file's service

function xz(data: Buffer): Buffer {
  const r = spawnSync('xz', ['-c', '-9', '-T1'], { input: data, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

/** Every path under a directory (relative), except the ones `skip` names. */
async function listing(root: string, skip: (rel: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(root, p);
      if (skip(rel)) continue;
      out.push(rel);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out.sort();
}

describe('a signed upstream serving hostile indices', () => {
  let env: HostileEnv;
  /** The genuine Packages text of the upstream (its stanzas reference real pool files). */
  let packages: string;
  let stanza: string;

  /** Publishes a suite whose one Packages variant is `data` (named by `name`), signed by the archive key. */
  async function serveIndex(name: 'Packages' | 'Packages.gz' | 'Packages.xz', data: Buffer) {
    await writeSignedSuite(env.upRoot, 'bookworm', env.key, [{ path: `main/binary-amd64/${name}`, data }]);
  }

  /** Outside paths a traversal could reach; none may appear. */
  const escapes = () => [join(env.dir, 'x'), join(env.dir, 'svc', 'x'), join(env.svc.dataDir, 'x'), join(env.svc.dataDir, 'public', 'x'), join(env.svc.dataDir, 'public', 'debian', 'x')];

  before(async () => {
    env = await hostileEnv('hostile-content', { fetch: { retries: 1, backoffMs: 10, maxDecompressedBytes: cap } });
    packages = gunzipSync(await readFile(join(env.upRoot, 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages.gz'))).toString('utf8');
    stanza = packages.split('\n\n')[0]!.trim();
  });
  afterEach(() => {
    if (env) env.up.fault = null;
  });
  after(async () => {
    await env?.close();
  });

  it('stops inflating a gzip bomb index at fetch.maxDecompressedBytes (UPSTREAM_TOO_LARGE)', async () => {
    // 64 MiB of well-formed stanzas in ~100 KiB of gzip: only the cap can stop it early.
    const plain = Buffer.from(`${stanza}\n\n`.repeat(Math.ceil((64 << 20) / (stanza.length + 2))));
    const bomb = gzipSync(plain, { level: 9 });
    assert.ok(bomb.length < plain.length / 100, `a bomb: ${bomb.length} bytes -> ${plain.length}`);
    await serveIndex('Packages.gz', bomb);
    await env.expectRefusal('UPSTREAM_TOO_LARGE', { name: `gzip bomb (${bomb.length} B -> ${plain.length >> 20} MiB, cap ${cap >> 10} KiB)`, maxMs: 30_000 });
  });

  it('stops inflating an xz bomb index at fetch.maxDecompressedBytes (UPSTREAM_TOO_LARGE)', async () => {
    const plain = Buffer.from(`${stanza}\n\n`.repeat(Math.ceil((64 << 20) / (stanza.length + 2))));
    const bomb = xz(plain);
    assert.ok(bomb.length < plain.length / 1000, `a bomb: ${bomb.length} bytes -> ${plain.length}`);
    await serveIndex('Packages.xz', bomb);
    await env.expectRefusal('UPSTREAM_TOO_LARGE', { name: `xz bomb (${bomb.length} B -> ${plain.length >> 20} MiB, cap ${cap >> 10} KiB)`, maxMs: 30_000 });
  });

  it('refuses a stanza larger than the stanza cap (MALFORMED)', async () => {
    const huge = `${stanza}\nX-Huge: ${'y'.repeat(2 << 20)}\n`;
    await env.svc.reconfigure((c) => ((c['fetch'] as Record<string, unknown>)['maxDecompressedBytes'] = 64 << 20));
    try {
      await serveIndex('Packages.gz', gzipSync(Buffer.from(`${packages.trim()}\n\n${huge}`)));
      await env.expectRefusal('MALFORMED', { name: 'a 2 MiB field in an index' });
    } finally {
      await env.svc.reconfigure((c) => ((c['fetch'] as Record<string, unknown>)['maxDecompressedBytes'] = cap));
    }
  });

  const traversals: Array<[string, string, string]> = [
    ['Filename: ../../x', '../../x', 'UNSAFE_PATH'],
    ['Filename: pool/../../../../x', 'pool/../../../../x', 'UNSAFE_PATH'],
    ['an absolute Filename: /etc/passwd', '/etc/passwd', 'UNSAFE_PATH'],
    ['a Filename shadowing our own dists/…/InRelease', 'dists/bookworm/InRelease', 'UNSAFE_PATH'],
    ['a Filename with backslashes (pool\\..\\..\\x)', 'pool\\..\\..\\x', 'UNSAFE_PATH'],
    // A literal file name for us; fetched percent-encoded (as apt does), so never as ../../../x on the upstream.
    ['a percent-encoded Filename: pool/%2e%2e/%2e%2e/%2e%2e/x', 'pool/%2e%2e/%2e%2e/%2e%2e/x', 'UPSTREAM_HTTP'],
  ];
  const outside = (rel: string) => rel === 'up' || rel.startsWith('svc/data/store') || rel.startsWith('svc/data/aptfreeze.db') || rel === 'rss' || rel.startsWith('keys');
  for (const [title, value, code] of traversals) {
    it(`refuses ${title} in a signed index, touching nothing outside (${code})`, async () => {
      // A hash the store does not hold, so that the file would have to be fetched.
      const evil = stanza.replace(/^Package: .*$/m, 'Package: evil').replace(/^Filename: .*$/m, `Filename: ${value}`).replace(/^SHA256: .*$/m, `SHA256: ${'e'.repeat(64)}`);
      assert.notEqual(evil, stanza);
      const before = await listing(env.dir, outside);
      await serveIndex('Packages', Buffer.from(`${packages.trim()}\n\n${evil}\n`));
      env.up.reset();
      await env.expectRefusal(code, { name: title });
      for (const p of escapes()) assert.ok(!existsSync(p), `${p} not written`);
      assert.deepEqual(await listing(env.dir, outside), before, 'no new path anywhere beside the store and the database');
      // Nothing outside dists/ and pool/ asked for upstream; an unsafe path is refused before any pool request.
      assert.deepEqual(env.up.requests.filter((p) => !p.startsWith('/dists/bookworm/') && !(code !== 'UNSAFE_PATH' && p.startsWith('/pool/'))), [], 'no request outside the archive');
    });
  }

  it('refuses a Sources Directory climbing out of the tree (UNSAFE_PATH)', async () => {
    await env.svc.reconfigure((c) => ((c['archives'] as Record<string, Record<string, unknown>>)['debian']!['sources'] = true));
    try {
      const dsc = Buffer.from('Format: 1.0\nSource: evil\n');
      const sources = [
        'Package: evil',
        'Binary: evil',
        'Version: 1.0-1',
        'Checksums-Sha256:',
        ` ${sha256(dsc)} ${dsc.length} evil_1.0-1.dsc`,
        'Directory: ../../../x',
        '',
      ].join('\n');
        await writeSignedSuite(env.upRoot, 'bookworm', env.key, [
        { path: 'main/binary-amd64/Packages', data: Buffer.from(packages) },
        { path: 'main/source/Sources', data: Buffer.from(sources) },
      ]);
      env.up.reset();
      await env.expectRefusal('UNSAFE_PATH', { name: 'Sources Directory: ../../../x' });
      for (const p of escapes()) assert.ok(!existsSync(p), `${p} not written`);
      assert.deepEqual(env.up.requests.filter((p) => !p.startsWith('/dists/bookworm/')), [], 'no pool file fetched');
    } finally {
      await env.svc.reconfigure((c) => ((c['archives'] as Record<string, Record<string, unknown>>)['debian']!['sources'] = false));
    }
  });

  it('still publishes the genuine index afterwards (the refusals left nothing behind that blocks it)', async () => {
    await serveIndex('Packages', Buffer.from(packages));
    await env.expectSurvival({ name: 'genuine index after the attacks' });
  });

  it('reports the time and memory of each attack', (t) => {
    assert.ok(env.timings.length >= 9);
    for (const line of timingLines(env.timings)) t.diagnostic(line);
  });
});
