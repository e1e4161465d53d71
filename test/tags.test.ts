// Tags (issue 13): a permanent partial snapshot made from a build manifest, over the proof
// fixture (archive `debian`: two suites, one with a slash signed Release + Release.gpg, sources
// mirrored; archive `filt`: the same upstream filtered to three packages, no sources).
// Acceptance shown here: (2) the tag's Release has no Valid-Until and the real apt-get with date
// checks on installs from it; (3) a package the serial lacks is one error listing it, nothing
// published; (4) a Tails-format manifest written by hand is accepted as is; (5) gc keeps a blob
// only a tag uses, and frees it after `tag delete`. Also: a package in two archives goes into
// both, the tag's stanzas are the serial's byte for byte, the tag's proof verifies a package
// back to the upstream signature, roles, names, `tag show`, `sources … tag:<name>`, pins.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { proofFixture, type ProofFixture, PACKAGES, UPDATES, fixtureSuites, getBytes } from './helpers/proof-fixture.ts';
import { createAptClient } from './helpers/apt.ts';
import { api, fakeClock, serviceKeyring, sha256, token, DAY } from './helpers/release.ts';
import { treeState } from './helpers/hostile.ts';
import { parseStanzas } from '../server/debian/deb822.ts';
import { parseRelease } from '../server/debian/release.ts';
import { verifyWithProof } from '../server/cli/verify.ts';
import { overall } from '../server/verify/report.ts';
import { readPins } from '../server/pins/files.ts';
import { parseBuildManifest, emitBuildManifest } from '../server/tags/build-manifest.ts';
import { installedPackages } from '../server/tags/dpkg-status.ts';
import type { GcReport } from '../server/release/gc.ts';
import type { TagView } from '../server/tags/query.ts';

const clock = fakeClock(new Date());
let f: ProofFixture;
let rm: string;
let admin: string;
let S1: string; // debian
let F1: string; // filt
let keyring: string;

/** A manifest as Tails' build writes it, by hand: quoted serials, binary and source lists. */
function tailsManifest(debian: string, filt: string, binaries = ['hello 2.10-3 amd64', 'hello-doc 2.10-3 all', 'libfoo1 1:1.2-1 amd64']): string {
  return [
    'origin_references:',
    '  debian:',
    `    reference: '${debian}'`,
    '  filt:',
    `    reference: '${filt}'`,
    'packages:',
    '  binary:',
    ...binaries.flatMap((b) => {
      const [p, v, a] = b.split(' ');
      return [`  - arch: ${a}`, `    package: ${p}`, `    version: '${v}'`];
    }),
    '  source:',
    "  - package: hello\n    version: '2.10-3'",
    "  - package: foo\n    version: '1:1.2-1'",
    '',
  ].join('\n');
}

async function tagFile(archive: string, tag: string, path: string): Promise<Buffer> {
  return getBytes(`${f.h.url}/${archive}/tags/${tag}/${path}`);
}

async function status(url: string): Promise<number> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status;
}

before(async () => {
  f = await proofFixture('af-tags', { now: clock.now, config: { keep: 1, lifetime: '10d' } });
  rm = token(f.h, 'release-manager');
  admin = token(f.h, 'admin');
  S1 = (await f.snapshot('debian')).serial;
  F1 = (await f.snapshot('filt')).serial;
  keyring = await serviceKeyring(f.h, join(f.dir, 'aptfreeze.gpg'));
});

after(async () => {
  await f?.close();
});

describe('a Tails-format manifest written by hand', () => {
  let tag: TagView;

  it('is accepted as is and makes the tag in every archive it names', async () => {
    const r = await api<TagView>(f.h, 'POST', '/tags', { token: rm, body: { name: 'tails-6.0', manifest: tailsManifest(S1, F1) } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    tag = r.body;
    assert.deepEqual(
      tag.archives.map((a) => [a.archive, a.serial, a.binaries]),
      [
        ['debian', S1, 3],
        // hello and hello-doc pass filt's filter, libfoo1 does not: the same package goes into both archives.
        ['filt', F1, 2],
      ],
    );
    assert.equal(tag.createdBy, 'release-manager-test');
    const shown = await api<TagView>(f.h, 'GET', '/tags/tails-6.0');
    assert.deepEqual(shown.body, tag);
    assert.deepEqual((await api<{ tags: TagView[] }>(f.h, 'GET', '/tags')).body.tags.map((t) => t.name), ['tails-6.0']);
  });

  it('serves exactly the listed stanzas, byte for byte as the serial served them', async () => {
    const ours = await tagFile('debian', 'tails-6.0', 'dists/bookworm/main/binary-amd64/Packages');
    const serials = await getBytes(`${f.h.url}/debian/${S1}/dists/bookworm/main/binary-amd64/Packages.gz`).then((b) => import('node:zlib').then((z) => z.gunzipSync(b)));
    const theirs = new Set(parseStanzas(serials).map((s) => s.raw.toString('hex')));
    const stanzas = parseStanzas(ours);
    assert.deepEqual(stanzas.map((s) => s.get('Package')).sort(), ['hello', 'hello-doc', 'libfoo1']);
    for (const s of stanzas) assert.ok(theirs.has(s.raw.toString('hex')), `${s.get('Package')} is a stanza of the serial`);
    // The compressed copies hold the same text.
    const gz = await tagFile('debian', 'tails-6.0', 'dists/bookworm/main/binary-amd64/Packages.gz');
    assert.deepEqual((await import('node:zlib')).gunzipSync(gz), ours);
    // The suite with a slash is there, holding none of the listed packages (its hello is another version).
    assert.equal((await tagFile('debian', 'tails-6.0', 'dists/bookworm/updates/main/binary-amd64/Packages')).length, 0);
    // Sources where the archive mirrors them: the listed sources and their files.
    const sources = parseStanzas(await tagFile('debian', 'tails-6.0', 'dists/bookworm/main/source/Sources'));
    assert.deepEqual(sources.map((s) => `${s.get('Package')} ${s.get('Version')}`).sort(), ['foo 1:1.2-1', 'hello 2.10-3']);
    const dsc = sources.find((s) => s.get('Package') === 'hello')!;
    assert.equal(await status(`${f.h.url}/debian/tags/tails-6.0/${dsc.get('Directory')}/hello_2.10-3.dsc`), 200);
    // A package not listed is not in the pool.
    const bar = f.build.debs.find((d) => d.name === 'bar')!;
    assert.equal(await status(`${f.h.url}/debian/tags/tails-6.0/${bar.filename}`), 404);
  });

  it('has a Release without Valid-Until, with upstream\'s Origin and Label, signed by the service', async () => {
    const release = parseRelease((await tagFile('debian', 'tails-6.0', 'dists/bookworm/Release')).toString('utf8'));
    const serial = parseRelease((await getBytes(`${f.h.url}/debian/${S1}/dists/bookworm/Release`)).toString('utf8'));
    const field = (r: typeof release, n: string) => r.fields.find(([k]) => k === n)?.[1];
    assert.equal(field(release, 'Valid-Until'), undefined);
    assert.ok(field(serial, 'Valid-Until'), 'the serial has one');
    for (const n of ['Origin', 'Label', 'Suite', 'Codename', 'Date']) assert.equal(field(release, n), field(serial, n), n);
    const { gpgv } = await import('./helpers/gpg.ts');
    const inRelease = join(f.dir, 'tag-InRelease');
    await writeFile(inRelease, await tagFile('debian', 'tails-6.0', 'dists/bookworm/InRelease'));
    assert.equal((await gpgv(keyring, inRelease)).ok, true);
  });

  it('installs with the real apt-get, date checks on, only the service key trusted', async () => {
    const apt = createAptClient(join(f.dir, 'apt-tag'), { sourcesLine: `deb [signed-by=${keyring}] ${f.h.url}/debian/tags/tails-6.0/ bookworm main`, checkDates: true });
    const up = await apt.update();
    assert.equal(up.code, 0, up.stderr);
    const inst = await apt.install(['libfoo1', 'hello'], join(f.dir, 'root-tag'));
    assert.equal(inst.code, 0, inst.stderr);
    const st = installedPackages(await readFile(join(f.dir, 'root-tag', 'var', 'lib', 'dpkg', 'status')));
    assert.deepEqual(st.binary.map((b) => `${b.package} ${b.version}`).sort(), ['hello 2.10-3', 'libfoo1 1:1.2-1']);
    // A package the tag does not hold has no candidate.
    assert.notEqual((await apt.run(['download', 'bar'], { cwd: join(f.dir, 'apt-tag') })).code, 0);
  });

  it('has a proof package that verifies its packages back to the upstream signature', async () => {
    const proof = join(f.dir, 'tag-proof.deb');
    await writeFile(proof, await tagFile('debian', 'tails-6.0', 'proof.deb'));
    const debs: string[] = [];
    for (const name of ['hello', 'libfoo1', 'hello-doc']) {
      const d = f.build.debs.find((x) => x.name === name && x.suite === 'bookworm')!;
      const file = join(f.dir, `${name}.deb`);
      await writeFile(file, await tagFile('debian', 'tails-6.0', d.filename));
      debs.push(file);
    }
    const reports = await verifyWithProof(proof, f.key.keyringPath, debs);
    assert.equal(overall(reports), 'verified', JSON.stringify(reports.filter((r) => r.verdict !== 'verified'), null, 1));
    // A package the tag does not hold does not verify against its proof, though the serial served it.
    const bar = join(f.dir, 'bar.deb');
    await writeFile(bar, await getBytes(`${f.h.url}/debian/${S1}/${f.build.debs.find((d) => d.name === 'bar')!.filename}`));
    assert.equal(overall(await verifyWithProof(proof, f.key.keyringPath, [bar])), 'failed');
  });

  it('passes `verify --snapshot` of its URL, pool included', async () => {
    const r = await f.h.cli(['verify', '--snapshot', `${f.h.url}/debian/tags/tails-6.0/`, '--keyring', f.key.keyringPath, '--service-key', keyring, '--pool']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // And the tag's tree in the filtered archive.
    const other = await f.h.cli(['verify', '--snapshot', `${f.h.url}/filt/tags/tails-6.0/`, '--keyring', f.key.keyringPath, '--service-key', keyring]);
    assert.equal(other.code, 0, other.stdout + other.stderr);
  });

  it('is printed by `tag show` and reachable through `sources <archive> tag:<name>`', async () => {
    const shown = await f.h.cli(['tag', 'show', 'tails-6.0', '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual((JSON.parse(shown.stdout) as TagView).archives.map((a) => a.serial), [S1, F1]);
    const src = await f.h.cli(['sources', 'debian', 'tag:tails-6.0']);
    assert.equal(src.code, 0, src.stderr);
    assert.match(src.stdout, new RegExp(`^URIs: ${f.h.services.config.baseUrl}/debian/tags/tails-6\\.0/$`, 'm'));
    const none = await f.h.cli(['sources', 'debian', 'tag:nosuch']);
    assert.match(none.stderr, /^aptfreeze: NOT_FOUND:/);
  });

  it('can be named in a pin file', async () => {
    const dir = join(f.dir, 'pins');
    await mkdir(join(dir, 'debian'), { recursive: true });
    await writeFile(join(dir, 'debian', 'serial'), 'tag:tails-6.0\n');
    assert.equal(readPins(dir).get('debian'), 'tag:tails-6.0');
    const r = await f.h.cli(['sources', '--pins', dir, '--server', f.h.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\/debian\/tags\/tails-6\.0\/$/m);
  });
});

describe('a manifest naming packages the serial lacks', () => {
  it('is one error listing every such package, and nothing is published', async () => {
    const before = await treeState(f.h.services.publisher.root);
    const manifest = tailsManifest(S1, F1, ['hello 2.10-3 amd64', 'hello 9.9-9 amd64', 'nosuch 1.0 amd64']);
    const r = await api(f.h, 'POST', '/tags', { token: rm, body: { name: 'broken', manifest } });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.code, 'PACKAGES_MISSING');
    assert.match(r.body.error.message, /hello=9\.9-9\/amd64/);
    assert.match(r.body.error.message, /nosuch=1\.0\/amd64/);
    assert.doesNotMatch(r.body.error.message, /hello=2\.10-3/);
    const file = join(f.dir, 'broken.yaml');
    await writeFile(file, manifest);
    const cli = await f.h.cli(['tag', 'create', 'broken', '--manifest', file]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^aptfreeze: PACKAGES_MISSING: .*nosuch=1\.0\/amd64/);
    assert.deepEqual(await treeState(f.h.services.publisher.root), before, 'the published tree is unchanged');
    assert.equal((await api(f.h, 'GET', '/tags/broken')).status, 404);
    assert.equal(await status(`${f.h.url}/debian/tags/broken/dists/bookworm/InRelease`), 404);
  });

  it('refuses a serial that is not published, an unknown archive, a malformed manifest and a bad name', async () => {
    const post = (name: string, manifest: unknown) => api(f.h, 'POST', '/tags', { token: rm, body: { name, manifest } });
    assert.equal((await post('x', tailsManifest('2001010101', F1))).body.error.code, 'NOT_FOUND');
    assert.equal((await post('x', tailsManifest(S1, F1).replace('  filt:', '  nosuch:'))).body.error.code, 'NOT_FOUND');
    assert.equal((await post('x', 'origin_references: [')).body.error.code, 'BAD_REQUEST');
    assert.equal((await post('x', { origin_references: { debian: { reference: S1 } }, packages: { binary: [{ package: 'hello' }] } })).body.error.code, 'BAD_REQUEST');
    for (const bad of ['2026112701', '-x', 'a/b', '.hidden', '']) assert.equal((await post(bad, tailsManifest(S1, F1))).body.error.code, 'BAD_REQUEST', bad);
    assert.equal((await post('tails-6.0', tailsManifest(S1, F1))).body.error.code, 'CONFLICT');
  });

  it('reads a JSON manifest like its YAML form', () => {
    const yaml = parseBuildManifest(tailsManifest(S1, F1));
    const json = parseBuildManifest(JSON.parse(JSON.stringify({ origin_references: { debian: { reference: Number(S1) }, filt: { reference: F1 } }, packages: { binary: yaml.binary, source: yaml.source } })));
    assert.equal(emitBuildManifest(json), emitBuildManifest(yaml));
    assert.equal(emitBuildManifest(parseBuildManifest(emitBuildManifest(yaml))), emitBuildManifest(yaml));
  });
});

describe('who may make and delete tags', () => {
  it('needs a token; release managers create, only admins delete, and both are audited', async () => {
    assert.equal((await api(f.h, 'POST', '/tags', { body: { name: 'y', manifest: tailsManifest(S1, F1) } })).body.error.code, 'UNAUTHORIZED');
    assert.equal((await api(f.h, 'DELETE', '/tags/tails-6.0', { token: rm })).body.error.code, 'FORBIDDEN');
    const audit = await api<{ entries: Array<{ action: string; actor: string; target: string }> }>(f.h, 'GET', '/audit?action=tag-create', { token: admin });
    assert.deepEqual(audit.body.entries.map((e) => [e.actor, e.target]), [['release-manager-test', 'tag/tails-6.0']]);
  });

  it('makes one of two concurrent creations of a name, and the other is a conflict', async () => {
    const post = () => api(f.h, 'POST', '/tags', { token: rm, body: { name: 'twin', manifest: tailsManifest(S1, F1) } });
    const rs = await Promise.all([post(), post()]);
    assert.deepEqual(rs.map((r) => r.status).sort(), [201, 409]);
    assert.equal(rs.find((r) => r.status === 409)!.body.error.code, 'CONFLICT');
    const del = await api(f.h, 'DELETE', '/tags/twin', { token: admin });
    assert.equal(del.status, 200);
    assert.equal((await api(f.h, 'DELETE', '/tags/twin', { token: admin })).body.error.code, 'NOT_FOUND');
    const audit = await api<{ entries: Array<{ action: string; target: string }> }>(f.h, 'GET', '/audit?action=tag-delete', { token: admin });
    assert.deepEqual(audit.body.entries.map((e) => e.target), ['tag/twin']);
  });
});

describe('`aptfreeze manifest` on a chroot with a package no serial served', () => {
  it('refuses it, naming every such package', async () => {
    const root = join(f.dir, 'chroot-odd');
    await mkdir(join(root, 'var', 'lib', 'dpkg'), { recursive: true });
    const stanza = (p: string, v: string, a: string) => `Package: ${p}\nStatus: install ok installed\nArchitecture: ${a}\nVersion: ${v}\n`;
    await writeFile(join(root, 'var', 'lib', 'dpkg', 'status'), [stanza('hello', '2.10-3', 'amd64'), stanza('local-hack', '0.1', 'amd64'), stanza('bar', '0.0-1', 'amd64')].join('\n'));
    const r = await f.h.cli(['manifest', '--root', root, '--serial', `debian=${S1}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^aptfreeze: PACKAGES_MISSING: /);
    assert.match(r.stderr, /local-hack=0\.1\/amd64/);
    assert.match(r.stderr, /bar=0\.0-1\/amd64/);
    assert.doesNotMatch(r.stderr, /hello=/);
    assert.equal(r.stdout, '');
  });
});

describe('a restart after a tag creation was interrupted', () => {
  it('removes the unrecorded tree and the staging leftovers, and keeps the recorded tag', async () => {
    const tags = join(f.h.services.publisher.root, 'debian', 'tags');
    await mkdir(join(tags, 'ghost', 'dists', 'bookworm'), { recursive: true });
    await writeFile(join(tags, 'ghost', 'dists', 'bookworm', 'InRelease'), 'left by a crash');
    await mkdir(join(tags, '.staging-other-0123abcd', 'pool'), { recursive: true });
    assert.equal(await status(`${f.h.url}/debian/tags/ghost/dists/bookworm/InRelease`), 200);
    await f.h.reconfigure(() => {});
    assert.equal(existsSync(join(tags, 'ghost')), false);
    assert.equal(existsSync(join(tags, '.staging-other-0123abcd')), false);
    assert.equal(await status(`${f.h.url}/debian/tags/ghost/dists/bookworm/InRelease`), 404);
    assert.equal(await status(`${f.h.url}/debian/tags/tails-6.0/dists/bookworm/InRelease`), 200);
  });
});

describe('gc with tags present', () => {
  const helloDeb = () => f.build.debs.find((d) => d.name === 'hello' && d.version === '2.10-3')!;

  async function gc(): Promise<GcReport> {
    const r = await api<GcReport>(f.h, 'POST', '/gc?wait=1', { token: admin, body: {} });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.store.swept, true, r.body.store.skipped);
    return r.body;
  }

  it('keeps a blob only a tag uses after its serial is collected, and frees it after `tag delete`', async () => {
    const deb = helloDeb();
    // Upstream moves on: hello 2.10-3 is in no newer serial.
    await f.rebuild(fixtureSuites([{ name: 'hello', version: '2.10-4', arch: 'amd64' }, ...PACKAGES.filter((p) => p.name !== 'hello')], UPDATES));
    const S2 = (await f.snapshot('debian')).serial;
    const F2 = (await f.snapshot('filt')).serial;
    assert.notEqual(S2, S1);
    clock.advance(30 * DAY);
    const r1 = await gc();
    assert.deepEqual(r1.collected.map((c) => `${c.archive}/${c.serial}`).sort(), [`debian/${S1}`, `filt/${F1}`]);
    assert.equal(await status(`${f.h.url}/debian/${S1}/${deb.filename}`), 410);
    assert.ok(await f.h.services.store.has(deb.sha256), 'the tag keeps the blob');
    assert.equal(sha256(await tagFile('debian', 'tails-6.0', deb.filename)), deb.sha256);
    assert.equal(sha256(await tagFile('filt', 'tails-6.0', deb.filename)), deb.sha256);
    const apt = createAptClient(join(f.dir, 'apt-after-gc'), { sourcesLine: `deb [signed-by=${keyring}] ${f.h.url}/debian/tags/tails-6.0/ bookworm main`, checkDates: true });
    assert.equal((await apt.update()).code, 0);
    const dl = await apt.download('hello', join(f.dir, 'dl-after-gc'));
    assert.equal(dl.code, 0, dl.stderr);
    assert.equal(sha256(await readFile(dl.files[0]!)), deb.sha256);

    // fsck counts a tag's blobs as referenced, and its tree as no stray file.
    const fsckWithTag = await f.h.cli(['fsck', '--json']);
    assert.equal(fsckWithTag.code, 0, fsckWithTag.stdout + fsckWithTag.stderr);

    const del = await api(f.h, 'DELETE', '/tags/tails-6.0', { token: admin });
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.equal(await status(`${f.h.url}/debian/tags/tails-6.0/dists/bookworm/InRelease`), 404);
    assert.equal(existsSync(join(f.h.services.publisher.root, 'debian', 'tags', 'tails-6.0')), false);
    const r2 = await gc();
    assert.ok(r2.store.blobsRemoved > 0);
    assert.equal(await f.h.services.store.has(deb.sha256), false, 'freed once no tag lists it');
    // What the newer serials serve stays.
    assert.equal(await status(`${f.h.url}/debian/${S2}/dists/bookworm/InRelease`), 200);
    assert.equal(await status(`${f.h.url}/filt/${F2}/dists/bookworm/InRelease`), 200);
    const fsck = await f.h.cli(['fsck', '--json']);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  });
});
