// Issue 6 acceptance 2 (the checker): `aptfreeze fsck` checks the published tree, the store and
// the database against each other, and `--repair` removes only what no serial references and
// finishes half-done steps. Each damage below is made by hand, found by its kind, and repaired
// (or, where no whole copy exists, reported and left).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, readlink, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createUpstreamKey, buildUpstream, makePackages, churn, type UpstreamKey, type FixturePackage, type UpstreamBuild } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { openForFsck } from '../server/fsck/open.ts';
import { runFsck } from '../server/fsck/fsck.ts';
import type { FsckReport } from '../server/fsck/report.ts';
import { parseRelease } from '../server/debian/release.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('aptfreeze fsck', () => {
  let dir: string;
  let key: UpstreamKey;
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let pkgs: FixturePackage[];
  let build: UpstreamBuild;
  let s1: string;
  let s2: string;
  const tree = (...p: string[]) => join(svc.dataDir, 'public', 'debian', ...p);

  /** fsck in-process (the same code the CLI runs), on the data directory as it is. */
  async function fsck(repair = false): Promise<FsckReport> {
    const ctx = openForFsck(svc.dataDir);
    try {
      return await runFsck(ctx, { repair });
    } finally {
      ctx.close();
    }
  }
  const kinds = (r: FsckReport) => [...new Set(r.problems.map((p) => p.kind))].sort();

  before(async () => {
    dir = await tmpDir('af-fsck');
    key = await createUpstreamKey(join(dir, 'keys'));
    pkgs = makePackages(6);
    const suite = () => [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs }];
    await buildUpstream(join(dir, 'up'), suite(), key);
    up = await serveUpstream(join(dir, 'up'));
    svc = await startService(join(dir, 'svc'), {
      archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
    });
    const r1 = await svc.cli(['snapshot', 'debian', '--json']);
    assert.equal(r1.code, 0, r1.stderr);
    s1 = JSON.parse(r1.stdout)[0].serial;
    pkgs = churn(pkgs, 0.5, 7);
    build = await buildUpstream(join(dir, 'up'), suite(), key);
    const r2 = await svc.cli(['snapshot', 'debian', '--json']);
    assert.equal(r2.code, 0, r2.stderr);
    s2 = JSON.parse(r2.stdout)[0].serial;
  });
  after(async () => {
    await svc?.close();
    await up?.close();
  });

  it('reports a fresh data directory consistent, with no leftovers (CLI, exit 0)', async () => {
    const r = await svc.cli(['fsck']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^consistent: 1 archives, 2 serials, \d+ published files, \d+ blobs .*0 errors, 0 leftovers/m);
    const j = await svc.cli(['fsck', '--json']);
    const report = JSON.parse(j.stdout) as FsckReport;
    assert.equal(report.ok, true);
    assert.deepEqual(report.problems, []);
    assert.ok(report.checked.files > 10 && report.checked.blobs > 10);
  });

  it('detects a published file corrupted in place (it and its store blob), exits non-zero with one line, and cannot repair it', async () => {
    const deb = build.debs[0]!;
    const p = tree(s2, deb.filename);
    const good = await readFile(p);
    const bad = Buffer.from(good);
    bad[bad.length >> 1] ^= 0x20;
    await writeFile(p, bad); // same inode: the store blob is corrupted with it
    try {
      const r = await svc.cli(['fsck']);
      assert.notEqual(r.code, 0);
      const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('aptfreeze:'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^aptfreeze: VERIFY_FAILED: /);
      assert.match(r.stdout, /^error +corrupt-file +public\/debian\/.*\.deb: /m);
      const rep = await fsck(true);
      assert.ok(kinds(rep).includes('corrupt-file') && kinds(rep).includes('corrupt-blob'), kinds(rep).join());
      assert.equal(rep.ok, false, 'no whole copy: left for the operator');
    } finally {
      await writeFile(p, good);
    }
    assert.equal((await fsck()).ok, true);
  });

  it('relinks a published file replaced by a wrong copy, or deleted, from its store blob (--repair)', async () => {
    const deb = build.debs[1]!;
    const p = tree(s2, deb.filename);
    const good = await readFile(p);
    await unlink(p);
    await writeFile(p, Buffer.concat([good, Buffer.from('x')])); // a new inode, wrong bytes
    const index = tree(s1, 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages.xz');
    await unlink(index);
    const found = await fsck();
    assert.deepEqual(kinds(found), ['corrupt-file', 'missing-file']);
    const rep = await svc.cli(['fsck', '--repair', '--json']);
    assert.equal(rep.code, 0, rep.stderr);
    const report = JSON.parse(rep.stdout) as FsckReport;
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.repaired.map((x) => x.kind).sort(), ['corrupt-file', 'missing-file']);
    assert.equal(sha(await readFile(p)), deb.sha256);
    assert.ok(existsSync(index));
  });

  it('finds a tampered InRelease and re-signs the suite from the text our signature still covers (--repair)', async () => {
    const p = tree(s1, 'dists', 'bookworm', 'InRelease');
    const good = await readFile(p, 'utf8');
    await writeFile(p, good.replace(/^Origin: .*$/m, 'Origin: Evil'));
    assert.deepEqual(kinds(await fsck()), ['bad-signature']);
    const rep = await fsck(true);
    assert.deepEqual(rep.problems, []);
    assert.deepEqual(rep.repaired.map((x) => x.kind), ['bad-signature']);
    assert.doesNotMatch(await readFile(p, 'utf8'), /Evil/);
  });

  it("finds a Release whose Valid-Until is not the database's (an interrupted freeze) and re-signs it with the database's", async () => {
    const until = new Date(Date.now() + 40 * 86_400_000);
    until.setUTCMilliseconds(0);
    svc.services.db.prepare('UPDATE serials SET valid_until = ? WHERE archive = ? AND serial = ?').run(until.toISOString(), 'debian', s1);
    assert.deepEqual(kinds(await fsck()), ['valid-until']);
    const rep = await fsck(true);
    assert.deepEqual(rep.problems, [], JSON.stringify(rep.problems));
    for (const f of ['Release', 'InRelease']) {
      assert.equal(parseRelease((await readFile(tree(s1, 'dists', 'bookworm', f), 'utf8')).replace(/^-----BEGIN PGP SIGNED MESSAGE-----\n(?:.+\n)*\n|\n-----BEGIN PGP SIGNATURE-----[\s\S]*$/g, '')).validUntil?.getTime(), until.getTime(), f);
    }
  });

  it('points latest and the trace file back at the newest published serial (--repair)', async () => {
    const link = tree('latest');
    await rm(link);
    await symlink(s1, link);
    await writeFile(tree('project', 'trace', 'debian'), `Archive serial: ${s1}\n`);
    assert.deepEqual(kinds(await fsck()), ['latest', 'trace']);
    const rep = await fsck(true);
    assert.deepEqual(rep.problems, []);
    assert.equal(await readlink(link), s2);
    assert.match(await readFile(tree('project', 'trace', 'debian'), 'utf8'), new RegExp(`^Archive serial: ${s2}$`, 'm'));
  });

  it('finds a symlink out of the tree and a stray file in a published serial, and removes them (--repair)', async () => {
    await symlink('/etc/passwd', tree(s2, 'dists', 'bookworm', 'evil'));
    await writeFile(tree(s2, 'dists', 'bookworm', 'InRelease.tmp-0badc0de'), 'half-written');
    assert.deepEqual(kinds(await fsck()), ['temp-file', 'unexpected-file']);
    const rep = await fsck(true);
    assert.deepEqual(rep.problems, []);
    assert.ok(!existsSync(tree(s2, 'dists', 'bookworm', 'evil')));
  });

  it('reports leftovers of an interrupted run without calling the state inconsistent, and removes only them (--repair)', async () => {
    const db = svc.services.db;
    const pending = String(Number(s2) + 1);
    db.prepare("INSERT INTO serials (archive, serial, state, created_at) VALUES ('debian', ?, 'pending', ?)").run(pending, new Date().toISOString());
    await mkdir(tree(pending, 'dists'), { recursive: true });
    await mkdir(tree(`.staging-${pending}-dead`, 'pool'), { recursive: true });
    await mkdir(tree('.pools', 'f'.repeat(32)), { recursive: true });
    await writeFile(join(svc.dataDir, 'store', 'tmp', '999999-0123456789abcdef.part'), 'partial');
    const orphan = Buffer.from('a blob no serial references\n');
    const orphanPath = join(svc.dataDir, 'store', 'sha256', sha(orphan).slice(0, 2), sha(orphan));
    await mkdir(join(orphanPath, '..'), { recursive: true });
    await writeFile(orphanPath, orphan);
    const found = await fsck();
    assert.equal(found.ok, true, 'leftovers alone are consistent');
    assert.deepEqual(kinds(found), ['partial-file', 'pending-serial', 'staging', 'unpublished-serial-dir', 'unreferenced-blob', 'unused-pool']);
    assert.ok(found.problems.every((p) => p.severity === 'leftover'));
    const before = await publishedHashes();
    const rep = await fsck(true);
    assert.deepEqual(rep.problems, []);
    assert.equal(svc.services.repo.getSerial('debian', pending)?.state, 'failed');
    assert.ok(!existsSync(orphanPath) && !existsSync(tree(pending)) && !existsSync(tree(`.staging-${pending}-dead`)));
    assert.deepEqual(await publishedHashes(), before, 'every published file kept');
  });

  it('finds a private key readable by others and a wrong served public key, and fixes both (--repair)', async () => {
    const priv = join(svc.dataDir, 'keys', 'private.asc');
    await chmod(priv, 0o644);
    const served = join(svc.dataDir, 'public', 'keys', 'aptfreeze.asc');
    const good = await readFile(served);
    await writeFile(served, (await readFile(key.armoredKeyringPath)));
    assert.deepEqual(kinds(await fsck()), ['key-mode', 'public-key']);
    const rep = await fsck(true);
    assert.deepEqual(rep.problems, []);
    assert.equal((await stat(priv)).mode & 0o777, 0o600);
    assert.deepEqual(await readFile(served), good);
  });

  it('is consistent after all the repairs, and the next snapshot succeeds', async () => {
    assert.deepEqual((await fsck()).problems, []);
    pkgs = churn(pkgs, 0.3, 8);
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs }], key);
    const r = await svc.cli(['snapshot', 'debian']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await fsck()).problems, []);
  });

  /** sha256 of every file under the published serials (through the pool symlinks). */
  async function publishedHashes(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const walk = async (d: string, rel: string) => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory() || (e.isSymbolicLink() && e.name === 'pool')) await walk(p, `${rel}/${e.name}`);
        else if (e.isFile()) out[`${rel}/${e.name}`] = sha(await readFile(p));
      }
    };
    for (const s of [s1, s2]) await walk(tree(s), s);
    return out;
  }
});
