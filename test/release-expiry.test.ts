// Acceptance 1 (expiry and freeze seen by the real apt-get with its date checks on, gpgv on the
// re-signed InRelease, index hashes untouched) and apt's Snapshots: field.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAptClient } from './helpers/apt.ts';
import { gpgv, tmpDir } from './helpers/gpg.ts';
import { makePackages } from './helpers/upstream.ts';
import { api, serviceKeyring, setUp, snapshot, suite, token, type Fixture } from './helpers/release.ts';
import { parseRelease, formatDebianDate } from '../server/debian/release.ts';

const LIFETIME_S = 5;

function signedText(inRelease: string): string {
  const m = /^-----BEGIN PGP SIGNED MESSAGE-----\n(?:Hash: [^\n]*\n)*\n([\s\S]*?)\n-----BEGIN PGP SIGNATURE-----/.exec(inRelease);
  assert.ok(m, 'InRelease is clearsigned');
  return `${m[1]}\n`;
}

async function inRelease(f: Fixture, serial: string): Promise<string> {
  const res = await fetch(`${f.h.url}/debian/${serial}/dists/bookworm/InRelease`);
  assert.equal(res.status, 200);
  return res.text();
}

/**
 * The service's clock: `AGO` behind the real one while `past` is set. apt-get reads the real
 * clock (it has no fake one), so an expired serial is one made (or thawed) minutes ago, never
 * one waited for; a serial made at the real time is the same-age control that apt accepts.
 */
// Two minutes: within the signature clock skew allowed (pgp/verify.ts, 300 s), 23 lifetimes back.
const AGO = 120_000;
let past = false;
const now = () => new Date(Date.now() - (past ? AGO : 0));
async function inThePast<T>(fn: () => Promise<T>): Promise<T> {
  past = true;
  try {
    return await fn();
  } finally {
    past = false;
  }
}

let f: Fixture;
let work: string;
let keyring: string;
let rm: string;

before(async () => {
  work = await tmpDir('af-expiry');
  // The upstream's Date two hours back, so that a snapshot taken on the clock an hour back accepts it.
  f = await setUp(work, [suite(makePackages(4), { date: new Date(Date.now() - 2 * AGO) })], { config: { lifetime: `${LIFETIME_S}s` }, now });
  keyring = await serviceKeyring(f.h, join(work, 'aptfreeze.gpg'));
  rm = token(f.h, 'release-manager');
});

after(async () => {
  await f?.close();
});

function apt(name: string, serial: string) {
  return createAptClient(join(work, `apt-${name}`), { sourcesLine: `deb [signed-by=${keyring}] ${f.h.url}/debian/${serial}/ bookworm main` });
}

describe('when a serial passes its Valid-Until (lifetime 5s) and a sibling of the same age is frozen', () => {
  let live: string;
  let frozen: string;
  let fresh: string;
  let beforeFreeze: ReturnType<typeof parseRelease>;
  let until: Date;
  let liveValidUntil: number;

  before(async () => {
    // Both made two minutes ago: their Valid-Until (two minutes ago + 5 s) has passed for apt.
    live = await inThePast(() => snapshot(f.h, rm));
    frozen = await inThePast(() => snapshot(f.h, rm));
    fresh = await snapshot(f.h, rm);
    liveValidUntil = new Date(f.h.services.repo.getSerial('debian', live)!.valid_until!).getTime();
    beforeFreeze = parseRelease(signedText(await inRelease(f, frozen)));
    until = new Date(Math.floor(Date.now() / 1000) * 1000 + 3 * 86_400_000);
    const r = await api(f.h, 'POST', `/archives/debian/serials/${frozen}/freeze`, { token: rm, body: { until: until.toISOString(), reason: 'release 1.0' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  it('serves a serial made now (same upstream, same lifetime) to apt while it is valid', async () => {
    // A sanity check that the refusal below comes from the expiry, not from the set-up.
    const freshValidUntil = new Date(f.h.services.repo.getSerial('debian', fresh)!.valid_until!).getTime();
    assert.ok(Date.now() < freshValidUntil - 1000, 'the set-up took too long to see the serial while valid');
    const u = await apt('live-early', fresh).update();
    assert.equal(u.code, 0, u.stderr);
  });

  it('has real apt-get refuse the expired serial and accept the frozen one', async () => {
    assert.ok(liveValidUntil < Date.now() - 1000, 'the serial expired about two minutes ago');
    const refused = await apt('live-late', live).update();
    assert.equal(refused.code, 100, `apt-get update of an expired serial must fail:\n${refused.stdout}\n${refused.stderr}`);
    assert.match(refused.stderr, /expired/i);

    const client = apt('frozen', frozen);
    const ok = await client.update();
    assert.equal(ok.code, 0, ok.stderr);
    const d = await client.download('pkg0', join(work, 'dl'));
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.files.length, 1);
  });

  it('re-signs the frozen InRelease so that gpgv accepts it, with the freeze date as Valid-Until', async () => {
    const text = await inRelease(f, frozen);
    const file = join(work, 'frozen-InRelease');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, text));
    const g = await gpgv(keyring, file);
    assert.ok(g.ok, g.output);
    assert.match(g.output, /GOODSIG/);
    const rel = parseRelease(signedText(text));
    assert.equal(rel.get('Valid-Until'), formatDebianDate(until));
    assert.equal(rel.validUntil?.getTime(), until.getTime());
  });

  it('keeps the Date and exactly the same index hashes as before the freeze', async () => {
    const rel = parseRelease(signedText(await inRelease(f, frozen)));
    assert.equal(rel.get('Date'), beforeFreeze.get('Date'));
    assert.deepEqual(rel.sha256, beforeFreeze.sha256);
    // Release (plain) and InRelease say the same; only Valid-Until differs from before.
    const plain = await (await fetch(`${f.h.url}/debian/${frozen}/dists/bookworm/Release`)).text();
    assert.equal(plain, signedText(await inRelease(f, frozen)));
    const diff = rel.fields.filter(([n, v]) => beforeFreeze.get(n) !== v).map(([n]) => n);
    assert.deepEqual(diff, ['Valid-Until']);
  });

  it('shows state, expiry and the freeze (until, why, by whom) in the API and the CLI', async () => {
    const v = await api(f.h, 'GET', `/archives/debian/serials/${frozen}`);
    assert.equal(v.body.state, 'frozen');
    assert.equal(v.body.validUntil, until.toISOString());
    assert.deepEqual({ until: v.body.frozen.until, reason: v.body.frozen.reason, by: v.body.frozen.by }, { until: until.toISOString(), reason: 'release 1.0', by: 'release-manager-test' });
    const e = await api(f.h, 'GET', `/archives/debian/serials/${live}`);
    assert.equal(e.body.state, 'expired');
    const cli = await f.h.cli(['serials', 'debian']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`${frozen}\\s+frozen .*frozen until ${until.toISOString()} by release-manager-test: release 1.0`));
    assert.match(cli.stdout, new RegExp(`${live}\\s+expired`));
  });

  it('after a thaw, serves the serial for one lifetime more, then apt refuses it too', async () => {
    const r = await api(f.h, 'POST', `/archives/debian/serials/${frozen}/thaw`, { token: rm });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.serial.state, 'live');
    const validUntil = new Date(r.body.serial.validUntil).getTime();
    assert.ok(Math.abs(validUntil - (Date.now() + LIFETIME_S * 1000)) < 3000, 'valid for one lifetime from the thaw');
    const early = await apt('thawed-early', frozen).update();
    assert.equal(early.code, 0, early.stderr);
    // Frozen again, then thawed on the clock two minutes back: its one lifetime more ended long ago.
    const again = await api(f.h, 'POST', `/archives/debian/serials/${frozen}/freeze`, { token: rm, body: { until: until.toISOString(), reason: 'again' } });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    const old = await inThePast(() => api(f.h, 'POST', `/archives/debian/serials/${frozen}/thaw`, { token: rm }));
    assert.equal(old.status, 200, JSON.stringify(old.body));
    assert.ok(new Date(old.body.serial.validUntil).getTime() < Date.now() - AGO + LIFETIME_S * 1000 + 3000, 'valid for one lifetime from the thaw two minutes ago');
    const late = await apt('thawed-late', frozen).update();
    assert.equal(late.code, 100, late.stderr);
    assert.match(late.stderr, /expired/i);
  });
});

describe("apt's Snapshots: field", () => {
  let serial: string;
  before(async () => {
    serial = await snapshot(f.h, rm);
  });

  it('is in the Release served under latest/, pointing at /<archive>/@SNAPSHOTID@/', async () => {
    const text = await (await fetch(`${f.h.url}/debian/latest/dists/bookworm/InRelease`)).text();
    const rel = parseRelease(signedText(text));
    assert.equal(rel.get('Snapshots'), `${f.h.url}/debian/@SNAPSHOTID@/`);
  });

  it('gives, with a serial substituted as apt does, a repository that apt-get update accepts', async () => {
    const text = await (await fetch(`${f.h.url}/debian/latest/dists/bookworm/Release`)).text();
    const template = parseRelease(text).get('Snapshots')!;
    // apt >= 2.7 (debmetaindex.cc): SubstVar(SubstVar(Snapshots, "@SNAPSHOTID@", id), "@PATH@", path)
    // becomes the source URI, dists/<suite>/ appended as for any source.
    const uri = template.replaceAll('@SNAPSHOTID@', serial).replaceAll('@PATH@', 'debian');
    assert.equal(uri, `${f.h.url}/debian/${serial}/`);
    const client = createAptClient(join(work, 'apt-snapshots'), { sourcesLine: `deb [signed-by=${keyring}] ${uri} bookworm main` });
    const u = await client.update();
    assert.equal(u.code, 0, u.stderr);
    const p = await client.policy('pkg1');
    assert.match(p.stdout, new RegExp(`/debian/${serial} bookworm/main`));
  });

  it('lets apt --snapshot reach a serial by itself where apt is 2.7 or later', async (t) => {
    const v = await createAptClient(join(work, 'apt-version'), { sourcesLine: '# none' }).run(['--version']);
    const m = /^apt (\d+)\.(\d+)/.exec(v.stdout);
    if (!m || Number(m[1]) < 2 || (Number(m[1]) === 2 && Number(m[2]) < 7)) {
      t.skip(`apt ${m ? `${m[1]}.${m[2]}` : '?'} has no --snapshot (2.7+); the substitution is checked above`);
      return;
    }
    const client = createAptClient(join(work, 'apt-native'), { sourcesLine: `deb [signed-by=${keyring}] ${f.h.url}/debian/latest/ bookworm main` });
    assert.equal((await client.update()).code, 0);
    const u = await client.run(['update', '--error-on=any', '--snapshot', serial]);
    assert.equal(u.code, 0, u.stderr);
    const p = await client.policy('pkg1');
    assert.match(p.stdout, new RegExp(`/debian/${serial} bookworm/main`));
  });
});

describe('freeze and thaw requests that cannot be done', () => {
  it('answers 404 for an unknown serial or archive, 400 for a malformed or past date or no reason, 409 for thawing a live serial', async () => {
    const s = f.h.services.repo.latestSerial('debian')!;
    const post = (path: string, body?: unknown) => api(f.h, 'POST', path, { token: rm, body });
    const good = { until: '2099-01-01', reason: 'x' };
    assert.equal((await post('/archives/debian/serials/2000010101/freeze', good)).body.error.code, 'NOT_FOUND');
    assert.equal((await post('/archives/debian/serials/2000010101/freeze', good)).status, 404);
    assert.equal((await post(`/archives/nosuch/serials/${s}/freeze`, good)).status, 404);
    for (const until of ['tomorrow', '2027-02-31', '2027-13-01', '', 12, '2027-01-01T25:00:00Z']) {
      const r = await post(`/archives/debian/serials/${s}/freeze`, { until, reason: 'x' });
      assert.equal(r.status, 400, `until ${JSON.stringify(until)}`);
      assert.equal(r.body.error.code, 'BAD_REQUEST');
    }
    assert.equal((await post(`/archives/debian/serials/${s}/freeze`, { until: '2001-01-01', reason: 'x' })).status, 400);
    assert.equal((await post(`/archives/debian/serials/${s}/freeze`, { until: '2099-01-01' })).status, 400);
    assert.equal((await post(`/archives/debian/serials/${s}/freeze`, { ...good, extra: 1 })).status, 400);
    const thaw = await post(`/archives/debian/serials/${s}/thaw`);
    assert.equal(thaw.status, 409);
    assert.equal(thaw.body.error.code, 'CONFLICT');
  });

  it('moves the date when a frozen serial is frozen again', async () => {
    const s = f.h.services.repo.latestSerial('debian')!;
    const a = await api(f.h, 'POST', `/archives/debian/serials/${s}/freeze`, { token: rm, body: { until: '2099-01-01', reason: 'one' } });
    assert.equal(a.status, 200);
    const b = await api(f.h, 'POST', `/archives/debian/serials/${s}/freeze`, { token: rm, body: { until: '2098-06-30T12:00:00Z', reason: 'two' } });
    assert.equal(b.status, 200);
    assert.equal(b.body.serial.validUntil, '2098-06-30T12:00:00.000Z');
    assert.equal(b.body.serial.frozen.reason, 'two');
    const rel = parseRelease(await readFile(join(f.h.services.publisher.serialDir('debian', s), 'dists/bookworm/Release'), 'utf8'));
    assert.equal(rel.validUntil?.toISOString(), '2098-06-30T12:00:00.000Z');
  });
});
