// Shared pool trees that grow with each serial (publish/tree.ts), refs stored as deltas
// (snapshot/refs.ts), and gc pruning pool files no remaining serial lists (release/gc.ts):
// what a 1%-churn serial adds to the disk is the change, not the archive.
import { fsBlobFiles } from '../server/store/fs-links.ts';
import assert from 'node:assert/strict';
import { readFile, readdir, readlink, lstat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { churn, makePackages, type FixturePackage } from './helpers/upstream.ts';
import { DAY, api, fakeClock, notServed, setUp, snapshot, suite, token, type Fixture } from './helpers/release.ts';
import { openForFsck } from '../server/fsck/open.ts';
import { runFsck } from '../server/fsck/fsck.ts';
import { readManifest } from '../server/snapshot/manifest.ts';
import type { GcReport } from '../server/release/gc.ts';

const clock = fakeClock(new Date(Date.now() + 3600_000));
const day0 = clock.now().getTime();

let f: Fixture;
let rm: string;
let admin: string;
let pkgs: FixturePackage[] = makePackages(40);

const base = () => join(f.h.dataDir, 'public', 'debian');
const poolOf = async (serial: string) => readlink(join(base(), serial, 'pool'));

/** Every file under a directory, relative to it. */
async function filesUnder(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, r)));
    else out.push(r);
  }
  return out.sort();
}

async function poolPaths(serial: string): Promise<string[]> {
  const row = f.h.services.repo.getSerial('debian', serial)!;
  const m = await readManifest(f.h.services.store, row.manifest_sha256!);
  return m.tree.filter((l) => l.path.startsWith('pool/')).map((l) => l.path.slice(5)).sort();
}

async function latestSerial(): Promise<string> {
  return f.h.services.repo.latestSerial('debian')!;
}

async function fsckProblems(): Promise<string[]> {
  const ctx = openForFsck(f.h.dataDir);
  try {
    return (await runFsck(ctx)).problems.map((p) => `${p.kind} ${p.path ?? ''}`);
  } finally {
    ctx.close();
  }
}

before(async () => {
  f = await setUp(await tmpDir('af-pool-growth'), [suite(pkgs)], { config: { lifetime: '10d', keep: 1 }, now: clock.now });
  rm = token(f.h, 'release-manager');
  admin = token(f.h, 'admin');
});
after(async () => f?.close());

describe('pool trees shared and extended by serials', () => {
  let s1: string;
  let s2: string;
  let s3: string;
  let onlyS1: string[];

  it('a churn serial links only its new files into the previous serial\'s pool tree', async () => {
    s1 = await snapshot(f.h, rm);
    const before1 = await poolPaths(s1);
    pkgs = churn(pkgs, 0.1, 1);
    await f.publish([suite(pkgs)]);
    s2 = await snapshot(f.h, rm);
    const after2 = await poolPaths(s2);
    assert.equal(await poolOf(s2), await poolOf(s1), 'the same pool tree');
    assert.deepEqual((await readdir(join(base(), '.pools'))).length, 1, 'one pool tree');
    const tree = await filesUnder(join(base(), (await poolOf(s2)).replace('../', '')));
    assert.deepEqual(tree, [...new Set([...before1, ...after2])].sort(), 'the tree holds the union of both serials, nothing else');
    onlyS1 = before1.filter((p) => !after2.includes(p));
    assert.ok(onlyS1.length >= 3, `churn replaced some files (${onlyS1.length})`);
    assert.deepEqual(await notServed(f.h, 'debian', s1), []);
    assert.deepEqual(await notServed(f.h, 'debian', s2), []);
  });

  it('the manifest names refs blobs, and the churned index\'s refs are a delta on the previous ones', async () => {
    const row1 = f.h.services.repo.getSerial('debian', s1)!;
    const row2 = f.h.services.repo.getSerial('debian', s2)!;
    const m1 = await readManifest(f.h.services.store, row1.manifest_sha256!, { expand: false });
    const m2 = await readManifest(f.h.services.store, row2.manifest_sha256!, { expand: false });
    assert.deepEqual(m2.tree.filter((l) => l.path.startsWith('pool/')), [], 'no line per pool file');
    const head = (m: typeof m1) => m.extra.find((l) => l.path === '@refs/bookworm/main/binary-amd64/Packages')!;
    assert.ok(head(m1) && head(m2));
    const text = (await readFile(fsBlobFiles(f.h.services.store).fileOf(head(m2).sha256))).toString('utf8');
    const lines = text.split('\n');
    assert.equal(lines[0], 'aptfreeze-refs 2');
    assert.equal(lines[1], `base ${head(m1).sha256}`, 'a delta on the previous serial\'s refs');
    assert.equal(lines[2], 'depth 1');
    const changed = pkgs.length - (await poolPaths(s1)).filter((p) => !onlyS1.includes(p)).length;
    assert.equal(lines.filter((l) => l.startsWith('+')).length, changed, 'one + line per changed file');
    assert.equal(lines.filter((l) => l.startsWith('-')).length, onlyS1.length, 'one - line per file gone');
    assert.ok(m2.extra.some((l) => l.path.startsWith('@refs-chain/') && l.sha256 === head(m1).sha256), 'the base is kept referenced');
  });

  it('gc prunes from a shared tree the files only collected serials listed; fsck finds nothing', async () => {
    clock.set(new Date(day0 + 11 * DAY));
    const r = await api<GcReport>(f.h, 'POST', '/gc?wait=1', { token: admin, body: {} });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.collected.map((c) => c.serial), [s1]);
    assert.equal(r.body.store.poolFilesRemoved, onlyS1.length);
    const tree = await filesUnder(join(base(), (await poolOf(s2)).replace('../', '')));
    assert.deepEqual(tree, await poolPaths(s2), 'exactly the remaining serial\'s files');
    assert.deepEqual(await notServed(f.h, 'debian', s2), []);
    assert.deepEqual(await fsckProblems(), []);
  });

  it('an upstream that replaces a pool file in place gets a new pool tree; both serials keep their bytes', async () => {
    const victim = pkgs[0]!;
    // The fixture keeps a pool file it has written: remove it so that it is written with other bytes.
    const path = (await poolPaths(await latestSerial())).find((p) => p.includes(`/${victim.name}_`))!;
    const upstreamFile = (await filesUnder(join(f.work, 'upstream'))).find((p) => p.endsWith(`pool/${path}`))!;
    await unlink(join(f.work, 'upstream', upstreamFile));
    pkgs = [{ ...victim, payloadBytes: (victim.payloadBytes ?? 200) + 77 }, ...pkgs.slice(1)];
    await f.publish([suite(pkgs)]);
    s3 = await snapshot(f.h, rm);
    const changed = (await poolPaths(s3)).find((p) => p.includes(`/${victim.name}_`));
    assert.equal(changed, path, 'the same path');
    assert.notEqual(await poolOf(s3), await poolOf(s2), 'a new pool tree');
    assert.ok((await lstat(join(base(), (await poolOf(s3)).replace('../', '')))).isDirectory());
    assert.deepEqual(await notServed(f.h, 'debian', s2), [], 'the earlier serial serves its own bytes');
    assert.deepEqual(await notServed(f.h, 'debian', s3), [], 'the new serial serves the new bytes');
    assert.deepEqual(await fsckProblems(), []);
  });
});
