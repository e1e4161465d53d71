// Proves the test fixtures are real: the upstream is signed so that gpgv accepts it, the real apt
// (with its date checks really on) installs from it, and rebuilds keep unchanged pool files.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';

import { createAptClient } from './helpers/apt.ts';
import { gpgv, sha256File, tmpDir } from './helpers/gpg.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import {
  buildUpstream,
  churn,
  createUpstreamKey,
  type FixturePackage,
  type FixtureSuite,
  type UpstreamBuild,
  type UpstreamKey,
} from './helpers/upstream.ts';

const PACKAGES: FixturePackage[] = [
  { name: 'hello', version: '2.10-3', arch: 'amd64' },
  { name: 'hello-doc', version: '2.10-3', arch: 'all', source: 'hello' },
  { name: 'libfoo1', version: '1:1.2-1', arch: 'amd64', source: 'foo' },
  { name: 'foo-utils', version: '1:1.2-1', arch: 'amd64', source: 'foo', depends: 'libfoo1 (= 1:1.2-1)' },
  { name: 'bar', version: '0.9-2', arch: 'amd64', payloadBytes: 5000 },
  { name: 'libbaz++1', version: '3.0~rc1-1', arch: 'amd64', source: 'baz' },
];
const UPDATES: FixturePackage[] = [{ name: 'hello', version: '2.10-3+deb12u1', arch: 'amd64' }];

function suites(pkgs: FixturePackage[], extra: Partial<FixtureSuite> = {}): FixtureSuite[] {
  return [
    { name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs, sources: true, translations: true, ...extra },
    { name: 'bookworm/updates', codename: 'bookworm', components: ['main'], architectures: ['amd64'], packages: UPDATES, ...extra },
  ];
}

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))),
  );
}

/** A raw request (no URL normalisation by a client library), for traversal checks. */
function rawGet(port: number, rawPath: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: rawPath, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function debOf(b: UpstreamBuild, name: string, suite = 'bookworm'): UpstreamBuild['debs'][number] {
  const d = b.debs.find((x) => x.name === name && x.suite === suite);
  assert.ok(d, `no deb ${name} in ${suite}`);
  return d;
}

let work: string;
let root: string;
let key: UpstreamKey;
let build: UpstreamBuild;
let srv: UpstreamServer;

before(async () => {
  work = await tmpDir('af-fixtures');
  root = path.join(work, 'upstream');
  key = await createUpstreamKey(path.join(work, 'keys'));
  build = await buildUpstream(root, suites(PACKAGES), key);
  srv = await serveUpstream(root);
});

after(async () => {
  await srv?.close();
});

describe('upstream repository', () => {
  test('key: v4 fingerprint, binary and armored keyrings written', async () => {
    assert.match(key.fingerprint, /^[0-9A-F]{40}$/);
    const listing = await sh('gpg', ['--homedir', await tmpDir('af-gpg'), '--show-keys', '--with-colons', key.keyringPath]);
    assert.ok(listing.includes(`fpr:::::::::${key.fingerprint}:`), listing);
    assert.match(await readFile(key.armoredKeyringPath, 'utf8'), /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  });

  test('gpgv accepts InRelease and Release.gpg of both suites, and refuses a tampered Release', async () => {
    for (const suite of ['bookworm', 'bookworm/updates']) {
      const dir = path.join(root, 'dists', suite);
      const inrel = await gpgv(key.keyringPath, path.join(dir, 'InRelease'));
      assert.ok(inrel.ok, inrel.output);
      assert.ok(inrel.output.includes(`VALIDSIG ${key.fingerprint}`), inrel.output);
      const det = await gpgv(key.keyringPath, path.join(dir, 'Release.gpg'), path.join(dir, 'Release'));
      assert.ok(det.ok, det.output);
      const armored = await gpgv(key.armoredKeyringPath, path.join(dir, 'InRelease'));
      assert.ok(armored.ok, armored.output);
      // InRelease holds exactly the Release text (gpg --clearsign convention).
      const release = await readFile(path.join(dir, 'Release'), 'utf8');
      const inText = await readFile(path.join(dir, 'InRelease'), 'utf8');
      assert.ok(inText.includes(`\n\n${release}-----BEGIN PGP SIGNATURE-----\n`), 'InRelease body differs from Release');
      assert.ok(!inText.includes('\r'), 'CR in InRelease');
    }
    const tampered = path.join(work, 'Release.tampered');
    const rel = await readFile(path.join(root, 'dists/bookworm/Release'), 'utf8');
    await writeFile(tampered, rel.replace('Label: Fixture', 'Label: Fixturf'));
    const bad = await gpgv(key.keyringPath, path.join(root, 'dists/bookworm/Release.gpg'), tampered);
    assert.equal(bad.ok, false, bad.output);
    assert.ok(bad.output.includes('BADSIG'), bad.output);
  });

  test('Release fields, index hashes, by-hash copies and Packages stanzas are consistent', async () => {
    const rel = await readFile(path.join(root, 'dists/bookworm/Release'), 'utf8');
    for (const f of ['Origin', 'Label', 'Suite', 'Codename', 'Date', 'Valid-Until', 'Acquire-By-Hash', 'Architectures', 'Components', 'Description', 'MD5Sum', 'SHA256']) {
      assert.match(rel, new RegExp(`^${f}:`, 'm'), `Release lacks ${f}`);
    }
    assert.match(rel, /^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d UTC$/m);
    assert.match(rel, /^Architectures: all amd64$/m);
    assert.match(rel, /^No-Support-for-Architecture-all: Packages$/m);
    const updRel = await readFile(path.join(root, 'dists/bookworm/updates/Release'), 'utf8');
    assert.match(updRel, /^Suite: bookworm\/updates$/m);
    assert.match(updRel, /^Architectures: amd64$/m);

    const bookwormIdx = build.indexFiles.filter((f) => f.suite === 'bookworm').map((f) => f.path);
    for (const p of ['main/binary-amd64/Packages.gz', 'main/binary-amd64/Packages.xz', 'main/binary-all/Packages.gz', 'main/source/Sources.gz', 'main/source/Sources.xz', 'main/i18n/Translation-en.gz']) {
      assert.ok(bookwormIdx.includes(p), `missing ${p}`);
    }
    for (const f of build.indexFiles) {
      const file = path.join(root, 'dists', f.suite, f.path);
      assert.equal(await sha256File(file), f.sha256, f.path);
      const relText = await readFile(path.join(root, 'dists', f.suite, 'Release'), 'utf8');
      assert.match(relText, new RegExp(`^ ${f.sha256} +${f.size} ${f.path.replace(/[.+]/g, '\\$&')}$`, 'm'));
      assert.equal(await sha256File(path.join(path.dirname(file), 'by-hash', 'SHA256', f.sha256)), f.sha256);
    }
    // The uncompressed Packages is listed (as Debian does: apt needs it) but not written.
    assert.ok(build.listedOnly.some((f) => f.suite === 'bookworm' && f.path === 'main/binary-amd64/Packages'));

    const pkgs = gunzipSync(await readFile(path.join(root, 'dists/bookworm/main/binary-amd64/Packages.gz'))).toString('utf8');
    const stanzas = pkgs.trimEnd().split('\n\n');
    assert.equal(stanzas.length, PACKAGES.length, 'binary-amd64 lists the arch-all package too');
    for (const d of build.debs.filter((x) => x.suite === 'bookworm')) {
      const st = stanzas.find((s) => s.startsWith(`Package: ${d.name}\n`));
      assert.ok(st, d.name);
      assert.match(st, new RegExp(`^SHA256: ${d.sha256}$`, 'm'));
      assert.match(st, new RegExp(`^Size: ${d.size}$`, 'm'));
      assert.ok(st.includes(`\nFilename: ${d.filename}\n`));
      assert.equal(await sha256File(path.join(root, d.filename)), d.sha256);
    }
    assert.equal(debOf(build, 'libfoo1').filename, 'pool/main/f/foo/libfoo1_1.2-1_amd64.deb');
    const fields = await sh('dpkg-deb', ['-f', path.join(root, debOf(build, 'foo-utils').filename), 'Package', 'Version', 'Source', 'Depends']);
    assert.equal(fields, 'Package: foo-utils\nVersion: 1:1.2-1\nSource: foo\nDepends: libfoo1 (= 1:1.2-1)\n');
    assert.ok(build.sourceFiles.some((f) => f.filename === 'pool/main/f/foo/foo_1.2-1.dsc'));
  });

  test('http server: files, HEAD, Range, 404, traversal, request log, fault hook', async () => {
    srv.reset();
    const d = debOf(build, 'hello');
    const res = await fetch(`${srv.url}/${d.filename}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(d.size));
    assert.equal(Buffer.from(await res.arrayBuffer()).length, d.size);
    const head = await rawGet(srv.port, `/${d.filename}`, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(d.size));
    assert.equal(head.body.length, 0);
    const part = await rawGet(srv.port, `/${d.filename}`, 'GET', { Range: 'bytes=0-9' });
    assert.equal(part.status, 206);
    assert.equal(part.body.length, 10);
    assert.equal((await rawGet(srv.port, '/dists/bookworm/nope')).status, 404);
    assert.equal((await rawGet(srv.port, '/dists/')).status, 404);
    for (const evil of ['/../../etc/passwd', '/dists/..%2f..%2f..%2fetc/passwd', '/%2e%2e/%2e%2e/etc/passwd']) {
      const r = await rawGet(srv.port, evil);
      assert.ok(r.status === 403 || r.status === 400, `${evil}: ${r.status}`);
    }
    assert.equal(srv.requests[0], `/${d.filename}`);
    assert.equal(srv.count((p) => p.endsWith('.deb')), 3);
    srv.fault = (req, r) => {
      if (!req.url?.endsWith('InRelease')) return false;
      r.writeHead(503, { 'Content-Length': 0 });
      r.end();
      return true;
    };
    try {
      assert.equal((await rawGet(srv.port, '/dists/bookworm/InRelease')).status, 503);
      assert.equal((await rawGet(srv.port, '/dists/bookworm/Release')).status, 200);
    } finally {
      srv.fault = null;
    }
  });
});

describe('apt-get as a client', () => {
  test('update (date checks on), policy, download with the recorded sha256, install into a throwaway root', async () => {
    const apt = createAptClient(await tmpDir('af-apt'), {
      sourcesLine: `deb [signed-by=${key.keyringPath}] ${srv.url}/ bookworm main`,
    });
    const conf = await readFile(apt.dirs.config, 'utf8');
    assert.match(conf, /Acquire::Check-Valid-Until "true"/);
    srv.reset();
    const u = await apt.update();
    assert.equal(u.code, 0, u.stdout + u.stderr);
    assert.ok(srv.count((p) => p.includes('/by-hash/SHA256/')) >= 1, `apt fetched by hash: ${srv.requests.join(' ')}`);
    const pol = await apt.policy('libbaz++1');
    assert.match(pol.stdout, /Candidate: 3\.0~rc1-1/, pol.stdout + pol.stderr);

    const dest = await tmpDir('af-apt-dl');
    for (const name of ['hello', 'libbaz++1', 'hello-doc']) {
      const dl = await apt.download(name, dest);
      assert.equal(dl.code, 0, dl.stdout + dl.stderr);
      assert.equal(dl.files.length, 1, dl.stdout);
      assert.equal(await sha256File(dl.files[0]!), debOf(build, name).sha256);
    }
    const exact = await apt.download('libfoo1=1:1.2-1', dest);
    assert.equal(exact.code, 0, exact.stderr);
    assert.equal(await sha256File(exact.files[0]!), debOf(build, 'libfoo1').sha256);

    const target = await tmpDir('af-apt-root');
    const inst = await apt.install(['foo-utils'], target);
    assert.equal(inst.code, 0, inst.stdout + inst.stderr);
    const status = await readFile(path.join(target, 'var/lib/dpkg/status'), 'utf8');
    assert.match(status, /Package: libfoo1\nStatus: install ok installed/);
    assert.match(status, /Package: foo-utils\nStatus: install ok installed/);
    const payload = await readFile(path.join(target, 'usr/share/aptfreeze-fixture/foo-utils/payload.bin'));
    assert.equal(payload.length, 200);
  });

  test('a suite whose name holds a slash works with apt', async () => {
    const apt = createAptClient(await tmpDir('af-apt-upd'), {
      sourcesLine: `deb [signed-by=${key.keyringPath}] ${srv.url}/ bookworm/updates main`,
    });
    const u = await apt.update();
    assert.equal(u.code, 0, u.stdout + u.stderr);
    const dl = await apt.download('hello', await tmpDir('af-apt-upd-dl'));
    assert.equal(dl.code, 0, dl.stderr);
    assert.equal(await sha256File(dl.files[0]!), debOf(build, 'hello', 'bookworm/updates').sha256);
  });

  test('apt refuses an expired Release (Valid-Until in the past), and takes it with date checks off', async () => {
    const oldRoot = path.join(work, 'expired-upstream');
    const day = 86_400_000;
    await buildUpstream(
      oldRoot,
      [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: PACKAGES.slice(0, 2), date: new Date(Date.now() - 9 * day), validUntil: new Date(Date.now() - 2 * day) }],
      key,
    );
    const old = await serveUpstream(oldRoot);
    try {
      const line = `deb [signed-by=${key.keyringPath}] ${old.url}/ bookworm main`;
      const strict = createAptClient(await tmpDir('af-apt-exp'), { sourcesLine: line });
      const r = await strict.update();
      assert.notEqual(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stderr, /expired/i);
      const lax = createAptClient(await tmpDir('af-apt-exp-lax'), { sourcesLine: line, checkDates: false });
      const r2 = await lax.update();
      assert.equal(r2.code, 0, r2.stdout + r2.stderr);
    } finally {
      await old.close();
    }
  });

  test('a signature by an expired key: gpgv reports EXPKEYSIG and apt refuses it', async () => {
    const expiredKey = await createUpstreamKey(path.join(work, 'expired-key'), { name: 'Old Archive Key', expired: true });
    const exRoot = path.join(work, 'expired-key-upstream');
    await buildUpstream(exRoot, [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: PACKAGES.slice(0, 1) }], expiredKey);
    const v = await gpgv(expiredKey.keyringPath, path.join(exRoot, 'dists/bookworm/InRelease'));
    assert.match(v.output, /EXPKEYSIG/, v.output);
    const s = await serveUpstream(exRoot);
    try {
      const apt = createAptClient(await tmpDir('af-apt-expkey'), { sourcesLine: `deb [signed-by=${expiredKey.keyringPath}] ${s.url}/ bookworm main` });
      const r = await apt.update();
      assert.notEqual(r.code, 0, r.stdout + r.stderr);
    } finally {
      await s.close();
    }
  });
});

describe('rebuilds and churn', () => {
  test('churn is deterministic and bumps ⌈fraction × n⌉ versions', () => {
    const a = churn(PACKAGES, 0.34, 42);
    assert.deepEqual(a, churn(PACKAGES, 0.34, 42));
    const changed = a.filter((p, i) => p.version !== PACKAGES[i]!.version);
    assert.equal(changed.length, Math.ceil(0.34 * PACKAGES.length));
    assert.equal(churn([{ name: 'x', version: '1.0-1', arch: 'amd64' }], 1, 1)[0]!.version, '1.0-2');
    assert.notDeepEqual(churn(PACKAGES, 0.34, 42), churn(PACKAGES, 0.34, 43));
  });

  test('rebuild after churn keeps unchanged pool files byte-identical, adds churned ones, keeps old ones', async () => {
    const before1 = new Map<string, string>();
    for (const d of build.debs) before1.set(d.filename, await sha256File(path.join(root, d.filename)));
    const oldIndex = build.indexFiles.find((f) => f.suite === 'bookworm' && f.path === 'main/binary-amd64/Packages.gz')!;

    const churned = churn(PACKAGES, 0.5, 7);
    const bumped = new Set(churned.filter((p, i) => p.version !== PACKAGES[i]!.version).map((p) => p.name));
    assert.equal(bumped.size, 3);
    const rebuilt = await buildUpstream(root, suites(churned), key);

    for (const d of rebuilt.debs.filter((x) => x.suite === 'bookworm')) {
      const old = debOf(build, d.name);
      if (bumped.has(d.name)) {
        assert.notEqual(d.filename, old.filename, d.name);
        assert.notEqual(d.sha256, old.sha256, d.name);
        assert.ok(!before1.has(d.filename), `${d.filename} is new`);
      } else {
        assert.equal(d.filename, old.filename, d.name);
        assert.equal(d.sha256, old.sha256, d.name);
      }
      assert.equal(await sha256File(path.join(root, d.filename)), d.sha256);
    }
    // Old pool files stay, unchanged; the old index stays reachable by hash.
    for (const [filename, sha] of before1) assert.equal(await sha256File(path.join(root, filename)), sha, filename);
    await sha256File(path.join(root, 'dists/bookworm/main/binary-amd64/by-hash/SHA256', oldIndex.sha256));
    const newIndex = rebuilt.indexFiles.find((f) => f.suite === 'bookworm' && f.path === 'main/binary-amd64/Packages.gz')!;
    assert.notEqual(newIndex.sha256, oldIndex.sha256);
    assert.ok((await gpgv(key.keyringPath, path.join(root, 'dists/bookworm/InRelease'))).ok);

    // A fresh root with the same packages gives the same bytes (reproducible .deb files).
    const fresh = await buildUpstream(path.join(work, 'fresh'), suites(churned), key);
    for (const d of fresh.debs) {
      const r = rebuilt.debs.find((x) => x.filename === d.filename && x.suite === d.suite)!;
      assert.equal(d.sha256, r.sha256, `${d.filename} not reproducible`);
    }
    for (const f of fresh.indexFiles.filter((x) => x.path.includes('binary-'))) {
      const r = rebuilt.indexFiles.find((x) => x.suite === f.suite && x.path === f.path)!;
      assert.equal(f.sha256, r.sha256, `${f.path} not reproducible`);
    }

    // A rebuild that stops producing something removes it (but not by-hash copies or pool files).
    await copyFile(path.join(root, 'dists/bookworm/Release'), path.join(work, 'Release.before'));
    const slim = await buildUpstream(root, [{ ...suites(churned)[0]!, sources: false, translations: false, signing: 'inrelease' }], key);
    assert.ok(slim.indexFiles.every((f) => !f.path.includes('source/')));
    await assert.rejects(readFile(path.join(root, 'dists/bookworm/main/source/Sources.gz')));
    await assert.rejects(readFile(path.join(root, 'dists/bookworm/Release.gpg')));
    await assert.rejects(readFile(path.join(root, 'dists/bookworm/updates/Release')));
    await readFile(path.join(root, 'dists/bookworm/main/source/by-hash/SHA256', build.indexFiles.find((f) => f.path === 'main/source/Sources.gz')!.sha256));

    // apt sees the new versions.
    const apt = createAptClient(await tmpDir('af-apt-churn'), { sourcesLine: `deb [signed-by=${key.keyringPath}] ${srv.url}/ bookworm main` });
    const u = await apt.update();
    assert.equal(u.code, 0, u.stdout + u.stderr);
    const name = [...bumped][0]!;
    const want = churned.find((p) => p.name === name)!.version;
    const pol = await apt.policy(name);
    assert.ok(pol.stdout.includes(`Candidate: ${want}`), pol.stdout);
  });
});
