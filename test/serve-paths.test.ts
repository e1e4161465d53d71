// Issue 2 acceptance 8: `..`, encoded traversal or a symlink out of the tree get 400 or 404,
// never a file outside the tree.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { createUpstreamKey, buildUpstream, makePackages } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';

/** A raw GET: the path goes on the wire exactly as written (no client-side normalisation). */
function rawGet(url: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serving the published tree to hostile paths', () => {
  let dir: string;
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let serial: string;
  const secret = 'TOP-SECRET-OUTSIDE-THE-TREE';

  before(async () => {
    dir = await tmpDir('af-paths');
    const key = await createUpstreamKey(join(dir, 'keys'));
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: makePackages(3) }], key);
    up = await serveUpstream(join(dir, 'up'));
    svc = await startService(join(dir, 'svc'), {
      archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
    });
    const r = await svc.cli(['snapshot', 'debian', '--json']);
    assert.equal(r.code, 0, r.stderr);
    serial = JSON.parse(r.stdout)[0].serial;
    await writeFile(join(svc.dataDir, 'secret.txt'), secret);
    const tree = join(svc.dataDir, 'public', 'debian', serial);
    await symlink(join(svc.dataDir, 'secret.txt'), join(tree, 'pool', 'evil-file'));
    await symlink(svc.dataDir, join(tree, 'pool', 'evil-dir'));
  });
  after(async () => {
    await svc?.close();
    await up?.close();
  });

  const attacks = () => [
    `/debian/${serial}/../../secret.txt`,
    `/debian/${serial}/../../../../../../etc/passwd`,
    `/debian/${serial}/%2e%2e/%2e%2e/secret.txt`,
    `/debian/${serial}/dists/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt`,
    `/debian/${serial}/dists/..%2f..%2f..%2fsecret.txt`,
    `/debian/${serial}/dists/..%5c..%5c..%5csecret.txt`,
    `/debian/${serial}/%252e%252e/%252e%252e/secret.txt`,
    `/debian/${serial}/pool/%00`,
    `/debian/${serial}/pool/%c0%ae%c0%ae/secret.txt`,
    `/debian/${serial}/pool/evil-file`,
    `/debian/${serial}/pool/evil-dir/secret.txt`,
    `/debian/${serial}/pool/evil-dir/keys/private.asc`,
    `/debian/latest/pool/evil-dir/secret.txt`,
    `/debian/.staging-x/secret.txt`,
    `/keys/../secret.txt`,
    `/keys/private.asc`,
    `/debian/${serial}/dists/bookworm/InRelease/../../../../../secret.txt`,
    `/%2e%2e/secret.txt`,
  ];

  it('answers 400 or 404 and never a file outside the tree', async () => {
    for (const path of attacks()) {
      const r = await rawGet(svc.url, path);
      assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
      assert.ok(!r.body.includes(secret) && !r.body.includes('PRIVATE KEY') && !r.body.includes('root:x:0:0'), path);
    }
  });

  it('still serves the real files of the same serial', async () => {
    const r = await rawGet(svc.url, `/debian/${serial}/dists/bookworm/InRelease`);
    assert.equal(r.status, 200);
    assert.match(r.body, /BEGIN PGP SIGNED MESSAGE/);
  });

  it('answers JSON errors with a code', async () => {
    const r = await rawGet(svc.url, `/debian/${serial}/%2e%2e/x`);
    assert.equal(JSON.parse(r.body).error.code, r.status === 400 ? 'UNSAFE_PATH' : 'NOT_FOUND');
  });
});
