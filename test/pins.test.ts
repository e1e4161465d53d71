// Acceptance 6: the builder's pins end to end, against a running server (no data directory):
// freeze with --except, resolve to JSON, reproduce from that JSON after newer serials exist
// (same serials, same sources output), thaw, and check --min-valid failing on a serial that
// expires too soon or is gone. The sources file for the set is used by the real apt-get.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAptClient } from './helpers/apt.ts';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages } from './helpers/upstream.ts';
import { DAY, api, setUp, snapshot, suite, token, type Fixture } from './helpers/release.ts';
import { runCli } from './helpers/service.ts';

// The server's clock: the real one plus an offset the test moves (to let serials expire for gc).
let offset = 0;
const now = () => new Date(Date.now() + offset);

let f: Fixture;
let work: string;
let pinsDir: string;
let rm: string;
let admin: string;
const D: string[] = [];
const X: string[] = [];

/** The builder's side: the real bin, with no --config / --data (it has neither), only --server. */
function pins(args: string[]) {
  return runCli(['pins', ...args, '--dir', pinsDir, '--server', f.h.url], { cwd: work });
}
function builder(args: string[]) {
  return runCli(args, { cwd: work });
}

before(async () => {
  work = await tmpDir('af-pins');
  pinsDir = join(work, 'build-tree', 'pins');
  const pk = makePackages(4);
  f = await setUp(work, [suite(pk), suite([{ name: 'pkg1', version: '1.0-1+deb12u1', arch: 'amd64' }], { name: 'bookworm-security' })], {
    archives: { debian: ['bookworm'], 'debian-security': ['bookworm-security'] },
    config: { lifetime: '10d', keep: 1 },
    now,
  });
  rm = token(f.h, 'release-manager');
  admin = token(f.h, 'admin');
  D.push(await snapshot(f.h, rm, 'debian'));
  X.push(await snapshot(f.h, rm, 'debian-security'));
});

after(async () => {
  await f?.close();
});

describe("the builder's pins", () => {
  let resolvedFile: string;
  let sources1: string;

  it('freeze pins each archive to its latest serial, leaving --except at latest', async () => {
    const r = await pins(['freeze', '--except', 'debian-security']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `debian ${D[0]}\ndebian-security latest\n`);
    assert.equal(await readFile(join(pinsDir, 'debian', 'serial'), 'utf8'), `${D[0]}\n`);
    assert.equal(await readFile(join(pinsDir, 'debian-security', 'serial'), 'utf8'), 'latest\n');
    const show = await pins(['show']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^debian ${D[0]}  -> ${D[0]} live valid until \\S+\\ndebian-security latest  -> ${X[0]} live valid until \\S+\\n$`));
  });

  it('resolve prints the set as JSON with every latest turned into a serial', async () => {
    const r = await pins(['resolve']);
    assert.equal(r.code, 0, r.stderr);
    const set = JSON.parse(r.stdout);
    assert.equal(set.format, 'aptfreeze-pins/1');
    assert.equal(set.server, f.h.url);
    assert.deepEqual(set.archives, { debian: { pin: D[0], serial: D[0] }, 'debian-security': { pin: 'latest', serial: X[0] } });
    resolvedFile = join(work, 'build-1.resolved.json');
    await writeFile(resolvedFile, r.stdout);
  });

  it('sources --resolved prints one .sources file for the set, which apt-get uses as it is', async () => {
    const r = await builder(['sources', '--resolved', resolvedFile]);
    assert.equal(r.code, 0, r.stderr);
    sources1 = r.stdout;
    const stanzas = sources1.split('\n\n');
    assert.equal(stanzas.length, 2);
    assert.match(stanzas[0]!, new RegExp(`^X-Aptfreeze-Archive: debian\\nX-Aptfreeze-Serial: ${D[0]}\\nTypes: deb\\nURIs: ${f.h.url}/debian/${D[0]}/\\nSuites: bookworm\\nComponents: main\\nArchitectures: amd64\\nSigned-By:\\n -----BEGIN PGP PUBLIC KEY BLOCK-----\\n`));
    assert.match(stanzas[1]!, new RegExp(`URIs: ${f.h.url}/debian-security/${X[0]}/\\nSuites: bookworm-security\\n`));
    const client = createAptClient(join(work, 'apt'), { sourcesLine: '# the set is in sources.list.d' });
    await writeFile(join(client.dirs.workdir, 'etc', 'sources.list.d', 'build.sources'), sources1);
    const u = await client.update();
    assert.equal(u.code, 0, u.stderr);
    const p = await client.policy('pkg1');
    assert.match(p.stdout, /Candidate: 1\.0-1\+deb12u1/);
  });

  it('reproduces the same serials and the same sources from that JSON after newer serials exist', async () => {
    D.push(await snapshot(f.h, rm, 'debian'));
    X.push(await snapshot(f.h, rm, 'debian-security'));
    const again = await builder(['pins', 'resolve', '--from', resolvedFile]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, await readFile(resolvedFile, 'utf8'));
    const s = await builder(['sources', '--resolved', resolvedFile]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, sources1);
    // A fresh resolution follows latest where the pins say latest, and only there.
    const fresh = JSON.parse((await pins(['resolve'])).stdout);
    assert.deepEqual(fresh.archives, { debian: { pin: D[0], serial: D[0] }, 'debian-security': { pin: 'latest', serial: X[1] } });
    const sp = await builder(['sources', '--pins', pinsDir, '--server', f.h.url]);
    assert.equal(sp.code, 0, sp.stderr);
    assert.match(sp.stdout, new RegExp(`URIs: ${f.h.url}/debian/${D[0]}/\\n[\\s\\S]*URIs: ${f.h.url}/debian-security/latest/\\n`));
  });

  it('thaw pins every archive to latest', async () => {
    const r = await pins(['thaw']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'debian latest\ndebian-security latest\n');
    for (const a of ['debian', 'debian-security']) assert.equal(await readFile(join(pinsDir, a, 'serial'), 'utf8'), 'latest\n');
  });

  it('check --min-valid fails naming each pinned serial that expires too soon, and passes once the window fits', async () => {
    assert.equal((await pins(['freeze', '--except', 'debian-security'])).code, 0);
    const fr = await f.h.cli(['freeze', 'debian', D[1]!, '--until', '90d', '--reason', 'release 3.0']);
    assert.equal(fr.code, 0, fr.stderr);
    const bad = await pins(['check', '--min-valid', '30d']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout, new RegExp(`^ok   debian ${D[1]} frozen valid until \\S+\\nFAIL debian-security latest=${X[1]} live valid until \\S+: expires \\S+\\n$`));
    assert.equal(bad.stderr.split('\n').filter(Boolean).length, 1);
    assert.match(bad.stderr, new RegExp(`^aptfreeze: VERIFY_FAILED: 1 of 2 pins not valid for 30d: debian-security ${X[1]} \\(expires \\S+\\)\\n$`));
    const ok = await pins(['check', '--min-valid', '5d']);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('check and resolve --from fail naming a pinned serial that was collected or never existed', async () => {
    offset = 20 * DAY; // the server's clock: D0 and X0 expired long ago; D1 frozen; X1 latest
    const gc = await api(f.h, 'POST', '/gc?wait=1', { token: admin });
    assert.deepEqual(gc.body.collected.map((c: { serial: string }) => c.serial).sort(), [D[0], X[0]].sort());
    const rep = await builder(['pins', 'resolve', '--from', resolvedFile]);
    assert.notEqual(rep.code, 0);
    assert.match(rep.stderr, /^aptfreeze: GONE: /);
    const fromSet = await builder(['pins', 'check', '--from', resolvedFile, '--min-valid', '1d']);
    assert.notEqual(fromSet.code, 0);
    assert.match(fromSet.stderr, new RegExp(`debian ${D[0]} \\(gone \\(collected\\)\\), debian-security ${X[0]} \\(gone \\(collected\\)\\)`));
    await writeFile(join(pinsDir, 'debian-security', 'serial'), '2001010101\n');
    const unknown = await pins(['check', '--min-valid', '1d']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /1 of 2 pins not valid for 1d: debian-security 2001010101 \(unknown serial\)/);
  });

  it('refuses a malformed pin file or resolved set with BAD_REQUEST', async () => {
    await writeFile(join(pinsDir, 'debian-security', 'serial'), 'yesterday\n');
    assert.match((await pins(['show'])).stderr, /^aptfreeze: BAD_REQUEST: /);
    const junk = join(work, 'junk.json');
    await writeFile(junk, JSON.stringify({ format: 'aptfreeze-pins/1', server: f.h.url, resolvedAt: 'x', archives: {} }));
    assert.match((await builder(['pins', 'resolve', '--from', junk])).stderr, /^aptfreeze: BAD_REQUEST: /);
  });
});
