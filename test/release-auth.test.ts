// Acceptance 5: each mutation without a token is 401, with a wrong role 403, with the right role
// succeeds and appears in the audit log with who, what and when; tokens are stored only as
// hashes (read from the database and its files); the audit log is append-only.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages } from './helpers/upstream.ts';
import { api, setUp, snapshot, suite, token, type Fixture } from './helpers/release.ts';

let f: Fixture;
let admin: string;
let rmTok: string;
let serial: string;

before(async () => {
  const work = await tmpDir('af-auth');
  f = await setUp(work, [suite(makePackages(3))]);
  admin = token(f.h, 'admin', 'root-admin');
  rmTok = token(f.h, 'release-manager', 'rita');
  serial = await snapshot(f.h, rmTok);
});

after(async () => {
  await f?.close();
});

interface Mutation {
  what: string;
  method: string;
  path: () => string;
  body?: () => unknown;
  /** The least role that may do it (admin may do everything). */
  allowed: 'release-manager' | 'admin';
  /** The audit action and target expected after success. */
  action: string;
  target: (res: any) => string;
  status: number;
}

const mutations: Mutation[] = [
  { what: 'snapshot', method: 'POST', path: () => '/archives/debian/snapshots?wait=1', allowed: 'release-manager', action: 'snapshot', target: (r) => `debian/${r.serial}`, status: 201 },
  {
    what: 'freeze',
    method: 'POST',
    path: () => `/archives/debian/serials/${serial}/freeze`,
    body: () => ({ until: '2099-01-01', reason: 'ga' }),
    allowed: 'release-manager',
    action: 'freeze',
    target: () => `debian/${serial}`,
    status: 200,
  },
  { what: 'thaw', method: 'POST', path: () => `/archives/debian/serials/${serial}/thaw`, allowed: 'release-manager', action: 'thaw', target: () => `debian/${serial}`, status: 200 },
  { what: 'gc', method: 'POST', path: () => '/gc?wait=1', body: () => ({ dryRun: false }), allowed: 'admin', action: 'gc', target: () => '*', status: 200 },
  { what: 'token create', method: 'POST', path: () => '/tokens', body: () => ({ name: 'bob', role: 'release-manager' }), allowed: 'admin', action: 'token.create', target: (r) => `token:${r.id}`, status: 201 },
];

describe('mutations through the API', () => {
  for (const m of mutations) {
    describe(`${m.what}`, () => {
      it('is 401 without a token, with an unknown token and with a malformed header', async () => {
        for (const headers of [{}, { authorization: 'Bearer af_not-a-token' }, { authorization: `Basic ${admin}` }] as Array<Record<string, string>>) {
          const res = await fetch(`${f.h.url}/api${m.path()}`, { method: m.method, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(m.body?.() ?? {}) });
          assert.equal(res.status, 401);
          assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
        }
      });

      if (m.allowed === 'admin') {
        it('is 403 for a release-manager', async () => {
          const r = await api(f.h, m.method, m.path(), { token: rmTok, body: m.body?.() });
          assert.equal(r.status, 403);
          assert.equal(r.body.error.code, 'FORBIDDEN');
        });
      }

      it(`succeeds for ${m.allowed === 'admin' ? 'an admin' : 'a release-manager and an admin'}, and is written to the audit log with who, what and when`, async () => {
        const who = m.allowed === 'admin' ? [{ tok: admin, name: 'root-admin' }] : [{ tok: rmTok, name: 'rita' }, { tok: admin, name: 'root-admin' }];
        for (const w of who) {
          if (m.what === 'freeze' || m.what === 'thaw') {
            // freeze then thaw alternate: make the serial be in the state the request needs.
            const state = f.h.services.repo.getSerial('debian', serial)!.state;
            if (m.what === 'freeze' && state === 'frozen') await api(f.h, 'POST', `/archives/debian/serials/${serial}/thaw`, { token: admin });
            if (m.what === 'thaw' && state !== 'frozen') await api(f.h, 'POST', `/archives/debian/serials/${serial}/freeze`, { token: admin, body: { until: '2099-01-01', reason: 'x' } });
          }
          const t0 = Date.now() - 1000;
          const r = await api(f.h, m.method, m.path(), { token: w.tok, body: m.body?.() });
          assert.equal(r.status, m.status, JSON.stringify(r.body));
          const audit = await api(f.h, 'GET', `/audit?action=${encodeURIComponent(m.action)}&limit=1`, { token: admin });
          const [e] = audit.body.entries;
          assert.ok(e, `an audit entry for ${m.action}`);
          assert.equal(e.actor, w.name);
          assert.equal(e.action, m.action);
          assert.equal(e.target, m.target(r.body));
          assert.ok(Date.parse(e.at) >= t0 && Date.parse(e.at) <= Date.now() + 1000, 'when');
        }
      });
    });
  }

  it('records the state before and after a freeze', async () => {
    const r = await api(f.h, 'GET', `/audit?action=freeze&target=debian/${serial}&limit=1`, { token: admin });
    const [e] = r.body.entries;
    assert.equal(e.before.state, 'live');
    assert.equal(e.after.state, 'frozen');
    assert.equal(e.after.validUntil, '2099-01-01T00:00:00.000Z');
    assert.equal(e.after.frozen.by, e.actor);
  });

  it('revokes a token (admin only), after which it is 401', async () => {
    const made = await api(f.h, 'POST', '/tokens', { token: admin, body: { name: 'temp', role: 'release-manager' } });
    assert.equal(made.status, 201);
    assert.equal((await api(f.h, 'DELETE', `/tokens/${made.body.id}`, { token: rmTok })).status, 403);
    assert.equal((await api(f.h, 'DELETE', `/tokens/${made.body.id}`)).status, 401);
    const del = await api(f.h, 'DELETE', `/tokens/${made.body.id}`, { token: admin });
    assert.equal(del.status, 200, JSON.stringify(del.body));
    const after = await api(f.h, 'POST', '/archives/debian/snapshots', { token: made.body.token });
    assert.equal(after.status, 401);
    const [e] = (await api(f.h, 'GET', '/audit?action=token.revoke&limit=1', { token: admin })).body.entries;
    assert.equal(e.target, `token:${made.body.id}`);
    assert.equal(e.actor, 'root-admin');
  });

  it('keeps the audit log and the token list for admins: 401 without a token, 403 for a release-manager', async () => {
    for (const path of ['/audit', '/tokens']) {
      assert.equal((await api(f.h, 'GET', path)).status, 401);
      assert.equal((await api(f.h, 'GET', path, { token: rmTok })).status, 403);
      assert.equal((await api(f.h, 'GET', path, { token: admin })).status, 200);
    }
    const list = await api(f.h, 'GET', '/tokens', { token: admin });
    assert.ok(list.body.tokens.every((t: Record<string, unknown>) => !('token' in t) && !('hash' in t)));
  });

  it('refuses a bad role or name (400)', async () => {
    assert.equal((await api(f.h, 'POST', '/tokens', { token: admin, body: { name: 'x', role: 'root' } })).status, 400);
    assert.equal((await api(f.h, 'POST', '/tokens', { token: admin, body: { name: '1', role: 'admin' } })).status, 400);
  });

  it('keeps reads public', async () => {
    assert.equal((await api(f.h, 'GET', '/archives')).status, 200);
    assert.equal((await api(f.h, 'GET', `/archives/debian/serials/${serial}`)).status, 200);
  });
});

describe('tokens', () => {
  it('are stored only as their sha256: neither the token table nor the database files hold a token', async () => {
    const cli = await f.h.cli(['tokens', 'create', '--role', 'release-manager', '--name', 'carol']);
    assert.equal(cli.code, 0, cli.stderr);
    const fromCli = cli.stdout.trim();
    assert.match(fromCli, /^af_[A-Za-z0-9_-]{20,}$/);
    const rows = f.h.services.db.prepare('SELECT * FROM tokens').all() as Array<Record<string, unknown>>;
    const all = [admin, rmTok, fromCli];
    for (const t of all) {
      const hash = createHash('sha256').update(t).digest('hex');
      assert.ok(rows.some((r) => r['hash'] === hash), 'its hash is stored');
      for (const r of rows) for (const v of Object.values(r)) assert.ok(typeof v !== 'string' || !v.includes(t), 'no column holds the token');
    }
    f.h.services.db.pragma('wal_checkpoint(TRUNCATE)');
    for (const name of (await readdir(f.h.dataDir)).filter((n) => n.startsWith('aptfreeze.db'))) {
      // Read by another process: opening and closing the database file in this one (the daemon's)
      // would drop SQLite's POSIX locks on it (fcntl locks are per process), and a CLI closing
      // next would then delete the WAL the daemon still writes to.
      const bytes = spawnSync('cat', [join(f.h.dataDir, name)], { maxBuffer: 1 << 30 }).stdout;
      for (const t of all) assert.equal(bytes.includes(Buffer.from(t)), false, `${name} holds no token`);
    }
  });

  it('are listed and revoked from the CLI, which never shows a token again', async () => {
    const list = await f.h.cli(['tokens', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /carol\s+release-manager/);
    assert.doesNotMatch(list.stdout, /af_/);
    const rev = await f.h.cli(['tokens', 'revoke', 'carol']);
    assert.equal(rev.code, 0, rev.stderr);
    assert.match(rev.stdout, /^revoked token \d+ \(carol, release-manager\)$/m);
    assert.match((await f.h.cli(['tokens', 'revoke', 'carol'])).stderr, /^aptfreeze: NOT_FOUND: /);
  });
});

describe('the audit log', () => {
  it('is readable with `aptfreeze audit`, newest first, as text and JSON', async () => {
    const j = await f.h.cli(['audit', '--json', '--limit', '3']);
    assert.equal(j.code, 0, j.stderr);
    const rows = JSON.parse(j.stdout) as Array<{ id: number; action: string; actor: string }>;
    assert.equal(rows.length, 3);
    assert.ok(rows[0]!.id > rows[1]!.id && rows[1]!.id > rows[2]!.id);
    assert.equal(rows[0]!.action, 'token.revoke');
    assert.match(rows[0]!.actor, /^cli:/);
    const t = await f.h.cli(['audit', '--limit', '1']);
    assert.match(t.stdout, /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}cli:\S+ {2}token\.revoke {2}token:\d+ {2}\{.*\} -> \{.*\}\n$/);
  });

  it('is append-only: the database refuses to change or delete an entry', () => {
    assert.throws(() => f.h.services.db.prepare("UPDATE audit_log SET actor = 'someone else'").run(), /append-only/);
    assert.throws(() => f.h.services.db.prepare('DELETE FROM audit_log').run(), /append-only/);
  });
});
