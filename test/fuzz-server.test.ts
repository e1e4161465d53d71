// Issue 6 acceptance 4 and 5: property tests of URL path handling (server/http/tree-request.ts
// decodeSegments) and of the live server. Every path decodes to segments that stay inside the
// tree, or is refused with UNSAFE_PATH / NOT_FOUND; the running server answers every hostile
// request (encoded traversal, overlong UTF-8, NUL, backslashes, Unicode lookalikes, symlinks out
// of the tree, garbage JSON bodies) with a 2xx/3xx/4xx, never a 5xx, and never with a byte of a
// file outside the published tree or of the private key.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { symlink, writeFile, readFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { decodeSegments } from '../server/http/tree-request.ts';
import { snapshotService } from '../server/snapshot/service.ts';
import { createUpstreamKey, buildUpstream, makePackages } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { FuzzLedger, check, checkAsync, runs, trickyChars, typed } from './helpers/fuzz.ts';

const root = resolve('/srv/aptfreeze/public');

/** Percent-encodes every byte of the UTF-8 form (lone surrogates become U+FFFD, as on the wire). */
const pct = (s: string) => [...Buffer.from(s, 'utf8')].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('');
/** Keeps printable ASCII as is (what may go on an HTTP request line) and encodes the rest. */
const wire = (s: string) => s.replace(/[^!-~]|[/?#]/g, (c) => pct(c));

/** One raw (still percent-encoded) path segment, hostile more often than not. */
const rawSegment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('..', '.', '', '%2e%2e', '%2E%2e', '.%2e', '%2e', '%2f', '%2F', '..%2f..', '%5c', '..%5c..', '%00', '%0a', '%0d%0a', '%c0%ae%c0%ae', '%c0%af', '%e0%80%ae', '%e2%80%a4%e2%80%a4', '%ef%bc%8e%ef%bc%8e', '%', '%zz', '%2', '%25', '%252e%252e', '~', '.staging-2026112701-abcd', '.latest-x', 'latest', 'keys', 'private.asc', 'InRelease', 'by-hash', 'SHA256', 'pool', 'dists', 'bookworm', 'evil-file', 'evil-dir', 'secret.txt', 'passwd', 'etc') },
  { weight: 2, arbitrary: fc.constantFrom(...trickyChars).map(pct) },
  { weight: 1, arbitrary: fc.constantFrom(...trickyChars).map((c) => `..${pct(c)}`) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 8 }).map(wire) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }).map(wire) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')) },
);
const rawPath = fc.array(rawSegment, { maxLength: 8 }).map((segs) => `/${segs.join('/')}`);

/** Raw GET/HEAD (the path goes on the wire as written) or a POST with a body. */
function send(agent: Agent, url: string, opts: { method: string; path: string; body?: Buffer; headers?: Record<string, string> }): Promise<{ status: number; body: Buffer }> {
  const u = new URL(url);
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: u.hostname, port: u.port, agent, path: opts.path, method: opts.method, headers: { ...(opts.body ? { 'content-type': 'application/json', 'content-length': String(opts.body.length) } : {}), ...opts.headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('URL path handling and the live server on hostile requests', () => {
  const ledger = new FuzzLedger();
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let serial: string;
  let agent: Agent;
  let privateKey: string;
  const secret = 'TOP-SECRET-OUTSIDE-THE-TREE';

  before(async () => {
    const dir = await tmpDir('af-fuzz-server');
    const key = await createUpstreamKey(join(dir, 'keys'));
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: makePackages(3) }], key);
    up = await serveUpstream(join(dir, 'up'));
    svc = await startService(join(dir, 'svc'), {
      archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
    });
    serial = (await snapshotService(svc.services)('debian', 'fuzz')).serial;
    await writeFile(join(svc.dataDir, 'secret.txt'), secret);
    const tree = join(svc.dataDir, 'public', 'debian', serial);
    await symlink(join(svc.dataDir, 'secret.txt'), join(tree, 'pool', 'evil-file'));
    await symlink(svc.dataDir, join(tree, 'pool', 'evil-dir'));
    privateKey = (await readFile(join(svc.dataDir, 'keys', 'private.asc'), 'utf8')).split('\n').find((l) => l.length > 40 && !l.startsWith('-'))!;
    agent = new Agent({ keepAlive: true, maxSockets: 4 });
  });
  after(async () => {
    agent?.destroy();
    await svc?.close();
    await up?.close();
  });

  it('decodes a path into segments inside the tree, or refuses it (UNSAFE_PATH, NOT_FOUND)', () => {
    let refused = 0;
    check(ledger, 'decodeSegments', runs(30_000), [rawPath], (p) => {
      const r = typed(['UNSAFE_PATH', 'NOT_FOUND'], () => decodeSegments(p));
      if (!r.ok) {
        refused++;
        return;
      }
      for (const s of r.value) {
        assert.ok(s !== '' && s !== '.' && s !== '..' && !s.startsWith('.'), `segment ${JSON.stringify(s)}`);
        assert.ok(!/[/\\\u0000-\u001f\u007f]/.test(s), `segment ${JSON.stringify(s)}`);
      }
      const abs = resolve(root, ...r.value);
      assert.ok(abs === root || abs.startsWith(root + sep), `inside the tree: ${abs}`);
    });
    assert.ok(refused > 0);
  });

  it('answers hostile GET and HEAD paths with no 5xx and nothing from outside the tree', async () => {
    const prefix = fc.constantFrom('', '/debian', () => `/debian/${serial}`, '/debian/latest', () => `/debian/${serial}/pool`, () => `/debian/${serial}/dists/bookworm`, '/keys', '/api', '/api/archives/debian/serials', '/debian/project/trace');
    const statuses = new Map<number, number>();
    await checkAsync(ledger, 'live GET/HEAD', runs(3_000), [prefix, rawPath, fc.constantFrom('GET', 'HEAD'), fc.option(fc.constantFrom('bytes=0-10', 'bytes=-5', 'bytes=99999999-', 'bytes=5-1', 'bytes=a-b', 'bytes=0-1,2-3'))], async (pre, p, method, range) => {
      const path = `${typeof pre === 'function' ? pre() : pre}${p}`.replace(/^\/\//, '/');
      const r = await send(agent, svc.url, { method, path, headers: range ? { range } : {} });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.ok(r.status >= 200 && r.status < 500, `${method} ${path}: ${r.status} ${r.body.toString('utf8', 0, 200)}`);
      const text = r.body.toString('latin1');
      assert.ok(!text.includes(secret), `${path}: a file outside the tree was served`);
      assert.ok(!text.includes(privateKey) && !text.includes('PRIVATE KEY'), `${path}: private key material served`);
      assert.ok(!text.includes('root:x:0:0'), `${path}: /etc/passwd served`);
    });
    assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0 && (statuses.get(404) ?? 0) > 0, `a mix of answers: ${JSON.stringify([...statuses])}`);
  });

  it('answers hostile JSON API bodies and tokens with a 4xx, never a 5xx', async () => {
    const body = fc.oneof(
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.string({ unit: 'binary', maxLength: 64 }).map((s) => Buffer.from(s)),
      fc.constantFrom('{', '{"until":', '[]', 'null', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', '\u0000', '{"a":'.repeat(500)).map((s) => Buffer.from(s)),
      fc.nat({ max: 40_000 }).map((n) => Buffer.from(JSON.stringify({ pad: 'x'.repeat(n) }))),
    );
    const token = fc.option(fc.oneof(fc.string({ unit: 'grapheme-ascii', maxLength: 40 }), fc.constantFrom('Bearer', 'Bearer ', 'Bearer af_x', 'Basic YWRtaW46YWRtaW4=', `Bearer ${'a'.repeat(5000)}`)));
    const path = fc.constantFrom('/api/archives/debian/snapshots', '/api/archives/nope/snapshots', () => `/api/archives/debian/serials/${serial}/freeze`, () => `/api/archives/debian/serials/${serial}/thaw`, '/api/gc', '/api/tokens', '/api/audit', '/api/archives/debian/serials/..%2f..%2f/freeze');
    const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/json; charset=bogus', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x');
    const encoding = fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-bogus'));
    await checkAsync(ledger, 'live JSON API', runs(1_500), [path, body, token, fc.constantFrom('POST', 'PUT', 'PATCH', 'DELETE'), contentType, encoding], async (p, b, auth, method, type, enc) => {
      const target = typeof p === 'function' ? p() : p;
      const headers: Record<string, string> = { 'content-type': type, ...(enc === null ? {} : { 'content-encoding': enc }), ...(auth === null ? {} : { authorization: auth }) };
      const r = await send(agent, svc.url, { method, path: target, body: b, headers });
      assert.ok(r.status >= 400 && r.status < 500, `${method} ${target} ${b.toString('utf8', 0, 80)}: ${r.status} ${r.body.toString('utf8', 0, 300)}`);
      if (r.body.length) assert.ok(JSON.parse(r.body.toString('utf8')).error.code, 'a JSON error with a code');
    });
    assert.equal(svc.services.repo.listSerials('debian').length, 1, 'no request took a snapshot');
  });

  it('ran enough inputs', (t) => {
    for (const line of ledger.lines()) t.diagnostic(line);
    assert.ok(ledger.total >= runs(34_000), `${ledger.total} inputs`);
  });
});
