// Issue 2 acceptance 1-3, 6: mirror a fixture upstream, serve it to the real apt-get,
// byte-identical indices, gpgv on our signatures, work proportional to change, filters.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { createUpstreamKey, buildUpstream, makePackages, churn, type UpstreamKey, type FixturePackage, type FixtureSuite, type UpstreamBuild } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { createAptClient } from './helpers/apt.ts';
import { gpgv, sha256File, tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { parseRelease } from '../server/debian/release.ts';
import { parseStanzas } from '../server/debian/deb822.ts';
import { decompressBuffer } from '../server/debian/compress.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function get(url: string): Promise<{ status: number; body: Buffer }> {
  const r = await fetch(url);
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

/** The signed text of a clearsigned InRelease (between the header and the signature). */
function signedText(inRelease: string): string {
  const m = /-----BEGIN PGP SIGNED MESSAGE-----\n(?:[^\n]+\n)*\n([\s\S]*?)\n-----BEGIN PGP SIGNATURE-----/.exec(inRelease);
  assert.ok(m, 'a clearsigned message');
  return `${m[1]}\n`;
}

describe('mirroring a fixture upstream into serial snapshots', () => {
  let dir: string;
  let key: UpstreamKey;
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let pkgs: FixturePackage[];
  let build: UpstreamBuild;
  let serial1: string;
  let serviceKeyring: string;
  const suites = (p: FixturePackage[]): FixtureSuite[] => [
    { name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: p },
    { name: 'bookworm/updates', components: ['main'], architectures: ['amd64'], packages: p.slice(0, 3) },
  ];

  before(async () => {
    dir = await tmpDir('af-core');
    key = await createUpstreamKey(join(dir, 'keys'));
    pkgs = makePackages(100);
    build = await buildUpstream(join(dir, 'up'), suites(pkgs), key);
    up = await serveUpstream(join(dir, 'up'));
    svc = await startService(join(dir, 'svc'), {
      archives: {
        debian: { url: up.url, suites: ['bookworm', 'bookworm/updates'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath },
        filtered: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.armoredKeyringPath, packages: ['pkg1', 'pkg4', 'pkg7'] },
      },
    });
    const r = await svc.cli(['snapshot', 'debian', '--json']);
    assert.equal(r.code, 0, r.stderr);
    serial1 = JSON.parse(r.stdout)[0].serial;
    serviceKeyring = join(dir, 'aptfreeze.gpg');
    await writeFile(serviceKeyring, (await get(`${svc.url}/keys/aptfreeze.gpg`)).body);
  });
  after(async () => {
    await svc?.close();
    await up?.close();
  });

  it('names the serial YYYYMMDDNN after the UTC date', () => {
    const today = new Date().toISOString().slice(0, 10).replace(/-/g, '');
    assert.match(serial1, /^\d{10}$/);
    assert.equal(serial1.slice(0, 8), today);
  });

  for (const path of ['SERIAL', 'latest']) {
    it(`lets the real apt-get update and download through /debian/${path}/ with signed-by = the service key`, async () => {
      const p = path === 'SERIAL' ? serial1 : 'latest';
      const apt = createAptClient(join(dir, `apt-${path}`), { sourcesLine: `deb [signed-by=${serviceKeyring}] ${svc.url}/debian/${p}/ bookworm main` });
      const u = await apt.update();
      assert.equal(u.code, 0, u.stderr);
      const d = await apt.download('pkg2', join(dir, `dl-${path}`));
      assert.equal(d.code, 0, d.stderr);
      assert.equal(d.files.length, 1);
      const want = build.debs.find((x) => x.name === 'pkg2' && x.suite === 'bookworm')!;
      assert.equal(await sha256File(d.files[0]!), want.sha256);
    });
  }

  it('serves a suite whose name holds a slash to apt', async () => {
    const apt = createAptClient(join(dir, 'apt-slash'), { sourcesLine: `deb [signed-by=${serviceKeyring}] ${svc.url}/debian/${serial1}/ bookworm/updates main` });
    assert.equal((await apt.update()).code, 0);
    const d = await apt.download('pkg0', join(dir, 'dl-slash'));
    assert.equal(d.code, 0, d.stderr);
  });

  it('serves every upstream index file byte for byte', async () => {
    assert.ok(build.indexFiles.length >= 4);
    for (const f of build.indexFiles) {
      const r = await get(`${svc.url}/debian/${serial1}/dists/${f.suite}/${f.path}`);
      assert.equal(r.status, 200, f.path);
      assert.equal(sha(r.body), f.sha256, `${f.suite}/${f.path}`);
      const byHash = await get(`${svc.url}/debian/${serial1}/dists/${f.suite}/${f.path.split('/').slice(0, -1).join('/')}/by-hash/SHA256/${f.sha256}`);
      assert.equal(sha(byHash.body), f.sha256);
    }
  });

  it('signs InRelease and Release.gpg with the service key (gpgv) and lists the same index hashes as upstream', async () => {
    for (const suite of ['bookworm', 'bookworm/updates']) {
      const base = `${svc.url}/debian/${serial1}/dists/${suite}`;
      const files: Record<string, Buffer> = {};
      for (const f of ['InRelease', 'Release', 'Release.gpg']) {
        const r = await get(`${base}/${f}`);
        assert.equal(r.status, 200);
        files[f] = r.body;
        await writeFile(join(dir, `${suite.replace('/', '_')}-${f}`), r.body);
      }
      const p = (f: string) => join(dir, `${suite.replace('/', '_')}-${f}`);
      assert.ok((await gpgv(serviceKeyring, p('InRelease'))).ok, 'InRelease verifies');
      assert.ok((await gpgv(serviceKeyring, p('Release.gpg'), p('Release'))).ok, 'Release.gpg verifies');
      assert.ok(!(await gpgv(key.keyringPath, p('InRelease'))).ok, 'not signed by the upstream key');
      assert.equal(signedText(files['InRelease']!.toString()), files['Release']!.toString());
      const ours = parseRelease(files['Release']!.toString());
      const upstream = parseRelease(await readFile(join(dir, 'up', 'dists', suite, 'Release'), 'utf8'));
      const oursByPath = new Map(ours.sha256.map((e) => [e.path, e]));
      for (const e of upstream.sha256) assert.deepEqual(oursByPath.get(e.path), e, e.path);
      assert.equal(ours.get('Date'), upstream.get('Date'));
      assert.ok(ours.validUntil! > new Date(), 'a Valid-Until in the future');
    }
  });

  it('serves the service key, the trace file and 404 for unknown archives, serials and paths', async () => {
    assert.match((await get(`${svc.url}/keys/aptfreeze.asc`)).body.toString(), /BEGIN PGP PUBLIC KEY BLOCK/);
    assert.match((await get(`${svc.url}/debian/project/trace/debian`)).body.toString(), new RegExp(`^Archive serial: ${serial1}$`, 'm'));
    assert.equal((await get(`${svc.url}/nosuch/${serial1}/dists/bookworm/InRelease`)).status, 404);
    assert.equal((await get(`${svc.url}/debian/2001010101/dists/bookworm/InRelease`)).status, 404);
    assert.equal((await get(`${svc.url}/debian/${serial1}/dists/bookworm/Nope`)).status, 404);
  });

  it('answers HEAD, Range and conditional requests on pool files', async () => {
    const deb = build.debs.find((x) => x.name === 'pkg3')!;
    const url = `${svc.url}/debian/${serial1}/${deb.filename}`;
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), deb.size);
    assert.equal(head.headers.get('content-type'), 'application/vnd.debian.binary-package');
    const etag = head.headers.get('etag');
    assert.ok(etag && head.headers.get('last-modified'));
    const range = await fetch(url, { headers: { Range: 'bytes=0-7' } });
    assert.equal(range.status, 206);
    assert.equal(Buffer.from(await range.arrayBuffer()).toString('latin1'), '!<arch>\n');
    // undici's request, not fetch: fetch adds Cache-Control: no-cache to conditional requests.
    const cond = await request(url, { headers: { 'if-none-match': etag } });
    await cond.body.dump();
    assert.equal(cond.statusCode, 304);
  });

  it('lists the serial through the JSON API', async () => {
    const list = await (await fetch(`${svc.url}/api/archives/debian/serials`)).json() as { serials: Array<{ serial: string; state: string }> };
    assert.deepEqual(list.serials.map((s) => [s.serial, s.state]), [[serial1, 'live']]);
    const one = await fetch(`${svc.url}/api/archives/debian/serials/${serial1}`);
    assert.equal(one.status, 200);
    const archives = await (await fetch(`${svc.url}/api/archives`)).json() as { archives: Array<{ name: string; latest: string | null }> };
    assert.equal(archives.archives.find((a) => a.name === 'debian')?.latest, serial1);
  });

  describe('when nothing changed upstream', () => {
    it('makes a new serial without fetching any pool or index file', async () => {
      up.reset();
      const r = await svc.cli(['snapshot', 'debian', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const serial2 = JSON.parse(r.stdout)[0].serial;
      assert.ok(serial2 > serial1);
      assert.equal(up.count((p) => p.startsWith('/pool/')), 0);
      assert.equal(up.count((p) => p.startsWith('/dists/') && !p.endsWith('/InRelease')), 0, up.requests.join('\n'));
      assert.ok(up.count((p) => p.endsWith('/InRelease')) >= 2);
    });
  });

  describe('when 1% of packages change upstream', () => {
    it('fetches only the churned pool files and the changed indices', async () => {
      const next = churn(pkgs, 0.01, 7);
      const changed = next.filter((p, i) => p.version !== pkgs[i]!.version);
      assert.equal(changed.length, 1);
      // Upstream's Date moves forward by the fixture's clock (rollback defence): no waiting.
      const b2 = await buildUpstream(join(dir, 'up'), suites(next), key);
      up.reset();
      const r = await svc.cli(['snapshot', 'debian', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const poolReqs = up.requests.filter((p) => p.startsWith('/pool/'));
      const newDebs = b2.debs.filter((d) => changed.some((c) => c.name === d.name && c.version === d.version));
      assert.deepEqual([...new Set(poolReqs)].sort(), [...new Set(newDebs.map((d) => `/${d.filename}`))].sort());
      const oldIndex = new Set(build.indexFiles.map((f) => f.sha256));
      const changedIndex = b2.indexFiles.filter((f) => !oldIndex.has(f.sha256));
      const indexReqs = up.requests.filter((p) => p.startsWith('/dists/') && !/\/(InRelease|Release|Release\.gpg)$/.test(p));
      assert.ok(changedIndex.length > 0);
      // Every index request is for a changed index (by-hash or plain path), or for a listed-only uncompressed name.
      const changedHashes = new Set(changedIndex.map((f) => f.sha256));
      const listedOnly = new Set(b2.listedOnly.map((f) => f.sha256));
      for (const p of indexReqs) {
        const h = /by-hash\/SHA256\/([0-9a-f]{64})$/.exec(p)?.[1];
        if (h) assert.ok(changedHashes.has(h) || listedOnly.has(h), `unexpected index fetch ${p}`);
      }
      assert.ok(indexReqs.length <= (changedIndex.length + b2.listedOnly.length) * 2);
      pkgs = next;
      build = b2;
    });
  });

  describe('an archive with a package filter', () => {
    it('serves only the filtered stanzas, byte-identical to upstream, and apt installs from it', async () => {
      const r = await svc.cli(['snapshot', 'filtered', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const serial = JSON.parse(r.stdout)[0].serial;
      const upstreamText = await readFile(join(dir, 'up', 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages.gz'));
      const upstreamStanzas = parseStanzas(await decompressBuffer('gz', upstreamText, { maxBytes: 1 << 26 }));
      const upstreamRaw = new Set(upstreamStanzas.map((s) => s.raw.toString('latin1')));
      for (const variant of ['Packages.gz', 'Packages.xz']) {
        const served = await get(`${svc.url}/filtered/${serial}/dists/bookworm/main/binary-amd64/${variant}`);
        assert.equal(served.status, 200, variant);
        const stanzas = parseStanzas(await decompressBuffer(variant.endsWith('gz') ? 'gz' : 'xz', served.body, { maxBytes: 1 << 26 }));
        assert.deepEqual(stanzas.map((s) => s.get('Package')).sort(), ['pkg1', 'pkg4', 'pkg7']);
        for (const s of stanzas) assert.ok(upstreamRaw.has(s.raw.toString('latin1')), `stanza of ${s.get('Package')} byte-identical`);
      }
      const apt = createAptClient(join(dir, 'apt-filtered'), { sourcesLine: `deb [signed-by=${serviceKeyring}] ${svc.url}/filtered/${serial}/ bookworm main` });
      assert.equal((await apt.update()).code, 0);
      assert.equal((await apt.policy('pkg2')).stdout.includes('Candidate: 1'), false, 'pkg2 is filtered out');
      const inst = await apt.install(['pkg1'], join(dir, 'root-filtered'));
      assert.equal(inst.code, 0, inst.stderr);
      assert.equal((await get(`${svc.url}/filtered/${serial}/pool/main/p/pkg2/pkg2_1.0-1_amd64.deb`)).status, 404);
    });
  });
});
