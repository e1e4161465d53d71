// Acceptance 3 and 4 of the provenance issue: `aptfreeze verify --proof` checks every package of a
// snapshot back to the upstream signature with the auditor's keyring, and names the first broken
// link when a package, the proof or the keyring is not what it should be. Plus the time report.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync, gunzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { tmpDir } from './helpers/gpg.ts';
import { buildUpstream, createUpstreamKey, makePackages, type UpstreamBuild, type UpstreamKey } from './helpers/upstream.ts';
import { dpkgInstall, getBytes, handmadeBundle, proofFixture, relist, run, tamperProof, fixtureSuites, PACKAGES, type ProofFixture } from './helpers/proof-fixture.ts';
import { runCli } from './helpers/service.ts';
import { ProofVerifier } from '../server/verify/proof-verifier.ts';
import { inflate } from '../server/cli/verify-load.ts';
import { readKeyring } from '../server/pgp/keyring.ts';
import type { ChainReport, Verdict } from '../server/verify/report.ts';

interface VerifyOutput {
  code: number;
  verdict: Verdict;
  reports: ChainReport[];
  stderr: string;
}

async function verify(proof: string, keyring: string, debs: string[]): Promise<VerifyOutput> {
  const r = await runCli(['verify', '--json', '--proof', proof, '--keyring', keyring, ...debs]);
  let parsed: { verdict: Verdict; reports: ChainReport[] };
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    throw new Error(`verify printed no JSON (exit ${r.code}): ${r.stderr}`);
  }
  return { code: r.code, ...parsed, stderr: r.stderr };
}

/** The report of one package file. */
function of(out: VerifyOutput, file: string): ChainReport {
  const r = out.reports.find((x) => x.subject === file);
  assert.ok(r, `a report for ${file}`);
  return r;
}

describe('aptfreeze verify --proof', () => {
  let f: ProofFixture;
  let serial: string;
  let proofFile: string;
  let proof: Buffer;
  let fproof: Buffer;
  let debs: string[];
  let work: string;
  let other: { key: UpstreamKey; build: UpstreamBuild };
  /** The upstream as the snapshots of the proofs saw it (a test below rebuilds it). */
  let first: UpstreamBuild;
  const poolFile = (b: UpstreamBuild, name: string, suite = 'bookworm') => path.join(b.root, b.debs.find((d) => d.name === name && d.suite === suite)!.filename);

  before(async () => {
    f = await proofFixture('af-vproof');
    serial = (await f.snapshot('debian')).serial;
    const fserial = (await f.snapshot('filt')).serial;
    work = f.dir;
    proof = await getBytes(`${f.h.url}/debian/${serial}/proof.deb`);
    fproof = await getBytes(`${f.h.url}/filt/${fserial}/proof.deb`);
    proofFile = path.join(work, 'proof.deb');
    await writeFile(proofFile, proof);
    first = f.build;
    debs = [...new Set(first.debs.map((d) => path.join(first.root, d.filename)))];
    // Another archive: other keys, packages of the same names with other contents.
    const key = await createUpstreamKey(path.join(work, 'other-keys'), { name: 'Other Archive' });
    other = { key, build: await buildUpstream(path.join(work, 'other'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: PACKAGES.map((p) => ({ ...p, payloadBytes: 321 })) }], key) };
  });
  after(() => f?.close());

  describe('with the upstream keyring the auditor supplies', () => {
    it('verifies every package of the snapshot and exits 0', async () => {
      const out = await verify(proofFile, f.key.keyringPath, debs);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.verdict, 'verified');
      assert.equal(out.reports.length, debs.length + 1);
      for (const r of out.reports) assert.equal(r.verdict, 'verified', `${r.subject}: ${JSON.stringify(r.steps.filter((s) => s.status !== 'ok'))}`);
      // Each package report walks the whole chain, in order.
      assert.deepEqual(of(out, debs[0]!).steps.map((s) => s.link), ['package', 'stanza', 'index-in-release', 'manifest', 'upstream-signature']);
      // The detached-signed suite's package chains to its Release + Release.gpg.
      const updates = of(out, poolFile(first, 'hello', 'bookworm/updates'));
      assert.equal((updates.data?.['package'] as { suite: string }).suite, 'bookworm/updates');
    });

    it('prints each link of the chain as text', async () => {
      const r = await runCli(['verify', '--proof', proofFile, '--keyring', f.key.armoredKeyringPath, debs[0]!]);
      assert.equal(r.code, 0, r.stderr);
      for (const link of ['stanza', 'index-in-release', 'manifest', 'upstream-signature']) assert.match(r.stdout, new RegExp(`^  ok +${link} `, 'm'));
      assert.match(r.stdout, new RegExp(f.key.fingerprint));
    });

    it('takes an installed proof directory as well as the package', async () => {
      const root = await tmpDir('af-vproof-root');
      const r = await dpkgInstall(root, [proofFile]);
      assert.equal(r.code, 0, r.stderr);
      const out = await verify(path.join(root, 'usr/share/aptfreeze/proofs/debian', serial), f.key.keyringPath, [poolFile(first, 'hello-doc')]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.reports[1]!.verdict, 'verified');
    });

    it('verifies the packages a filtered snapshot served through its filtered indices', async () => {
      const file = path.join(work, 'fproof.deb');
      await writeFile(file, fproof);
      const out = await verify(file, f.key.keyringPath, [poolFile(first, 'hello'), poolFile(first, 'bar')]);
      assert.equal(out.code, 0, out.stderr);
      assert.ok(out.reports.slice(1).every((r) => r.steps.some((s) => s.link === 'upstream-stanza' && s.status === 'ok')));
    });
  });

  describe('names the first broken link and exits non-zero', () => {
    // One run for the package files that are not the snapshot's (each spawn of the CLI costs a second or two).
    let debRun: Promise<{ out: VerifyOutput; changed: string; later: string; foreign: string }> | undefined;
    const badDebs = () =>
      (debRun ??= (async () => {
        const changed = path.join(work, 'hello_2.10-3_amd64.deb');
        const bytes = await readFile(poolFile(first, 'hello'));
        bytes[bytes.length - 10] ^= 0x01;
        await writeFile(changed, bytes);
        // A later snapshot of the same archive, with a new version of bar.
        await f.rebuild(fixtureSuites(PACKAGES.map((p) => (p.name === 'bar' ? { ...p, version: '0.9-3' } : p))));
        await f.snapshot('debian');
        const later = poolFile(f.build, 'bar');
        const foreign = poolFile(other.build, 'hello');
        return { out: await verify(proofFile, f.key.keyringPath, [debs[1]!, changed, later, foreign]), changed, later, foreign };
      })());

    it('for a .deb with one byte changed', async () => {
      const { out, changed } = await badDebs();
      assert.equal(out.code, 1);
      assert.equal(out.verdict, 'failed');
      assert.equal(of(out, debs[1]!).verdict, 'verified');
      assert.equal(of(out, changed).brokenLink, 'stanza');
      assert.match(out.stderr, /VERIFY_FAILED: .*hello_2\.10-3_amd64\.deb: broken link stanza/);
    });

    it('for a .deb of another snapshot of the same archive', async () => {
      const { out, later } = await badDebs();
      assert.equal(of(out, later).brokenLink, 'stanza');
    });

    it('for a .deb of another archive', async () => {
      const { out, foreign } = await badDebs();
      assert.equal(of(out, foreign).brokenLink, 'stanza');
    });

    it('for a proof whose upstream InRelease was altered', async () => {
      const bad = path.join(work, 'altered-inrelease.deb');
      await writeFile(
        bad,
        await tamperProof(proof, (p) => {
          const text = p.files.get('dists/bookworm/InRelease')!.toString('utf8');
          assert.match(text, /^Label: Fixture$/m);
          p.files.set('dists/bookworm/InRelease', Buffer.from(text.replace(/^Label: Fixture$/m, 'Label: Fixturf')));
          relist(p, 'bookworm', 'InRelease');
        }),
      );
      const out = await verify(bad, f.key.keyringPath, [poolFile(first, 'hello'), poolFile(first, 'hello', 'bookworm/updates')]);
      assert.equal(out.code, 1);
      const r = out.reports[1]!;
      assert.equal(r.brokenLink, 'upstream-signature');
      assert.equal(r.steps.find((s) => s.link === 'upstream-signature')!.code, 'UPSTREAM_BAD_SIGNATURE');
      // The detached-signed suite is untouched: its package still verifies.
      assert.equal(out.reports[2]!.verdict, 'verified');
    });

    it('for a proof whose upstream Release (detached signature) was altered', async () => {
      const bad = path.join(work, 'altered-release.deb');
      await writeFile(
        bad,
        await tamperProof(proof, (p) => {
          const text = p.files.get('dists/bookworm/updates/Release')!.toString('utf8');
          p.files.set('dists/bookworm/updates/Release', Buffer.from(text.replace(/^Origin: Fixture$/m, 'Origin: Fixturf')));
          relist(p, 'bookworm/updates', 'Release');
        }),
      );
      const out = await verify(bad, f.key.keyringPath, [poolFile(first, 'hello', 'bookworm/updates')]);
      assert.equal(out.code, 1);
      assert.equal(out.reports[1]!.brokenLink, 'upstream-signature');
    });

    it('with the wrong keyring: valid, but not signed by a key the auditor trusts (a distinct result)', async () => {
      const out = await verify(proofFile, other.key.keyringPath, [poolFile(first, 'hello')]);
      assert.equal(out.code, 3);
      assert.equal(out.verdict, 'untrusted');
      const r = out.reports[1]!;
      assert.equal(r.verdict, 'untrusted');
      assert.equal(r.brokenLink, 'upstream-signature');
      assert.equal(r.steps.find((s) => s.link === 'upstream-signature')!.status, 'untrusted');
      assert.match(out.stderr, /VERIFY_UNTRUSTED/);
    });

    it("for a proof re-signed with another key, whatever keyring the proof carries", async () => {
      // A forger rewrites the index to list their package, re-signs the InRelease and ships their key in the proof.
      const forged = await tamperProof(proof, async (p) => {
        const evil = other.build.debs.find((d) => d.name === 'hello')!;
        const idx = p.manifest.suites[0]!.indices.find((i) => i.inProof && i.path.startsWith('main/binary-amd64/Packages'))!;
        assert.ok(idx.path.endsWith('.gz'), idx.path);
        const text = gunzipSync(p.files.get(`dists/bookworm/${idx.path}`)!).toString('utf8');
        const good = first.debs.find((d) => d.name === 'hello' && d.suite === 'bookworm')!;
        const edited = gzipSync(Buffer.from(text.replace(good.sha256, evil.sha256).replace(`Size: ${good.size}\n`, `Size: ${evil.size}\n`)));
        p.files.set(`dists/bookworm/${idx.path}`, edited);
        relist(p, 'bookworm', idx.path);
        const inRelease = p.files.get('dists/bookworm/InRelease')!.toString('utf8');
        const signed = /\n\n([\s\S]*)\n-----BEGIN PGP SIGNATURE-----/.exec(inRelease)![1]!;
        const oldEntry = new RegExp(` [0-9a-f]{64} +\\d+ ${idx.path.replace(/\./g, '\\.')}\\n`);
        const newText = signed.replace(oldEntry, ` ${p.manifest.suites[0]!.indices.find((i) => i.path === idx.path)!.sha256} ${String(edited.length).padStart(8)} ${idx.path}\n`);
        const key = await openpgp.readPrivateKey({ armoredKey: other.key.armoredPrivate });
        const armored = await openpgp.sign({ message: await openpgp.createCleartextMessage({ text: newText }), signingKeys: key });
        p.files.set('dists/bookworm/InRelease', Buffer.from(armored.replace(/\r\n/g, '\n')));
        relist(p, 'bookworm', 'InRelease');
        p.files.set('keyring.gpg', await readFile(other.key.keyringPath));
        p.manifest.keyring.sha256 = createHash('sha256').update(p.files.get('keyring.gpg')!).digest('hex');
        p.manifest.keyring.size = p.files.get('keyring.gpg')!.length;
      });
      const bad = path.join(work, 'forged.deb');
      await writeFile(bad, forged);
      const out = await verify(bad, f.key.keyringPath, [poolFile(other.build, 'hello')]);
      assert.notEqual(out.code, 0);
      const r = out.reports[1]!;
      // The forged package reaches the forged index, which chains only to the forger's key.
      assert.equal(r.steps.find((s) => s.link === 'stanza')!.status, 'ok');
      assert.equal(r.steps.find((s) => s.link === 'index-in-release')!.status, 'ok');
      assert.equal(r.brokenLink, 'upstream-signature');
      assert.notEqual(r.verdict, 'verified');
    });

    it('for a filtered index holding a stanza that is not in the upstream index', async () => {
      const evil = other.build.debs.find((d) => d.name === 'hello')!;
      const evilStanza = `Package: hello\nVersion: 2.10-3\nArchitecture: amd64\nMaintainer: Mallory <m@example.org>\nFilename: ${evil.filename}\nSize: ${evil.size}\nSHA256: ${evil.sha256}\nDescription: not upstream's\n`;
      const bad = path.join(work, 'foreign-stanza.deb');
      await writeFile(
        bad,
        await tamperProof(fproof, (p) => {
          const idx = p.manifest.suites[0]!.indices.find((i) => i.servedInProof && i.path.startsWith('main/binary-amd64/Packages'))!;
          const key = `served/dists/bookworm/${idx.path}`;
          const gz = idx.path.endsWith('.gz');
          assert.ok(gz || !/\.(xz|bz2)$/.test(idx.path), idx.path);
          const plain = gz ? gunzipSync(p.files.get(key)!) : p.files.get(key)!;
          const added = Buffer.concat([plain, Buffer.from(`\n${evilStanza}`)]);
          p.files.set(key, gz ? gzipSync(added) : added);
          relist(p, 'bookworm', idx.path, { served: true });
        }),
      );
      const out = await verify(bad, f.key.keyringPath, [poolFile(other.build, 'hello'), poolFile(first, 'bar')]);
      assert.equal(out.code, 1);
      const r = of(out, poolFile(other.build, 'hello'));
      assert.equal(r.steps.find((s) => s.link === 'stanza')!.status, 'ok');
      assert.equal(r.brokenLink, 'upstream-stanza');
      // The proof as a whole says so too; a package that is upstream's still verifies on its own.
      assert.equal(out.reports[0]!.brokenLink, 'upstream-stanza');
      assert.equal(of(out, poolFile(first, 'bar')).verdict, 'verified');
    });

    it('for a proof package whose manifest lists a different index hash', async () => {
      const bad = path.join(work, 'manifest-hash.deb');
      await writeFile(
        bad,
        await tamperProof(proof, (p) => {
          const idx = p.manifest.suites[0]!.indices.find((i) => i.inProof && i.path.startsWith('main/binary-amd64/Packages'))!;
          idx.sha256 = 'f'.repeat(64);
        }),
      );
      const out = await verify(bad, f.key.keyringPath, [poolFile(first, 'hello')]);
      assert.equal(out.code, 1);
      assert.equal(out.reports[1]!.brokenLink, 'manifest');
      assert.equal(out.reports[0]!.brokenLink, 'manifest');
    });

    it('for a proof that is not a proof package', async () => {
      const r = await runCli(['verify', '--proof', debs[0]!, '--keyring', f.key.keyringPath, debs[0]!]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^aptfreeze: MALFORMED: /);
    });
  });

  describe('reports time', () => {
    it('accepts a signature made while the key was valid, and says the key has expired since', async () => {
      const dir = await tmpDir('af-vproof-expired');
      const key = await createUpstreamKey(path.join(dir, 'keys'), { expired: true });
      const b = await buildUpstream(path.join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: makePackages(3) }], key);
      const rel = (p: string) => readFile(path.join(b.root, 'dists/bookworm', p));
      const idx = b.indexFiles.filter((i) => i.path.startsWith('main/binary-') && i.path.endsWith('.gz'));
      const bundle = handmadeBundle({
        archive: 'old',
        serial: '2025010101',
        upstreamUrl: 'http://old.example/',
        keyring: await readFile(key.keyringPath),
        suites: [{ suite: 'bookworm', releaseFiles: { InRelease: await rel('InRelease') }, indices: await Promise.all(idx.map(async (i) => ({ path: i.path, data: await rel(i.path) }))) }],
      });
      const v = await ProofVerifier.create({ bundle, trustedKeys: await readKeyring(await readFile(key.keyringPath)), now: new Date(), inflate });
      const d = b.debs[0]!;
      const r = v.verifyPackage({ name: d.filename, sha256: d.sha256, size: d.size });
      assert.equal(r.verdict, 'verified');
      const sig = r.steps.find((s) => s.link === 'upstream-signature')!;
      const signers = sig.data!['signers'] as Array<{ fingerprint: string; created: string; validWhenSigned: boolean; expiredNow: boolean }>;
      assert.equal(signers[0]!.fingerprint, key.fingerprint);
      assert.equal(signers[0]!.validWhenSigned, true);
      assert.equal(signers[0]!.expiredNow, true);
      assert.ok(Date.parse(signers[0]!.created) < Date.now() - 300 * 86_400_000, 'signed long ago');
      // And gpgv, for comparison, calls it EXPKEYSIG (apt would refuse it today).
      const g = await run('gpgv', ['--status-fd', '1', '--homedir', dir, '--keyring', key.keyringPath, path.join(b.root, 'dists/bookworm/InRelease')]);
      assert.match(g.stdout, /EXPKEYSIG/);
    });
  });
});
