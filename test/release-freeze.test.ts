// Acceptance 2: freeze and thaw touch only the serial's Release, InRelease and Release.gpg
// (every other file of the published tree and of the store keeps its inode and mtime), and the
// CLI verbs freeze / thaw work on a suite name with a slash.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages } from './helpers/upstream.ts';
import { fileStats, setUp, snapshot, suite, token, type Fixture } from './helpers/release.ts';

let f: Fixture;
let serials: string[];

before(async () => {
  const work = await tmpDir('af-freeze');
  const pk = makePackages(5);
  f = await setUp(work, [suite(pk), suite(pk.slice(0, 2), { name: 'bookworm/updates', codename: 'bookworm' })]);
  const rm = token(f.h, 'release-manager');
  serials = [await snapshot(f.h, rm), await snapshot(f.h, rm)];
});

after(async () => {
  await f?.close();
});

const signed = (serial: string) =>
  new Set(['bookworm', 'bookworm/updates'].flatMap((s) => ['Release', 'InRelease', 'Release.gpg'].map((n) => `debian/${serial}/dists/${s}/${n}`)));

/** What changed between two snapshots of (inode, mtime) by path. */
function changed(a: Map<string, { ino: number; mtimeMs: number }>, b: Map<string, { ino: number; mtimeMs: number }>): string[] {
  const out: string[] = [];
  for (const [p, x] of a) {
    const y = b.get(p);
    if (!y || y.ino !== x.ino || y.mtimeMs !== x.mtimeMs) out.push(p);
  }
  for (const p of b.keys()) if (!a.has(p)) out.push(p);
  return out.sort();
}

describe('freezing and thawing a serial', () => {
  it('replaces exactly its Release, InRelease and Release.gpg of each suite, and nothing else in the tree or the store', async () => {
    const pub = f.h.services.publisher.root;
    const store = join(f.h.dataDir, 'store');
    const target = serials[0]!;
    const expected = [...signed(target)].sort();
    let treeBefore = await fileStats(pub);
    let storeBefore = await fileStats(store);
    assert.ok(treeBefore.size > 40, 'the tree holds pool files, indices, by-hash copies');

    for (const args of [
      ['freeze', 'debian', target, '--until', '2099-12-31', '--reason', 'release 2.0'],
      ['freeze', 'debian', target, '--until', '120d', '--reason', 'release 2.0, moved'],
      ['thaw', 'debian', target],
    ]) {
      const r = await f.h.cli(args);
      assert.equal(r.code, 0, r.stderr);
      const treeAfter = await fileStats(pub);
      assert.deepEqual(changed(treeBefore, treeAfter), expected, `${args[0]}: only the signed files change`);
      assert.deepEqual(changed(storeBefore, await fileStats(store)), [], `${args[0]}: the store is untouched`);
      treeBefore = treeAfter;
      storeBefore = await fileStats(store);
    }
  });

  it('prints what it did and records it in the audit log with the state before and after', async () => {
    const target = serials[1]!;
    const r = await f.h.cli(['freeze', 'debian', target, '--until', '2099-01-01T00:00:00Z', '--reason', 'rc1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^debian/${target} frozen until 2099-01-01T00:00:00.000Z by cli:\\S+: rc1 \\(2 suites re-signed in \\d+ ms\\)\\n$`));
    const audit = await f.h.cli(['audit', '--json', '--target', `debian/${target}`, '--action', 'freeze']);
    const [e] = JSON.parse(audit.stdout) as Array<{ actor: string; action: string; before: { state: string }; after: { state: string; frozen: { reason: string } } }>;
    assert.ok(e);
    assert.match(e.actor, /^cli:/);
    assert.equal(e.before.state, 'live');
    assert.equal(e.after.state, 'frozen');
    assert.equal(e.after.frozen.reason, 'rc1');
  });

  it('exits non-zero with one line naming the code for a bad date, an unknown serial, or a thaw of a live serial', async () => {
    const cases: Array<[string[], string]> = [
      [['freeze', 'debian', serials[0]!, '--until', 'next week', '--reason', 'x'], 'BAD_REQUEST'],
      [['freeze', 'debian', '1999010101', '--until', '2099-01-01', '--reason', 'x'], 'NOT_FOUND'],
      [['thaw', 'debian', serials[0]!], 'CONFLICT'],
    ];
    for (const [args, code] of cases) {
      const r = await f.h.cli(args);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^aptfreeze: ${code}: `));
    }
  });
});
