// The bench's upstream generator (scripts/bench/generate.ts) must keep producing a repository
// that the real tools accept, or `npm run bench` would silently measure nonsense: gpgv accepts
// its signatures, the real apt-get updates from it (date checks on), downloads a package whose
// bytes match the index, installs one into a throwaway dpkg root, and sees the next state after
// a 1% churn (new versions, added and removed packages, by-hash copies kept).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';

import { createAptClient } from './helpers/apt.ts';
import { gpgv, sha256File, tmpDir } from './helpers/gpg.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { createKey, type BenchKey } from '../scripts/bench/keys.ts';
import { bumpVersion, generateUpstream, mutateUpstream, type BenchPackage, type UpstreamState } from '../scripts/bench/generate.ts';

const N = 50;

describe('bench upstream generator', () => {
  let dir: string;
  let key: BenchKey;
  let state: UpstreamState;
  let server: UpstreamServer;
  let suiteDir: string;

  before(async () => {
    dir = await tmpDir('af-bench-gen');
    key = await createKey(path.join(dir, 'keys'), 'Bench Test Upstream');
    const g = await generateUpstream(path.join(dir, 'up'), key, { packages: N, seed: 7 });
    state = g.state;
    assert.equal(g.stats.packages, N);
    suiteDir = path.join(state.root, 'dists', state.suite);
    server = await serveUpstream(state.root);
  });

  after(async () => {
    await server?.close();
  });

  const apt = (name: string) => createAptClient(path.join(dir, name), { sourcesLine: `deb [signed-by=${key.keyringPath}] ${server.url}/ ${state.suite} main` });

  test('is deterministic for a seed, and its stanzas look like Debian main', async () => {
    const again = await generateUpstream(path.join(dir, 'again'), key, { packages: N, seed: 7 });
    assert.deepEqual(
      again.state.packages.map((p) => [p.name, p.version, p.sha256]),
      state.packages.map((p) => [p.name, p.version, p.sha256]),
    );
    const text = gunzipSync(await readFile(path.join(suiteDir, 'main/binary-amd64/Packages.gz'))).toString('utf8');
    const stanzas = text.trim().split('\n\n');
    assert.equal(stanzas.length, N);
    for (const f of ['Package', 'Version', 'Maintainer', 'Architecture', 'Description', 'Description-md5', 'Section', 'Priority', 'Filename', 'Size', 'MD5sum', 'SHA256']) {
      assert.ok(stanzas.every((s) => new RegExp(`^${f}: `, 'm').test(s)), `every stanza has ${f}`);
    }
    assert.ok(stanzas.some((s) => /^Depends: /m.test(s)));
    const avg = text.length / N;
    assert.ok(avg > 400 && avg < 1200, `average stanza ${avg} bytes`);
    const xz = execFileSync('xz', ['-dc', path.join(suiteDir, 'main/binary-amd64/Packages.xz')]).toString('utf8');
    assert.equal(xz, text);
    assert.equal(bumpVersion('1:2.3-4'), '1:2.3-5');
    assert.equal(bumpVersion('2.3+dfsg-1'), '2.3+dfsg-2');
  });

  test('gpgv accepts InRelease and Release.gpg; Release lists by-hash-able indices', async () => {
    const inrel = await gpgv(key.keyringPath, path.join(suiteDir, 'InRelease'));
    assert.ok(inrel.ok && inrel.output.includes('GOODSIG'), inrel.output);
    const det = await gpgv(key.keyringPath, path.join(suiteDir, 'Release.gpg'), path.join(suiteDir, 'Release'));
    assert.ok(det.ok && det.output.includes('GOODSIG'), det.output);
    const release = await readFile(path.join(suiteDir, 'Release'), 'utf8');
    assert.match(release, /^Acquire-By-Hash: yes$/m);
    for (const f of state.indexFiles.filter((x) => x.written)) {
      assert.match(release, new RegExp(` ${f.sha256} +${f.size} ${f.path}$`, 'm'));
      assert.equal(await sha256File(path.join(suiteDir, path.dirname(f.path), 'by-hash/SHA256', f.sha256)), f.sha256);
    }
  });

  test('the real apt-get updates, downloads (hash-checked) and installs from it', async () => {
    const client = apt('apt1');
    const u = await client.update();
    assert.equal(u.code, 0, u.stderr + u.stdout);
    const pkg = state.packages.find((p) => !p.depends && !p.breaks && !p.replaces && !p.recommends) ?? state.packages[0]!;
    const pol = await client.policy(pkg.name);
    assert.match(pol.stdout, new RegExp(`Candidate: ${pkg.version.replace(/[.+~]/g, '\\$&')}`), pol.stdout);
    const d = await client.download(pkg.name, path.join(dir, 'dl1'));
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.files.length, 1);
    assert.equal(await sha256File(d.files[0]!), pkg.sha256);
    // dpkg itself reads the members of the generated .deb (control.tar.gz, data.tar.zst) and unpacks them.
    const root = path.join(dir, 'root');
    const i = await client.install([pkg.name], root);
    assert.equal(i.code, 0, i.stderr + i.stdout);
    assert.ok(existsSync(path.join(root, 'usr/lib', pkg.name, 'data.bin')));
    assert.ok(existsSync(path.join(root, 'usr/share/doc', pkg.name, 'copyright')));
  });

  test('after a 1% churn apt sees the new state; old by-hash indices stay', async () => {
    const before = new Map(state.packages.map((p) => [p.name, p.version]));
    const oldIndex = state.indexFiles.filter((f) => f.written).map((f) => f.sha256);
    const { stats } = await mutateUpstream(state, key, { fraction: 0.05, delta: 2 });
    assert.ok(stats.changed >= Math.ceil(N * 0.05), `changed ${stats.changed}`);
    assert.ok(stats.added >= 2 && stats.removed >= 2, JSON.stringify(stats));
    assert.equal(stats.newPoolFiles, stats.changed + stats.added);
    const changed: BenchPackage | undefined = state.packages.find((p) => before.has(p.name) && before.get(p.name) !== p.version);
    assert.ok(changed);
    assert.equal(changed.version, bumpVersion(before.get(changed.name)!));
    for (const h of oldIndex) assert.ok(existsSync(path.join(suiteDir, 'main/binary-amd64/by-hash/SHA256', h)));
    const client = apt('apt2');
    const u = await client.update();
    assert.equal(u.code, 0, u.stderr + u.stdout);
    const pol = await client.policy(changed.name);
    assert.match(pol.stdout, new RegExp(`Candidate: ${changed.version.replace(/[.+~]/g, '\\$&')}`), pol.stdout);
    const d = await client.download(changed.name, path.join(dir, 'dl2'));
    assert.equal(d.code, 0, d.stderr);
    assert.equal(await sha256File(d.files[0]!), changed.sha256);
  });
});
