// Acceptance 1 of the tags issue: a build rebuilt byte for byte from its tag, years later.
// mmdebstrap (SOURCE_DATE_EPOCH set, only the service key trusted) builds tarball T1 from a
// serial; `aptfreeze manifest --root` on T1's chroot writes the build manifest (from the server,
// as a builder does, and from the data directory: the same text); `aptfreeze tag create` makes
// the tag; the serial is frozen, thawed, superseded and collected by gc; mmdebstrap with the
// same options from the tag builds T2; sha256(T1) = sha256(T2); and `aptfreeze verify --proof`
// of the tag's proof package verifies every .deb of T2 back to the upstream signature.
//
// mmdebstrap runs as root in CI: `--mode=chrootless` (dpkg --root from outside; `unshare` needs
// user namespaces, `root` a chroot with a shell) with `--variant=custom`, which installs what
// --include names with dpkg, so the chroot has a dpkg status to read (`extract` leaves it empty).
// `--skip=essential/unlink` and a `sync-out` hook keep the .debs (PITFALLS.md); the sources
// list, whose URL differs between the two builds, is removed from the tarball by a hook.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir, sha256File } from './helpers/gpg.ts';
import type { FixturePackage } from './helpers/upstream.ts';
import { DAY, api, fakeClock, serviceKeyring, setUp, snapshot, suite, token, type Fixture } from './helpers/release.ts';

const PKGS: FixturePackage[] = [
  { name: 'hello', version: '2.10-3', arch: 'amd64' },
  { name: 'hello-doc', version: '2.10-3', arch: 'all', source: 'hello' },
  { name: 'libfoo1', version: '1:1.2-1', arch: 'amd64', source: 'foo' },
  { name: 'foo-utils', version: '1:1.2-1', arch: 'amd64', source: 'foo', depends: 'libfoo1 (= 1:1.2-1)' },
  { name: 'bar', version: '0.9-2', arch: 'amd64' },
];

const clock = fakeClock(new Date());
let f: Fixture;
let work: string;
let keyring: string;

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C', ...env }, timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** One build: the same options every time, only the repository URL differs. */
async function build(url: string, tarball: string, debs: string): Promise<void> {
  await mkdir(debs, { recursive: true });
  const r = await run(
    'mmdebstrap',
    [
      '--variant=custom',
      '--mode=chrootless',
      '--include=hello,hello-doc,foo-utils',
      '--architectures=amd64',
      '--keyring=/dev/null',
      '--skip=essential/unlink',
      `--customize-hook=sync-out /var/cache/apt/archives ${debs}`,
      '--customize-hook=rm "$1"/etc/apt/sources.list',
      'bookworm',
      tarball,
      `deb [signed-by=${keyring}] ${url} bookworm main`,
    ],
    { SOURCE_DATE_EPOCH: '1700000000' },
  );
  assert.equal(r.code, 0, `mmdebstrap: ${r.stderr}`);
}

async function debsIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.deb')).sort().map((n) => join(dir, n));
}

before(async () => {
  work = await tmpDir('af-tag-rebuild');
  f = await setUp(work, [suite(PKGS)], { config: { keep: 1, lifetime: '10d' }, now: clock.now });
  // apt verifies signatures as the _apt user: the keyring must be readable by it.
  await chmod(work, 0o755);
  keyring = await serviceKeyring(f.h, join(work, 'aptfreeze.gpg'));
  await chmod(keyring, 0o644);
});

after(async () => {
  await f?.close();
});

describe('a release rebuilt from its tag after its serial was collected', () => {
  it('gives the same tarball, and its packages verify against the tag\'s proof', async () => {
    const rm = token(f.h, 'release-manager');
    const admin = token(f.h, 'admin');
    const S1 = await snapshot(f.h, rm);

    const t1 = join(work, 'T1.tar');
    await build(`${f.h.url}/debian/${S1}/`, t1, join(work, 'debs1'));
    const chroot = join(work, 'chroot1');
    await mkdir(chroot);
    const x = await run('tar', ['-C', chroot, '--exclude=./dev/*', '-xf', t1]);
    assert.equal(x.code, 0, x.stderr);

    // The builder's way: pins and the server. And the service host's way: the data directory.
    const pins = join(work, 'pins');
    await mkdir(join(pins, 'debian'), { recursive: true });
    await writeFile(join(pins, 'debian', 'serial'), 'latest\n');
    const manifestFile = join(work, 'manifest.yaml');
    const m1 = await f.h.cli(['manifest', '--root', chroot, '--pins', pins, '--server', f.h.url, '--output', manifestFile]);
    assert.equal(m1.code, 0, m1.stderr);
    const m2 = await f.h.cli(['manifest', '--root', chroot, '--serial', `debian=${S1}`]);
    assert.equal(m2.code, 0, m2.stderr);
    const manifest = await readFile(manifestFile, 'utf8');
    assert.equal(m2.stdout, manifest);
    assert.match(manifest, new RegExp(`reference: '${S1}'`));
    assert.match(manifest, /package: 'libfoo1'\n {4}version: '1:1\.2-1'\n {4}arch: 'amd64'/);
    assert.match(manifest, /source:\n {2}- package: 'foo'\n {4}version: '1:1\.2-1'\n {2}- package: 'hello'/);
    assert.doesNotMatch(manifest, /'bar'/);

    const created = await f.h.cli(['tag', 'create', 'release-1.0', '--manifest', manifestFile, '--json']);
    assert.equal(created.code, 0, created.stderr);
    assert.deepEqual((JSON.parse(created.stdout) as { archives: Array<{ serial: string; binaries: number }> }).archives.map((a) => [a.serial, a.binaries]), [[S1, 4]]);

    // The release is over: the serial is thawed, upstream moves on, gc collects the serial.
    const until = new Date(clock.now().getTime() + 5 * DAY).toISOString();
    assert.equal((await api(f.h, 'POST', `/archives/debian/serials/${S1}/freeze`, { token: rm, body: { until, reason: 'release 1.0' } })).status, 200);
    assert.equal((await api(f.h, 'POST', `/archives/debian/serials/${S1}/thaw`, { token: rm })).status, 200);
    await f.publish([suite([...PKGS.filter((p) => p.name !== 'hello'), { name: 'hello', version: '2.10-4', arch: 'amd64' }])]);
    const S2 = await snapshot(f.h, rm);
    clock.advance(30 * DAY);
    const gc = await api(f.h, 'POST', '/gc?wait=1', { token: admin, body: {} });
    assert.equal(gc.status, 200);
    assert.deepEqual(gc.body.collected.map((c: { serial: string }) => c.serial), [S1]);
    assert.equal(gc.body.store.swept, true);
    assert.equal((await fetch(`${f.h.url}/debian/${S1}/dists/bookworm/InRelease`)).status, 410);
    assert.notEqual(S2, S1);

    const t2 = join(work, 'T2.tar');
    await build(`${f.h.url}/debian/tags/release-1.0/`, t2, join(work, 'debs2'));
    assert.equal(await sha256File(t2), await sha256File(t1), 'T2 is T1 byte for byte');

    const debs = await debsIn(join(work, 'debs2'));
    assert.deepEqual(debs.map((d) => d.split('/').pop()!.split('_')[0]).sort(), ['foo-utils', 'hello', 'hello-doc', 'libfoo1']);
    const proof = join(work, 'tag-proof.deb');
    const res = await fetch(`${f.h.url}/debian/tags/release-1.0/proof.deb`);
    assert.equal(res.status, 200);
    await writeFile(proof, new Uint8Array(await res.arrayBuffer()));
    const v = await f.h.cli(['verify', '--proof', proof, '--keyring', f.key.keyringPath, ...debs]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });
});
