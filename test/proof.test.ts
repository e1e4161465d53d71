// Acceptance 1 and 2 of the provenance issue: the proof package of a snapshot is a real Debian
// package (dpkg-deb, dpkg -i, apt-get install from the aptfreeze-proof component) holding exactly
// what upstream served, and it is reproducible.
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { createAptClient } from './helpers/apt.ts';
import { sha256File, tmpDir } from './helpers/gpg.ts';
import { dpkgInstall, getBytes, proofFixture, run, FILTER, type ProofFixture } from './helpers/proof-fixture.ts';
import { rebuildProofDeb } from '../server/proof/build.ts';
import { readManifest } from '../server/snapshot/manifest.ts';
import type { ProofManifest } from '../server/proof/manifest.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out.sort();
}

describe('the proof package of a snapshot', () => {
  let f: ProofFixture;
  let serial: string;
  let fserial: string;
  let proofPath: string;
  let proof: Buffer;

  before(async () => {
    f = await proofFixture('af-proof');
    serial = (await f.snapshot('debian')).serial;
    fserial = (await f.snapshot('filt')).serial;
    proof = await getBytes(`${f.h.url}/debian/${serial}/proof.deb`);
    proofPath = path.join(f.dir, 'proof.deb');
    await writeFile(proofPath, proof);
  });
  after(() => f?.close());

  it('is a Debian binary package named aptfreeze-proof-<archive>, version <serial>, architecture all', async () => {
    const info = await run('dpkg-deb', ['--info', proofPath]);
    assert.equal(info.code, 0, info.stderr);
    const field = (name: string) => new RegExp(`^ ${name}: (.*)$`, 'm').exec(info.stdout)?.[1];
    assert.equal(field('Package'), 'aptfreeze-proof-debian');
    assert.equal(field('Version'), serial);
    assert.equal(field('Architecture'), 'all');
    const contents = await run('dpkg-deb', ['--contents', proofPath]);
    assert.equal(contents.code, 0, contents.stderr);
    assert.match(contents.stdout, new RegExp(`\\./usr/share/aptfreeze/proofs/debian/${serial}/manifest\\.json$`, 'm'));
    // Owned by root, as dpkg-deb --root-owner-group builds.
    for (const line of contents.stdout.trim().split('\n')) assert.match(line, /^\S+ root\/root /);
  });

  it('installs with dpkg -i into a throwaway root, and its files are what upstream served', async () => {
    const root = await tmpDir('af-proof-root');
    const r = await dpkgInstall(root, [proofPath]);
    assert.equal(r.code, 0, r.stderr);
    const dir = path.join(root, 'usr/share/aptfreeze/proofs/debian', serial);
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as ProofManifest;
    assert.equal(manifest.archive, 'debian');
    assert.equal(manifest.serial, serial);
    assert.equal(manifest.upstreamUrl, f.up.url);
    assert.deepEqual(manifest.suites.map((s) => s.suite), ['bookworm', 'bookworm/updates']);
    for (const s of manifest.suites) {
      assert.deepEqual(s.signers, [f.key.fingerprint]);
      assert.ok(!Number.isNaN(Date.parse(s.fetchedAt)));
    }
    // Every upstream file in the proof is upstream's, byte for byte (sha256 of the file upstream served).
    const files = await walk(dir);
    let compared = 0;
    for (const file of files) {
      const rel = path.relative(dir, file);
      if (!rel.startsWith('dists/')) continue;
      assert.equal(await sha256File(file), await sha256File(path.join(f.build.root, rel)), rel);
      compared++;
    }
    // Per suite: the signed Release as fetched (InRelease for bookworm; Release + Release.gpg for the detached-only suite) ...
    for (const p of ['dists/bookworm/InRelease', 'dists/bookworm/updates/Release', 'dists/bookworm/updates/Release.gpg']) {
      assert.ok(files.includes(path.join(dir, p)), `${p} is in the proof`);
    }
    assert.equal(manifest.suites.find((s) => s.suite === 'bookworm/updates')!.form, 'detached');
    // ... and one file of every index mirrored (Packages of each architecture, Sources, Translation), listed with upstream's hash.
    const bookworm = manifest.suites.find((s) => s.suite === 'bookworm')!;
    const inProof = bookworm.indices.filter((i) => i.inProof).map((i) => i.path.replace(/\.(gz|xz)$/, '')).sort();
    assert.deepEqual(inProof, ['main/binary-all/Packages', 'main/binary-amd64/Packages', 'main/i18n/Translation-en', 'main/source/Sources']);
    for (const s of manifest.suites) {
      for (const i of s.indices) {
        const up = f.build.indexFiles.find((x) => x.suite === s.suite && x.path === i.path);
        assert.ok(up, `${s.suite}/${i.path} is an upstream file`);
        assert.deepEqual([i.sha256, i.size, i.served], [up.sha256, up.size, 'verbatim']);
      }
    }
    assert.ok(compared >= 7, `compared ${compared} files`);
    // The keyring the snapshot used.
    assert.equal(await sha256File(path.join(dir, 'keyring.gpg')), await sha256File(f.key.keyringPath));
    // dpkg recorded it as installed.
    const status = await readFile(path.join(root, 'var/lib/dpkg/status'), 'utf8');
    assert.match(status, new RegExp(`Package: aptfreeze-proof-debian\\nStatus: install ok installed[\\s\\S]*Version: ${serial}`));
  });

  it("installs with apt-get from the snapshot's aptfreeze-proof component", async () => {
    const work = await tmpDir('af-proof-apt');
    const keyring = path.join(work, 'aptfreeze.gpg');
    await writeFile(keyring, await getBytes(`${f.h.url}/keys/aptfreeze.gpg`));
    const apt = createAptClient(work, { sourcesLine: `deb [signed-by=${keyring}] ${f.h.url}/debian/${serial}/ bookworm aptfreeze-proof` });
    const u = await apt.update();
    assert.equal(u.code, 0, u.stderr);
    const root = path.join(work, 'root');
    const r = await apt.install(['aptfreeze-proof-debian'], root);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const installed = await readFile(path.join(root, 'usr/share/aptfreeze/proofs/debian', serial, 'manifest.json'));
    const fromDeb = await run('sh', ['-c', `dpkg-deb --fsys-tarfile '${proofPath}' | tar -xO ./usr/share/aptfreeze/proofs/debian/${serial}/manifest.json | sha256sum`]);
    assert.equal(sha256(installed), fromDeb.stdout.split(' ')[0]);
  });

  it('of a filtered archive holds the full upstream index and the served copy of each filtered index', async () => {
    const fproof = path.join(f.dir, 'fproof.deb');
    await writeFile(fproof, await getBytes(`${f.h.url}/filt/${fserial}/proof.deb`));
    const root = await tmpDir('af-proof-froot');
    const r = await dpkgInstall(root, [fproof]);
    assert.equal(r.code, 0, r.stderr);
    const dir = path.join(root, 'usr/share/aptfreeze/proofs/filt', fserial);
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as ProofManifest;
    const bookworm = manifest.suites.find((s) => s.suite === 'bookworm')!;
    const amd64 = bookworm.indices.filter((i) => i.path.startsWith('main/binary-amd64/Packages'));
    assert.ok(amd64.every((i) => i.served === 'filtered' && i.servedSha256));
    const full = amd64.find((i) => i.inProof)!;
    const served = amd64.find((i) => i.servedInProof)!;
    // The full upstream index, as upstream served it ...
    assert.equal(await sha256File(path.join(dir, 'dists/bookworm', full.path)), await sha256File(path.join(f.build.root, 'dists/bookworm', full.path)));
    // ... and the filtered copy, as the snapshot serves it (its hash listed in our signed Release).
    const servedFile = path.join(dir, 'served/dists/bookworm', served.path);
    assert.equal(await sha256File(servedFile), served.servedSha256);
    assert.equal(sha256(await getBytes(`${f.h.url}/filt/${fserial}/dists/bookworm/${served.path}`)), served.servedSha256);
    const text = (await run('sh', ['-c', `${served.path.endsWith('.xz') ? 'xz -dc' : served.path.endsWith('.gz') ? 'gzip -dc' : 'cat'} '${servedFile}'`])).stdout;
    const names = [...text.matchAll(/^Package: (.*)$/gm)].map((m) => m[1]).sort();
    // Arch-all hello-doc is listed in binary-amd64 too, as upstream lists it.
    assert.deepEqual([...new Set(names)].sort(), [...FILTER].sort());
  });

  it('is built again byte for byte from the same snapshot', async () => {
    const s = f.h.services;
    const row = s.repo.getSerial('debian', serial)!;
    const m = await readManifest(s.store, row.manifest_sha256!);
    const proofManifest = m.extra.find((e) => e.path === '@proof-manifest')!;
    const again = await rebuildProofDeb(s.store, proofManifest.sha256);
    const third = await rebuildProofDeb(s.store, proofManifest.sha256);
    assert.equal(sha256(again), sha256(proof));
    assert.ok(again.equals(third));
    // The published tree links the same bytes, and the aptfreeze-proof index lists them.
    assert.equal(await sha256File(path.join(s.publisher.serialDir('debian', serial), 'proof.deb')), sha256(proof));
    const packages = (await getBytes(`${f.h.url}/debian/${serial}/dists/bookworm/aptfreeze-proof/binary-amd64/Packages`)).toString('utf8');
    assert.match(packages, new RegExp(`^SHA256: ${sha256(proof)}$`, 'm'));
    assert.match(packages, new RegExp(`^Size: ${proof.length}$`, 'm'));
  });
});
