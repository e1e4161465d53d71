// pdiffs (issue 16): the ed-script reader against `diff --ed`, the bench generator's
// Packages.diff/ accepted by the real apt-get, and a snapshot that fetches only the patches on a
// churn, falls back to the whole index on a bad patch, and refuses a hostile one cleanly.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createAptClient } from './helpers/apt.ts';
import { tmpDir } from './helpers/gpg.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { createKey, clearsign, detachSign, type BenchKey } from '../scripts/bench/keys.ts';
import { generateUpstream, mutateUpstream, type UpstreamState } from '../scripts/bench/generate.ts';
import { diffEd } from '../scripts/bench/pdiff.ts';
import { applyEdScript, parsePdiffIndex } from '../server/debian/pdiff.ts';
import { snapshotService } from '../server/snapshot/service.ts';
import { isAptfreezeError } from '../server/errors.ts';
import { mulberry32 } from '../scripts/bench/generate.ts';
import { verifyWithProof } from '../server/cli/verify.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const code = (c: string) => (e: unknown) => isAptfreezeError(e) && e.code === c;
const INDEX = 'main/binary-amd64/Packages';
/** A request for the whole index: a compressed variant, by name or by hash (not the pdiff Index's by-hash). */
const WHOLE = /Packages\.(xz|gz)$|binary-amd64\/by-hash\//;

describe('applying ed scripts as apt does', () => {
  it('gives the new text for what diff --ed writes, over random edits', async () => {
    const dir = await tmpDir('af-pdiff-ed');
    const rng = mulberry32(16);
    for (let round = 0; round < 25; round++) {
      const lines = Array.from({ length: 1 + Math.floor(rng() * 60) }, (_, i) => (rng() < 0.05 ? '.' : `line ${i} ${Math.floor(rng() * 5)}`));
      const edited = lines.flatMap((l) => (rng() < 0.15 ? [] : rng() < 0.15 ? [`new ${l}`, l] : rng() < 0.1 ? ['.', '..'] : [l]));
      const a = Buffer.from(`${lines.join('\n')}\n`);
      const b = Buffer.from(edited.length ? `${edited.join('\n')}\n` : '');
      await writeFile(path.join(dir, 'a'), a);
      await writeFile(path.join(dir, 'b'), b);
      const patch = await diffEd(path.join(dir, 'a'), path.join(dir, 'b'));
      assert.equal(sha256(applyEdScript(a, patch)), sha256(b), `round ${round}`);
    }
  });

  it('refuses a command past the end of the file, commands out of order, and text without its "."', () => {
    const base = Buffer.from('a\nb\nc\n');
    assert.throws(() => applyEdScript(base, Buffer.from('7d\n')), code('MALFORMED'));
    assert.throws(() => applyEdScript(base, Buffer.from('3,9c\nx\n.\n')), code('MALFORMED'));
    assert.throws(() => applyEdScript(base, Buffer.from('1d\n3d\n')), code('MALFORMED'));
    assert.throws(() => applyEdScript(base, Buffer.from('2a\nx\n')), code('MALFORMED'));
    assert.throws(() => applyEdScript(base, Buffer.from('2x\n')), code('MALFORMED'));
    assert.equal(applyEdScript(base, Buffer.from('3d\n1c\nz\n.\n0a\nfirst\n.\n')).toString(), 'first\nz\nb\n');
  });
});

describe('an upstream publishing pdiffs (the bench generator)', () => {
  let dir: string;
  let key: BenchKey;
  let state: UpstreamState;
  let up: UpstreamServer;
  let h: ServiceHarness;
  let snapshot: ReturnType<typeof snapshotService>;
  const suiteDir = () => path.join(state.root, 'dists', state.suite);
  const plainOf = async () => gunzipSync(await readFile(path.join(suiteDir(), `${INDEX}.gz`)));
  const served = (serial: string, p: string) => readFile(path.join(h.dataDir, 'public', 'bench', serial, 'dists', state.suite, p));

  before(async () => {
    dir = await tmpDir('af-pdiff');
    key = await createKey(path.join(dir, 'keys'), 'Pdiff Upstream');
    state = (await generateUpstream(path.join(dir, 'up'), key, { packages: 400, seed: 16, pdiffs: 3, date: new Date(Date.now() - 10 * 3_600_000) })).state;
    up = await serveUpstream(state.root);
    h = await startService(path.join(dir, 'svc'), {
      archives: { bench: { url: up.url, suites: [state.suite], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
    });
    snapshot = snapshotService(h.services);
  });

  after(async () => {
    await h?.close();
    await up?.close();
  });

  it('is accepted by the real apt-get, which patches its list from one state to the next', async () => {
    const apt = createAptClient(path.join(dir, 'apt'), { sourcesLine: `deb [signed-by=${key.keyringPath}] ${up.url}/ ${state.suite} main` });
    const opts = ['-o', 'Acquire::PDiffs=true', '-o', 'Acquire::By-Hash=yes', 'update', '--error-on=any'];
    const first = await apt.run(opts);
    assert.equal(first.code, 0, first.stderr);
    const before = new Map(state.packages.map((p) => [p.name, p.version]));
    await mutateUpstream(state, key);
    const changed = state.packages.find((p) => before.has(p.name) && before.get(p.name) !== p.version)!;
    up.reset();
    const second = await apt.run(opts);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(up.count((p) => /\/Packages\.diff\/T-[0-9.-]+-F-[0-9.-]+\.gz$/.test(p)), 1, up.requests.join('\n'));
    assert.equal(up.count((p) => WHOLE.test(p)), 0, up.requests.join('\n'));
    const policy = await apt.policy(changed.name);
    assert.match(policy.stdout, new RegExp(`Candidate: ${changed.version.replace(/[.+~]/g, '\\$&')}`));
  });

  it('snapshots a churn by fetching only the patches, and serves the index the signed Release lists', async () => {
    const first = await snapshot('bench', 'test');
    await mutateUpstream(state, key);
    up.reset();
    const second = await snapshot('bench', 'test');
    assert.equal(second.stats.indexPatched, 1);
    assert.equal(up.count((p) => WHOLE.test(p)), 0, up.requests.join('\n'));
    const gz = (await readFile(path.join(suiteDir(), `${INDEX}.gz`))).length;
    assert.ok(second.stats.poolFetched > 0);
    // Bytes of index data fetched: the Index and one patch, a small part of even the gzipped index.
    const indexBytes = second.stats.bytesFetched - (await poolBytes(up, state));
    assert.ok(indexBytes < gz / 5, `index bytes ${indexBytes} against Packages.gz ${gz}`);
    const plain = await plainOf();
    assert.equal(sha256(await served(second.serial, INDEX)), sha256(plain));
    // Our Release lists the index in the one variant served.
    const release = (await served(second.serial, 'Release')).toString();
    assert.match(release, new RegExp(` ${sha256(plain)} +${plain.length} ${INDEX}$`, 'm'));
    assert.doesNotMatch(release, new RegExp(`${INDEX}\\.(gz|xz)$`, 'm'));
    assert.notEqual(first.serial, second.serial);
    // The proof holds a compressed copy of the patched index, and a package it lists chains back to the upstream signature.
    const changed = state.packages[state.packages.length - 1]!;
    const reports = await verifyWithProof(path.join(h.dataDir, 'public', 'bench', second.serial, 'proof.deb'), key.keyringPath, [path.join(state.root, changed.filename)]);
    assert.deepEqual(reports.map((r) => r.verdict), ['verified', 'verified']);
    assert.match(reports[1]!.steps.find((x) => x.link === 'index-in-release')!.detail, /uncompressed content/);
  });

  it('falls back to the whole index when a patch is not the one the Index lists', async () => {
    await mutateUpstream(state, key);
    const idx = parsePdiffIndex(await readFile(path.join(suiteDir(), `${INDEX}.diff/Index`)));
    for (const p of idx.patches) await writeFile(path.join(suiteDir(), `${INDEX}.diff/${p.name}.gz`), gzipSync(Buffer.from('1d\n')));
    up.reset();
    const r = await snapshot('bench', 'test');
    assert.equal(r.stats.indexPatched, 0);
    assert.ok(up.count((p) => WHOLE.test(p)) >= 1);
    assert.equal(sha256(gunzipSync(await served(r.serial, `${INDEX}.gz`))), sha256(await plainOf()));
  });

  it('refuses a signed patch whose command is out of range, and keeps the published state when the whole index is missing too', async () => {
    // Two states on, so that the base is the last serial's (the fallback above stored the compressed variants).
    await mutateUpstream(state, key);
    const latest = h.services.repo.latestSerial('bench')!;
    const publishedRelease = await served(latest, 'InRelease');
    await signHostilePatch(suiteDir(), key, Buffer.from('99999d\n'));
    up.fault = (req, res) => {
      if (WHOLE.test(req.url ?? '')) {
        res.writeHead(404).end();
        return true;
      }
      return false;
    };
    try {
      await assert.rejects(snapshot('bench', 'test'), code('UPSTREAM_HTTP'));
    } finally {
      up.fault = null;
    }
    assert.equal(h.services.repo.latestSerial('bench'), latest);
    assert.deepEqual(await served(latest, 'InRelease'), publishedRelease);
    // With the whole index back, the same hostile patch is refused and the snapshot made from it.
    const r = await snapshot('bench', 'test');
    assert.equal(r.stats.indexPatched, 0);
    assert.equal(sha256(gunzipSync(await served(r.serial, `${INDEX}.gz`))), sha256(await plainOf()));
  });
});

/** Bytes of the pool files the last snapshot requested (from the request log). */
async function poolBytes(up: UpstreamServer, state: UpstreamState): Promise<number> {
  const sizes = new Map(state.packages.map((p) => [`/${p.filename}`, p.size]));
  return up.requests.reduce((n, p) => n + (sizes.get(p) ?? 0), 0);
}

/** Replaces every patch with `patch`, lists it in the Index with its right hashes, and re-signs the Release (a hostile upstream with the key). */
async function signHostilePatch(suiteDir: string, key: BenchKey, patch: Buffer): Promise<void> {
  const indexPath = path.join(suiteDir, `${INDEX}.diff/Index`);
  const idx = parsePdiffIndex(await readFile(indexPath));
  const gz = gzipSync(patch);
  let text = (await readFile(indexPath)).toString();
  for (const p of idx.patches) {
    await writeFile(path.join(suiteDir, `${INDEX}.diff/${p.name}.gz`), gz);
    text = text.replace(`${p.patch.sha256} ${p.patch.size} ${p.name}`, `${sha256(patch)} ${patch.length} ${p.name}`).replace(`${p.download.sha256} ${p.download.size} ${p.name}.gz`, `${sha256(gz)} ${gz.length} ${p.name}.gz`);
  }
  const oldIndex = await readFile(indexPath);
  await writeFile(indexPath, text);
  const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
  let release = (await readFile(path.join(suiteDir, 'Release'))).toString();
  const entry = new RegExp(`^ ([0-9a-f]+) +(\\d+) ${INDEX}\\.diff/Index$`, 'gm');
  release = release.replace(entry, (line, hash: string) => {
    const fresh = Buffer.from(text);
    return hash === sha256(oldIndex) ? ` ${sha256(fresh)} ${fresh.length} ${INDEX}.diff/Index` : ` ${md5(fresh)} ${fresh.length} ${INDEX}.diff/Index`;
  });
  await writeFile(path.join(suiteDir, 'Release'), release);
  await writeFile(path.join(suiteDir, 'Release.gpg'), await detachSign(Buffer.from(release), key));
  await writeFile(path.join(suiteDir, 'InRelease'), await clearsign(release, key));
}
