// Issue 14, acceptances 3 and 4: snapshot.debian.org-compatible reads. The real debsnap (devscripts)
// downloads a source package and a binary package of a fixture archive mirrored with sources, the
// files equal upstream's byte for byte; every /mr/ answer has REFERENCES.md's fields; /archive/
// resolves ids to the newest serial published at or before them, and a directory answers
// debbisect's HEAD with a 301 whose Location parses as `%Y%m%dT%H%M%S%z/` (by Python, as debbisect does).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile, readdir, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages, type FixturePackage } from './helpers/upstream.ts';
import { setUp, snapshot, suite, token, fakeClock, type Fixture } from './helpers/release.ts';
import { formatStamp } from '../server/snapmr/stamps.ts';

const run = promisify(execFile);
const HOUR = 3_600_000;
let f: Fixture;
let work: string;
let serials: string[] = [];
let stamps: string[] = [];
const clock = fakeClock(new Date(Date.now() + 60_000));

const hello = (version: string): FixturePackage[] => [
  { name: 'hello', version, arch: 'amd64' },
  { name: 'hello-doc', version, arch: 'all', source: 'hello' },
];
const others = makePackages(3);

before(async () => {
  work = await tmpDir('af-snapmr');
  f = await setUp(work, [suite([...hello('2.10-1'), ...others], { sources: true })], { now: clock.now });
  await f.h.reconfigure((c) => {
    (c['archives'] as Record<string, Record<string, unknown>>)['debian']!['sources'] = true;
  });
  const rm = token(f.h, 'release-manager');
  serials.push(await snapshot(f.h, rm));
  clock.advance(2 * HOUR);
  await f.publish([suite([...hello('2.10-2'), ...others], { sources: true })]);
  serials.push(await snapshot(f.h, rm));
  stamps = serials.map((s) => formatStamp(new Date(f.h.services.repo.getSerial('debian', s)!.published_at!)));
});

after(async () => {
  await f?.close();
});

const get = async (path: string) => {
  const res = await fetch(`${f.h.url}${path}`);
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
};

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');
const keys = (o: object) => Object.keys(o).sort();
const fileinfoFields = ['archive_name', 'first_seen', 'name', 'path', 'size'];

function checkFileinfo(fi: Record<string, unknown[]>, hashes: string[]): void {
  assert.deepEqual(Object.keys(fi).sort(), [...new Set(hashes)].sort());
  for (const list of Object.values(fi)) {
    assert.ok(list.length > 0);
    for (const e of list as Array<Record<string, unknown>>) {
      assert.deepEqual(keys(e), fileinfoFields);
      assert.match(String(e['first_seen']), /^\d{8}T\d{6}Z$/);
      assert.match(String(e['path']), /^\/pool\//);
      assert.equal(e['archive_name'], 'debian');
    }
  }
}

describe('SHA-1 of pool files', () => {
  it('is recorded at ingest, while the file is fetched and checked', async () => {
    // No /mr/ request yet: nothing but the fetch path can have recorded these.
    const db = f.h.services.db;
    for (const name of ['hello_2.10-1.dsc', 'hello_2.10-1.tar.gz', 'hello-doc_2.10-2_all.deb']) {
      const bytes = await readFile(join(work, 'upstream', 'pool', 'main', 'h', 'hello', name));
      assert.equal(db.prepare('SELECT sha1 FROM blob_sha1 WHERE sha256 = ?').pluck().get(sha256(bytes)), sha1(bytes), name);
    }
    assert.equal(db.prepare('SELECT COUNT(*) FROM mr_serials').pluck().get(), 0);
  });
});

describe('debsnap against the service', () => {
  it('downloads a source package and a binary package whose files are upstream\'s', async () => {
    const home = join(work, 'home');
    await mkdir(home, { recursive: true });
    // debsnap reads its base URL only from files (it clears the environment variable first).
    await writeFile(join(home, '.devscripts'), `DEBSNAP_BASE_URL=${f.h.url}\n`);
    const env = { ...process.env, HOME: home, http_proxy: '', HTTP_PROXY: '', no_proxy: '*' };
    const src = join(work, 'src');
    await run('debsnap', ['-v', '-d', src, 'hello', '2.10-1'], { env, cwd: work });
    const bin = join(work, 'bin');
    await run('debsnap', ['-v', '--binary', '-d', bin, 'hello-doc', '2.10-2'], { env, cwd: work });
    const upDir = join(work, 'upstream', 'pool', 'main', 'h', 'hello');
    const got = [...(await readdir(src)).map((n) => join(src, n)), ...(await readdir(bin)).map((n) => join(bin, n))];
    assert.deepEqual(got.map((p) => p.split('/').pop()).sort(), ['hello-doc_2.10-2_all.deb', 'hello_2.10-1.dsc', 'hello_2.10-1.tar.gz']);
    for (const p of got) assert.equal(sha256(await readFile(p)), sha256(await readFile(join(upDir, p.split('/').pop()!))), p);
  });
});

describe('the /mr/ routes', () => {
  it('answer with the fields REFERENCES.md lists, hashes being SHA-1 of the served bytes', async () => {
    const all = await get('/mr/package/');
    assert.equal(all.status, 200);
    assert.deepEqual(keys(all.body), ['_comment', 'result']);
    assert.ok(all.body.result.some((x: { package: string }) => x.package === 'hello'));
    for (const x of all.body.result) assert.deepEqual(keys(x), ['package']);

    const versions = await get('/mr/package/hello/');
    assert.deepEqual(keys(versions.body), ['_comment', 'package', 'result']);
    assert.deepEqual(versions.body.result, [{ version: '2.10-2' }, { version: '2.10-1' }], 'newest first');

    const src = await get('/mr/package/hello/2.10-1/srcfiles?fileinfo=1');
    assert.deepEqual(keys(src.body), ['_comment', 'fileinfo', 'package', 'result', 'version']);
    assert.equal(src.body.result.length, 2);
    for (const r of src.body.result) assert.deepEqual(keys(r), ['hash']);
    checkFileinfo(src.body.fileinfo, src.body.result.map((r: { hash: string }) => r.hash));
    const dsc = Object.entries(src.body.fileinfo as Record<string, Array<{ name: string }>>).find(([, l]) => l[0]!.name === 'hello_2.10-1.dsc')!;
    const dscBytes = new Uint8Array(await (await fetch(`${f.h.url}/file/${dsc[0]}`)).arrayBuffer());
    assert.equal(sha1(dscBytes), dsc[0]);
    const named = await fetch(`${f.h.url}/file/${dsc[0]}/hello_2.10-1.dsc`);
    assert.equal(named.status, 200);
    assert.equal(sha1(new Uint8Array(await named.arrayBuffer())), dsc[0]);
    assert.equal((await get('/mr/package/hello/2.10-1/srcfiles')).body.fileinfo, undefined, 'fileinfo only on request');

    const binpkgs = await get('/mr/package/hello/2.10-2/binpackages');
    assert.deepEqual(keys(binpkgs.body), ['_comment', 'package', 'result', 'version']);
    assert.deepEqual(binpkgs.body.result.map((r: object) => keys(r)), [['name', 'version'], ['name', 'version']]);
    assert.deepEqual(binpkgs.body.result.map((r: { name: string }) => r.name).sort(), ['hello', 'hello-doc']);

    const binfiles = await get('/mr/package/hello/2.10-2/binfiles/hello/2.10-2?fileinfo=1');
    assert.deepEqual(keys(binfiles.body), ['_comment', 'binary', 'binary_version', 'fileinfo', 'package', 'result', 'version']);
    assert.deepEqual(binfiles.body.result.map((r: object) => keys(r)), [['architecture', 'hash']]);
    assert.equal(binfiles.body.result[0].architecture, 'amd64');
    checkFileinfo(binfiles.body.fileinfo, [binfiles.body.result[0].hash]);

    const allfiles = await get('/mr/package/hello/2.10-2/allfiles?fileinfo=1');
    assert.deepEqual(keys(allfiles.body), ['_comment', 'fileinfo', 'package', 'result', 'version']);
    assert.deepEqual(keys(allfiles.body.result), ['binaries', 'source']);
    for (const s of allfiles.body.result.source) assert.deepEqual(keys(s), ['hash']);
    for (const b of allfiles.body.result.binaries) {
      assert.deepEqual(keys(b), ['files', 'name', 'version']);
      for (const x of b.files) assert.deepEqual(keys(x), ['architecture', 'hash']);
    }
    assert.equal(allfiles.body.result.source.length, 2);
    assert.equal(allfiles.body.result.binaries.length, 2);

    const binary = await get('/mr/binary/hello-doc/');
    assert.deepEqual(keys(binary.body), ['_comment', 'binary', 'result']);
    assert.deepEqual(binary.body.result, [
      { name: 'hello-doc', binary_version: '2.10-2', source: 'hello', version: '2.10-2' },
      { name: 'hello-doc', binary_version: '2.10-1', source: 'hello', version: '2.10-1' },
    ]);
    const bf = await get('/mr/binary/hello-doc/2.10-1/binfiles?fileinfo=1');
    assert.deepEqual(keys(bf.body), ['_comment', 'binary', 'binary_version', 'fileinfo', 'result']);
    assert.deepEqual(bf.body.result.map((r: object) => keys(r)), [['architecture', 'hash']]);
    assert.equal(bf.body.result[0].architecture, 'all');

    const info = await get(`/mr/file/${bf.body.result[0].hash}/info`);
    assert.deepEqual(keys(info.body), ['_comment', 'hash', 'result']);
    assert.deepEqual(info.body.result, [{ name: 'hello-doc_2.10-1_all.deb', size: info.body.result[0].size, archive_name: 'debian', path: '/pool/main/h/hello', first_seen: stamps[0] }]);
  });

  it('give first_seen from the first serial that served the file', async () => {
    const old = await get('/mr/binary/pkg0/1.0-1/binfiles?fileinfo=1');
    const oldHash = old.body.result[0].hash as string;
    assert.equal(old.body.fileinfo[oldHash][0].first_seen, stamps[0], 'served by both serials: the first');
    const fresh = await get('/mr/binary/hello/2.10-2/binfiles?fileinfo=1');
    assert.equal(fresh.body.fileinfo[fresh.body.result[0].hash][0].first_seen, stamps[1], 'new in the second serial');
  });

  it('are rebuilt, SHA-1 included, for a data directory filled before migration 006', async () => {
    const before = await get('/mr/package/hello/2.10-1/allfiles?fileinfo=1');
    const db = f.h.services.db;
    for (const t of ['blob_sha1', 'mr_files', 'mr_sources', 'mr_binaries', 'mr_indices', 'mr_serials']) db.prepare(`DELETE FROM ${t}`).run();
    const after = await get('/mr/package/hello/2.10-1/allfiles?fileinfo=1');
    assert.equal(after.status, 200);
    assert.deepEqual(after.body, before.body);
  });

  it('answer 404 for an empty result and 400 for a hash that is not SHA-1', async () => {
    for (const p of ['/mr/package/nosuch/', '/mr/package/hello/9.9/srcfiles', '/mr/package/hello/2.10-1/binfiles/hello/9', '/mr/binary/nosuch/', `/mr/file/${'0'.repeat(40)}/info`, `/file/${'0'.repeat(40)}`]) {
      const r = await get(p);
      assert.equal(r.status, 404, p);
      assert.equal(r.body.error.code, 'NOT_FOUND', p);
    }
    const bad = await get(`/file/${'a'.repeat(64)}`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'BAD_REQUEST');
  });
});

describe('/archive/<archive>/<id>/', () => {
  const head = (path: string) => fetch(`${f.h.url}${path}`, { method: 'HEAD', redirect: 'manual' });

  it("answers debbisect's HEAD with a 301 whose Location it parses", async () => {
    const between = formatStamp(new Date(Date.parse(f.h.services.repo.getSerial('debian', serials[0]!)!.published_at!) + HOUR));
    const res = await head(`/archive/debian/${between}/`);
    assert.equal(res.status, 301);
    const location = res.headers.get('location')!;
    const prefix = `${f.h.url}/archive/debian/`;
    assert.ok(location.startsWith(prefix), location);
    // debbisect's own parse (sanitize_timestamp): strptime(location[len(prefix):], "%Y%m%dT%H%M%S%z/")
    const py = await run('python3', ['-c', 'import sys; from datetime import datetime; print(datetime.strptime(sys.argv[1], "%Y%m%dT%H%M%S%z/").strftime("%Y%m%dT%H%M%SZ"))', location.slice(prefix.length)]);
    assert.equal(py.stdout.trim(), stamps[0]);
    assert.equal((await head(`/archive/debian/${stamps[0]}/`)).status, 200, 'the canonical URL itself');
  });

  it('resolves a serial, a day, a stamp and now to the newest serial published at or before it', async () => {
    const loc = async (id: string) => {
      const r = await head(`/archive/debian/${id}/`);
      return r.status === 301 ? r.headers.get('location')!.replace(`${f.h.url}/archive/debian/`, '') : String(r.status);
    };
    assert.equal(await loc(serials[0]!), `${stamps[0]}/`);
    assert.equal(await loc('now'), `${stamps[1]}/`);
    assert.equal(await loc(stamps[1]!), '200');
    const dayAfter = formatStamp(new Date(Date.parse(f.h.services.repo.getSerial('debian', serials[1]!)!.published_at!) + 86_400_000)).slice(0, 8);
    assert.equal(await loc(dayAfter), `${stamps[1]}/`);
    assert.equal(await loc('20000101'), '404', 'before the first serial');
    assert.equal(await loc('20261399'), '404', 'not a date');
    const noSlash = await head(`/archive/debian/${stamps[1]}/dists/bookworm`);
    assert.equal(noSlash.status, 301, 'a directory without its slash');
    assert.equal(noSlash.headers.get('location'), `${f.h.url}/archive/debian/${stamps[1]}/dists/bookworm/`);
  });

  it('serves files at any id, and every serial under its own stamp', async () => {
    const want = await (await fetch(`${f.h.url}/debian/${serials[0]}/dists/bookworm/InRelease`)).text();
    for (const p of [`/archive/debian/${stamps[0]}/dists/bookworm/InRelease`, `/archive/debian/${serials[0]}/dists/bookworm/InRelease`, `/debian/${stamps[0]}/dists/bookworm/InRelease`]) {
      const r = await fetch(`${f.h.url}${p}`);
      assert.equal(r.status, 200, p);
      assert.equal(await r.text(), want, p);
    }
    const listing = await fetch(`${f.h.url}/debian/${stamps[1]}/`);
    assert.equal(listing.status, 200);
    assert.match(await listing.text(), /href="dists\/"/);
    const now = await (await fetch(`${f.h.url}/archive/debian/now/dists/bookworm/InRelease`)).text();
    assert.equal(now, await (await fetch(`${f.h.url}/debian/latest/dists/bookworm/InRelease`)).text());
    const missing = await get(`/debian/20000101T000000Z/dists/bookworm/InRelease`);
    assert.equal(missing.status, 404);
  });
});
