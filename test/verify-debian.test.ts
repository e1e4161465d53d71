// Acceptance 7 of the provenance issue: the auditor's checks against the genuine Debian metadata
// on this machine: the InRelease files apt fetched (/var/lib/apt/lists/*_InRelease) verified with
// /usr/share/keyrings/debian-archive-keyring.gpg, the Packages indices apt kept (lz4) chained to
// them, and the .deb files apt cached (/var/cache/apt/archives) chained through both. Skipped, with
// the reason, where that metadata is not there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, it, before } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { createUpstreamKey } from './helpers/upstream.ts';
import { handmadeBundle, run, type HandmadeSuite } from './helpers/proof-fixture.ts';
import { runCli } from './helpers/service.ts';
import { FsBlobStore } from '../server/store/store.ts';
import { buildProofDeb } from '../server/proof/build.ts';
import { ProofVerifier } from '../server/verify/proof-verifier.ts';
import { hashFile, inflate } from '../server/cli/verify-load.ts';
import { readKeyring } from '../server/pgp/keyring.ts';
import { packageEntries, plainIndex } from '../server/verify/indices.ts';
import { readPackagesText } from '../server/snapshot/packages-reader.ts';
import type { ProofBundle } from '../server/proof/bundle.ts';
import type { ChainReport } from '../server/verify/report.ts';

// Overridable, to see the skip where the metadata is absent: AF_DEBIAN_LISTS=/nonexistent.
const LISTS = process.env['AF_DEBIAN_LISTS'] ?? '/var/lib/apt/lists';
const CACHE = process.env['AF_DEBIAN_CACHE'] ?? '/var/cache/apt/archives';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

interface GenuineArchive {
  /** e.g. deb.debian.org_debian */
  name: string;
  suites: HandmadeSuite[];
}

/** The archives apt has lists of here: each suite's InRelease with the Packages files kept beside it. */
function genuineArchives(): GenuineArchive[] {
  if (!existsSync(LISTS) || !existsSync(KEYRING)) return [];
  const names = readdirSync(LISTS);
  const archives = new Map<string, GenuineArchive>();
  for (const n of names) {
    const m = /^(.*)_dists_([^_]+)_InRelease$/.exec(n);
    if (!m) continue;
    const [, archive, suite] = m as unknown as [string, string, string];
    const prefix = `${archive}_dists_${suite}_`;
    const indices = names
      .filter((x) => x.startsWith(prefix) && /_binary-[^_]+_Packages(\.(lz4|gz|xz|zst))?$/.test(x))
      .map((x) => ({ path: x.slice(prefix.length).replace(/_/g, '/'), file: path.join(LISTS, x) }));
    if (!indices.length) continue;
    // apt may be updating the lists right now: read the pair again if a file changed meanwhile.
    const read = () => {
      const before = [n, ...indices.map((i) => i.file)].map((f) => statSync(path.join(LISTS, path.basename(f))).mtimeMs);
      const suiteFiles: HandmadeSuite = {
        suite,
        releaseFiles: { InRelease: readFileSync(path.join(LISTS, n)) },
        indices: indices.map((i) => ({ path: i.path, data: readFileSync(i.file) })),
      };
      const after = [n, ...indices.map((i) => i.file)].map((f) => statSync(path.join(LISTS, path.basename(f))).mtimeMs);
      return before.every((t, i) => t === after[i]) ? suiteFiles : null;
    };
    const s = read() ?? read();
    if (!s) continue;
    const a = archives.get(archive) ?? { name: archive, suites: [] };
    a.suites.push(s);
    archives.set(archive, a);
  }
  return [...archives.values()];
}

const archives = genuineArchives();
const skip = archives.length
  ? false
  : `no genuine Debian metadata on this machine (needs ${LISTS}/*_InRelease with its *_Packages* file, and ${KEYRING})`;

function bundleOf(a: GenuineArchive, edit?: (s: HandmadeSuite[]) => HandmadeSuite[]): ProofBundle {
  return handmadeBundle({ archive: a.name.replace(/[^a-z0-9.+-]/g, '-').replace(/^[^a-z0-9]+/, ''), serial: '2026010101', upstreamUrl: `http://${a.name}`, keyring: readFileSync(KEYRING), suites: edit ? edit(a.suites) : a.suites });
}

describe('against the genuine Debian metadata on this machine', { skip }, () => {
  const verifiers = new Map<string, ProofVerifier>();
  /** Cached .deb files that an index of some archive lists, by archive. */
  const cached = new Map<string, Array<{ file: string; sha256: string; size: number }>>();

  before(async () => {
    const keys = await readKeyring(readFileSync(KEYRING));
    for (const a of archives) {
      const t0 = Date.now();
      const v = await ProofVerifier.create({ bundle: bundleOf(a), trustedKeys: keys, now: new Date(), inflate });
      v.proofReport();
      verifiers.set(a.name, v);
      const ms = Date.now() - t0;
      // Which cached .debs do these indices list? Match by file name first, then hash those.
      const byName = new Map<string, { sha256: string; size: number }>();
      for (const s of a.suites) {
        for (const i of s.indices) {
          for (const e of packageEntries(plainIndex(i.path, i.data, inflate), i.path, false)) {
            if (!e.invalid) byName.set(path.basename(e.filename).replace(/:/g, '%3a'), e);
          }
        }
      }
      const list: Array<{ file: string; sha256: string; size: number }> = [];
      if (existsSync(CACHE)) {
        const matching = readdirSync(CACHE).filter((f) => byName.has(f)).sort();
        // At most 40, spread over the list: enough to show the chain, quick to hash.
        const step = Math.max(1, Math.floor(matching.length / 40));
        for (let i = 0; i < matching.length && list.length < 40; i += step) {
          const file = path.join(CACHE, matching[i]!);
          const h = await hashFile(file);
          if (h.sha256 === byName.get(matching[i]!)!.sha256) list.push({ file, ...h });
        }
      }
      cached.set(a.name, list);
      console.error(`${a.name}: ${a.suites.map((s) => s.suite).join(', ')}; proof read and checked in ${ms} ms; ${list.length} cached packages listed`);
    }
  });

  it("verifies each genuine InRelease with the Debian archive keyring, reporting each signature's time", () => {
    for (const a of archives) {
      const r = verifiers.get(a.name)!.proofReport();
      const sigs = r.steps.filter((s) => s.link === 'upstream-signature');
      assert.equal(sigs.length, a.suites.length);
      for (const s of sigs) {
        assert.equal(s.status, 'ok', s.detail);
        const signers = s.data!['signers'] as Array<{ fingerprint: string; created: string; validWhenSigned: boolean; expiredNow: boolean }>;
        assert.ok(signers.length >= 1);
        for (const x of signers) {
          assert.match(x.fingerprint, /^[0-9A-F]{40}$/);
          assert.equal(x.validWhenSigned, true);
          assert.ok(Date.parse(x.created) <= Date.now() + 300_000);
        }
      }
    }
  });

  it('chains each Packages index apt kept (recompressed) to its InRelease, through the uncompressed hash', () => {
    for (const a of archives) {
      const r = verifiers.get(a.name)!.proofReport();
      assert.equal(r.verdict, 'verified', JSON.stringify(r.steps.filter((s) => s.status !== 'ok')));
      assert.equal(r.steps.find((s) => s.link === 'index-in-release')!.status, 'ok');
    }
  });

  it('verifies cached packages that the indices list, through a real proof package and the CLI', async (t) => {
    // The archive with the largest indices (Debian main: 63,000 packages) that lists cached packages.
    const size = (x: GenuineArchive) => x.suites.reduce((n, s) => n + s.indices.reduce((m, i) => m + i.data.length, 0), 0);
    const a = archives.filter((x) => (cached.get(x.name) ?? []).length > 0).sort((x, y) => size(y) - size(x))[0];
    if (!a) return t.skip(`no .deb in ${CACHE} is listed by the indices here`);
    const dir = await tmpDir('af-debian-proof');
    const bundle = bundleOf(a);
    const store = new FsBlobStore(path.join(dir, 'store'));
    await store.init();
    for (const data of bundle.files.values()) await store.putBuffer(data);
    const deb = await buildProofDeb(bundle.manifest, store);
    const proof = path.join(dir, 'proof.deb');
    await writeFile(proof, deb);
    const info = await run('dpkg-deb', ['--info', proof]);
    assert.equal(info.code, 0, info.stderr);
    const files = cached.get(a.name)!.map((c) => c.file);
    const t0 = Date.now();
    const r = await runCli(['verify', '--json', '--proof', proof, '--keyring', KEYRING, ...files]);
    const ms = Date.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { verdict: string; reports: ChainReport[] };
    assert.equal(out.verdict, 'verified');
    assert.equal(out.reports.length, files.length + 1);
    t.diagnostic(`verify --proof: ${files.length} genuine packages, proof of ${deb.length} bytes, ${ms} ms`);
  });

  it('fails for a changed byte, the wrong keyring and an altered InRelease', async (t) => {
    const a = archives.find((x) => (cached.get(x.name) ?? []).length > 0);
    if (!a) return t.skip(`no .deb in ${CACHE} is listed by the indices here`);
    const pkg = cached.get(a.name)![0]!;
    const v = verifiers.get(a.name)!;
    assert.equal(v.verifyPackage({ name: pkg.file, ...pkg }).verdict, 'verified');
    // One byte changed: another sha256, listed nowhere.
    assert.equal(v.verifyPackage({ name: pkg.file, size: pkg.size, sha256: pkg.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0')) }).brokenLink, 'stanza');
    // A keyring without Debian's keys: valid signatures, by no key the auditor trusts.
    const other = await createUpstreamKey(await tmpDir('af-debian-other'));
    const untrusted = await ProofVerifier.create({ bundle: bundleOf(a), trustedKeys: await readKeyring(readFileSync(other.keyringPath)), now: new Date(), inflate });
    const u = untrusted.verifyPackage({ name: pkg.file, ...pkg });
    assert.deepEqual([u.verdict, u.brokenLink], ['untrusted', 'upstream-signature']);
    // An InRelease with one field changed.
    const altered = bundleOf(a, (suites) =>
      suites.map((s) => ({ ...s, releaseFiles: { InRelease: Buffer.from(s.releaseFiles.InRelease!.toString('utf8').replace(/^Label: Debian(.*)$/m, 'Label: Debiam$1')) } })),
    );
    const bad = await ProofVerifier.create({ bundle: altered, trustedKeys: await readKeyring(readFileSync(KEYRING)), now: new Date(), inflate });
    const b = bad.verifyPackage({ name: pkg.file, ...pkg });
    assert.equal(b.brokenLink, 'upstream-signature');
    assert.equal(b.steps.find((s) => s.link === 'upstream-signature')!.code, 'UPSTREAM_BAD_SIGNATURE');
  });

  it('accepts a filtered index of genuine stanzas, and refuses one with a stanza changed', async () => {
    const a = archives.reduce((x, y) => (y.suites[0]!.indices[0]!.data.length > x.suites[0]!.indices[0]!.data.length ? y : x));
    const s = a.suites[0]!;
    const idx = s.indices[0]!;
    const stanzas: Buffer[] = [];
    for (const e of readPackagesText(plainIndex(idx.path, idx.data, inflate), idx.path, { keepRaw: (p) => p.startsWith('python3-') })) {
      if (stanzas.length < 200 && e.raw && /^Priority: optional$/m.test(e.raw.toString('utf8'))) stanzas.push(e.raw);
    }
    assert.ok(stanzas.length > 0);
    const keys = await readKeyring(readFileSync(KEYRING));
    const served = Buffer.concat(stanzas.flatMap((raw, i) => (i ? [Buffer.from('\n'), raw] : [raw])));
    // The served copy is compressed as the index's name says (what apt kept here: lz4).
    const compress = (plain: Buffer) => (idx.path.endsWith('.lz4') ? execFileSync('lz4', ['-c'], { input: plain }) : idx.path.endsWith('.gz') ? gzipSync(plain) : plain);
    const withServed = (copy: Buffer) => bundleOf(a, (suites) => suites.map((x) => (x === s ? { ...x, indices: x.indices.map((i) => (i === idx ? { ...i, served: compress(copy) } : i)) } : x)));
    const good = await ProofVerifier.create({ bundle: withServed(served), trustedKeys: keys, now: new Date(), inflate });
    assert.equal(good.proofReport().steps.find((x) => x.link === 'upstream-stanza')!.status, 'ok');
    const changed = Buffer.from(served.toString('utf8').replace(/^Priority: optional$/m, 'Priority: required'));
    assert.notDeepEqual(changed, served);
    const bad = await ProofVerifier.create({ bundle: withServed(changed), trustedKeys: keys, now: new Date(), inflate });
    assert.equal(bad.proofReport().brokenLink, 'upstream-stanza');
  });
});
