// Issue 6, secrets and access: the private key is 0600 and never served; tokens are stored
// hashed (the token itself is nowhere on disk); the audit log is append-only (database triggers)
// and no API alters it; the JSON API refuses oversized bodies (413) and unknown fields (400).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import YAML from 'yaml';
import { createUpstreamKey, buildUpstream, makePackages } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { snapshotService } from '../server/snapshot/service.ts';
import { openServices } from '../server/services.ts';
import { loadConfigFile } from '../server/config/load.ts';
import { silentLogger } from '../server/log.ts';

/** A request with the path exactly as written (no client-side normalisation of `..`). */
function http(url: string, opts: { method?: string; path: string; body?: string | Buffer; token?: string }): Promise<{ status: number; body: string; json: () => { error?: { code: string } } & Record<string, unknown> }> {
  const u = new URL(url);
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: opts.path,
        method: opts.method ?? 'GET',
        headers: { ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}), ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Every file under a directory (following nothing), as [relative path, bytes]. */
async function files(root: string): Promise<Array<[string, Buffer]>> {
  const out: Array<[string, Buffer]> = [];
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name), `${rel}${e.name}/`);
      else if (e.isFile()) out.push([`${rel}${e.name}`, await readFile(join(d, e.name))]);
    }
  };
  await walk(root, '');
  return out;
}

describe('secrets and access', () => {
  let dir: string;
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let serial: string;
  let admin: string;
  let manager: string;
  let privateArmor: string;

  before(async () => {
    dir = await tmpDir('af-secrets');
    const key = await createUpstreamKey(join(dir, 'keys'));
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: makePackages(3) }], key);
    up = await serveUpstream(join(dir, 'up'));
    svc = await startService(join(dir, 'svc'), {
      archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
    });
    serial = (await snapshotService(svc.services)('debian', 'test')).serial;
    admin = svc.services.tokens.create('root', 'admin', new Date());
    manager = svc.services.tokens.create('rm', 'release-manager', new Date());
    privateArmor = await readFile(join(svc.dataDir, 'keys', 'private.asc'), 'utf8');
  });
  after(async () => {
    await svc?.close();
    await up?.close();
  });

  describe('the private key', () => {
    it('is created 0600 in a 0700 directory, outside the served tree', async () => {
      assert.equal((await stat(join(svc.dataDir, 'keys', 'private.asc'))).mode & 0o777, 0o600);
      assert.equal((await stat(join(svc.dataDir, 'keys'))).mode & 0o777, 0o700);
      assert.match(privateArmor, /BEGIN PGP PRIVATE KEY BLOCK/);
    });

    it('is in no served file, and the served key is the public one', async () => {
      const secretLine = privateArmor.split('\n').find((l) => l.length > 40 && !l.startsWith('-'))!;
      for (const [p, bytes] of await files(join(svc.dataDir, 'public'))) {
        const text = bytes.toString('latin1');
        assert.ok(!text.includes('PRIVATE KEY') && !text.includes(secretLine), `public/${p} holds private key material`);
      }
      const asc = await http(svc.url, { path: '/keys/aptfreeze.asc' });
      assert.equal(asc.status, 200);
      assert.match(asc.body, /BEGIN PGP PUBLIC KEY BLOCK/);
    });

    it('is never served, whatever the path', async () => {
      const paths = [
        '/keys/private.asc',
        '/keys/../keys/private.asc',
        '/keys/%2e%2e/keys/private.asc',
        '/private.asc',
        `/debian/${serial}/../../../keys/private.asc`,
        `/debian/${serial}/%2e%2e/%2e%2e/%2e%2e/keys/private.asc`,
        `/debian/latest/..%2f..%2f..%2fkeys%2fprivate.asc`,
        `/debian/${serial}/dists/..%5c..%5c..%5c..%5ckeys%5cprivate.asc`,
        '/api/../keys/private.asc',
        '/debian/project/../../../keys/private.asc',
        '/admin-token',
        '/aptfreeze.db',
      ];
      for (const path of paths) {
        for (const method of ['GET', 'HEAD']) {
          const r = await http(svc.url, { method, path });
          assert.ok([400, 404].includes(r.status), `${method} ${path}: ${r.status}`);
          assert.ok(!r.body.includes('PRIVATE KEY'), `${path} served the key`);
        }
      }
    });

    it('stops the service from starting when others can read it (CONFIG_INVALID)', async () => {
      const p = join(svc.dataDir, 'keys', 'private.asc');
      await chmod(p, 0o640);
      try {
        const r = await svc.cli(['serials', 'debian']);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /^aptfreeze: CONFIG_INVALID: /m);
      } finally {
        await chmod(p, 0o600);
      }
    });

    it('writes the bootstrap admin token 0600, outside the served tree', async () => {
      const d = join(dir, 'boot');
      const configPath = join(dir, 'boot.yaml');
      await writeFile(configPath, YAML.stringify({ listen: '127.0.0.1:0', archives: {} }));
      const saved = process.env['APTFREEZE_ADMIN_TOKEN'];
      delete process.env['APTFREEZE_ADMIN_TOKEN'];
      try {
        const s = await openServices({ config: loadConfigFile(configPath), dataDir: d, log: silentLogger, makeAdminToken: true });
        s.close();
      } finally {
        if (saved !== undefined) process.env['APTFREEZE_ADMIN_TOKEN'] = saved;
      }
      assert.equal((await stat(join(d, 'admin-token'))).mode & 0o777, 0o600);
      assert.equal((await stat(join(d, 'keys', 'private.asc'))).mode & 0o777, 0o600);
      const token = (await readFile(join(d, 'admin-token'), 'utf8')).trim();
      for (const [p, bytes] of await files(join(d, 'public'))) assert.ok(!bytes.includes(token), `public/${p} holds the token`);
    });
  });

  describe('tokens', () => {
    it('are stored only as their sha256: the token is in no file of the data directory', async () => {
      const created = await http(svc.url, { method: 'POST', path: '/api/tokens', token: admin, body: JSON.stringify({ name: 'ci', role: 'release-manager' }) });
      assert.equal(created.status, 201, created.body);
      const token = created.json()['token'] as string;
      assert.match(token, /^af_/);
      const rows = svc.services.db.prepare('SELECT * FROM tokens').all() as Array<Record<string, unknown>>;
      const row = rows.find((r) => r['name'] === 'ci')!;
      assert.equal(row['hash'], createHash('sha256').update(token).digest('hex'));
      for (const r of rows) for (const v of Object.values(r)) assert.ok(!String(v).includes(token));
      svc.services.db.pragma('wal_checkpoint(TRUNCATE)');
      for (const [p, bytes] of await files(svc.dataDir)) {
        for (const t of [token, admin, manager]) assert.ok(!bytes.includes(t), `${p} holds a token`);
      }
      // It works, once presented.
      const ok = await http(svc.url, { path: '/api/tokens', token });
      assert.equal(ok.status, 403, 'a release-manager token authenticates, and may not list tokens');
    });

    it('refuses a token one character off, a prefix, a revoked token and a token of the wrong role', async () => {
      const gc = (token?: string) => http(svc.url, { method: 'POST', path: '/api/gc', token, body: JSON.stringify({ dryRun: true }) });
      assert.equal((await gc(admin)).status, 200);
      assert.equal((await gc(`${admin.slice(0, -1)}${admin.endsWith('A') ? 'B' : 'A'}`)).status, 401);
      assert.equal((await gc(admin.slice(0, 10))).status, 401);
      assert.equal((await gc()).status, 401);
      assert.equal((await gc(manager)).status, 403);
      const extra = svc.services.tokens.create('temp', 'admin', new Date());
      assert.equal((await gc(extra)).status, 200);
      svc.services.tokens.revoke('temp', new Date());
      assert.equal((await gc(extra)).status, 401);
    });
  });

  describe('the audit log', () => {
    const all = () => svc.services.db.prepare('SELECT * FROM audit_log ORDER BY id').all();

    it('refuses UPDATE and DELETE in the database itself (append-only triggers)', () => {
      const before = all();
      assert.ok(before.length > 0);
      assert.throws(() => svc.services.db.prepare("UPDATE audit_log SET actor = 'someone else'").run(), /append-only/);
      assert.throws(() => svc.services.db.prepare('DELETE FROM audit_log').run(), /append-only/);
      assert.deepEqual(all(), before);
    });

    it('has no API that alters it, even for an admin', async () => {
      const before = all();
      const firstId = (before[0] as { id: number }).id;
      for (const method of ['PUT', 'PATCH', 'DELETE', 'POST']) {
        for (const path of ['/api/audit', `/api/audit/${firstId}`, '/api/audit?before=999']) {
          const r = await http(svc.url, { method, path, token: admin, body: JSON.stringify({ actor: 'x' }) });
          assert.ok([404, 405].includes(r.status), `${method} ${path}: ${r.status}`);
        }
      }
      assert.deepEqual(all(), before);
      // Reading it is admin only.
      assert.equal((await http(svc.url, { path: '/api/audit' })).status, 401);
      assert.equal((await http(svc.url, { path: '/api/audit', token: manager })).status, 403);
      assert.equal((await http(svc.url, { path: '/api/audit', token: admin })).status, 200);
    });
  });

  describe('the JSON API', () => {
    const freezePath = () => `/api/archives/debian/serials/${serial}/freeze`;
    const until = () => new Date(Date.now() + 30 * 86_400_000).toISOString();
    const serials = () => JSON.stringify(svc.services.repo.listSerials('debian', { includeCollected: true }));

    it('refuses an oversized body with 413 before doing anything', async () => {
      const before = serials();
      for (const [path, body] of [
        [freezePath(), JSON.stringify({ until: until(), reason: 'x'.repeat(40_000) })],
        ['/api/archives/debian/snapshots', JSON.stringify({ pad: 'x'.repeat(100_000) })],
        ['/api/tokens', JSON.stringify({ name: 'big', role: 'admin', pad: 'x'.repeat(20_000) })],
      ] as const) {
        const r = await http(svc.url, { method: 'POST', path, token: admin, body });
        assert.equal(r.status, 413, `${path}: ${r.status} ${r.body}`);
        assert.equal(r.json().error?.code, 'PAYLOAD_TOO_LARGE');
      }
      assert.equal(serials(), before);
    });

    it('refuses unknown fields with 400 (freeze, thaw, gc, tokens, snapshot)', async () => {
      const before = serials();
      const u = until();
      const cases: Array<[string, string]> = [
        [freezePath(), JSON.stringify({ until: u, reason: 'release 1.0', force: true })],
        // A literal __proto__ key: JSON.parse makes it an own property, which is an unknown field too.
        [freezePath(), `{"until":"${u}","reason":"release 1.0","__proto__":{"admin":true}}`],
        [`/api/archives/debian/serials/${serial}/thaw`, JSON.stringify({ now: true })],
        ['/api/gc', JSON.stringify({ dryRun: true, everything: true })],
        ['/api/tokens', JSON.stringify({ name: 'x', role: 'admin', expires: 'never' })],
        ['/api/archives/debian/snapshots', JSON.stringify({ archive: 'other' })],
        ['/api/archives/debian/snapshots', JSON.stringify(['debian'])],
      ];
      for (const [path, body] of cases) {
        const r = await http(svc.url, { method: 'POST', path, token: admin, body });
        assert.equal(r.status, 400, `${path} ${body}: ${r.status} ${r.body}`);
        assert.equal(r.json().error?.code, 'BAD_REQUEST');
      }
      assert.equal(serials(), before, 'nothing frozen, thawed, collected or snapshotted');
      assert.equal(svc.services.tokens.list().filter((t) => t.name === 'x').length, 0);
    });

    it('accepts the same requests without the unknown fields', async () => {
      const r = await http(svc.url, { method: 'POST', path: freezePath(), token: manager, body: JSON.stringify({ until: until(), reason: 'release 1.0' }) });
      assert.equal(r.status, 200, r.body);
      assert.equal(svc.services.repo.getSerial('debian', serial)?.state, 'frozen');
    });
  });
});
