// Acceptance 5 of the provenance issue: `aptfreeze verify --snapshot <url>` checks a published
// snapshot from outside (service signature, every served index against the upstream Release in
// the proof, the upstream signature, and with --pool every pool file), and fails when what is
// served is altered on disk, or re-signed by a service that serves what upstream did not sign.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { proofFixture, type ProofFixture } from './helpers/proof-fixture.ts';
import { runCli } from './helpers/service.ts';
import { createUpstreamKey } from './helpers/upstream.ts';
import { signRelease } from '../server/sign/signer.ts';
import type { ChainReport, Verdict } from '../server/verify/report.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Out {
  code: number;
  verdict: Verdict;
  reports: ChainReport[];
  stderr: string;
}

describe('aptfreeze verify --snapshot', () => {
  let f: ProofFixture;
  let serviceKey: string;

  const verify = async (archive: string, serial: string, extra: string[] = []): Promise<Out> => {
    const r = await runCli(['verify', '--json', '--snapshot', `${f.h.url}/${archive}/${serial}/`, '--keyring', f.key.keyringPath, ...extra]);
    try {
      return { code: r.code, ...JSON.parse(r.stdout), stderr: r.stderr };
    } catch {
      throw new Error(`verify printed no JSON (exit ${r.code}): ${r.stderr}`);
    }
  };
  const suiteReport = (out: Out, suite: string) => out.reports.find((r) => r.subject.endsWith(` ${suite}`))!;
  const dir = (archive: string, serial: string) => f.h.services.publisher.serialDir(archive, serial);

  /** Replaces a served file (it is a hard link into the store: unlink, never write through it). */
  const replace = async (file: string, data: Buffer) => {
    await unlink(file);
    await writeFile(file, data);
  };

  /** What a dishonest service would do: list new hashes for some files in its Release and sign it with its own key. */
  const resign = async (archive: string, serial: string, suite: string, changed: Record<string, Buffer>) => {
    const d = path.join(dir(archive, serial), 'dists', suite);
    let text = await readFile(path.join(d, 'Release'), 'utf8');
    for (const [p, data] of Object.entries(changed)) {
      const re = new RegExp(`^ [0-9a-f]{64} +\\d+ ${p.replace(/[.+]/g, '\\$&')}$`, 'm');
      assert.match(text, re, `${p} is listed`);
      text = text.replace(re, ` ${sha256(data)} ${String(data.length).padStart(8)} ${p}`);
      await replace(path.join(d, p), data);
    }
    const signed = await signRelease(f.h.services.key, text);
    await replace(path.join(d, 'Release'), Buffer.from(text));
    await replace(path.join(d, 'Release.gpg'), Buffer.from(signed.releaseGpg));
    await replace(path.join(d, 'InRelease'), Buffer.from(signed.inRelease));
  };

  before(async () => {
    f = await proofFixture('af-vsnap');
    serviceKey = path.join(f.h.dataDir, 'keys', 'aptfreeze.gpg');
  });
  after(() => f?.close());

  it('passes on a served snapshot: service signature, every index, the upstream signature, every pool file', async () => {
    const { serial } = await f.snapshot('debian');
    const out = await verify('debian', serial, ['--pool', '--service-key', serviceKey]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.verdict, 'verified');
    for (const suite of ['bookworm', 'bookworm/updates']) {
      const r = suiteReport(out, suite);
      assert.equal(r.verdict, 'verified');
      assert.deepEqual(
        [...new Set(r.steps.map((s) => s.link))],
        ['service-signature', 'served-file', 'index-vs-upstream', 'proof-package', 'upstream-signature'],
      );
    }
    const pool = out.reports.find((r) => r.subject.endsWith(' pool'))!;
    assert.equal(pool.verdict, 'verified');
    assert.equal(pool.data!['files'], new Set(f.build.debs.map((d) => d.filename).concat(f.build.sourceFiles.map((s) => s.filename))).size);
  });

  it('passes on latest, with the service key fetched from the server', async () => {
    const out = await verify('debian', 'latest');
    assert.equal(out.code, 0, out.stderr);
  });

  it('passes on a filtered snapshot, whose filtered indices hold only upstream stanzas', async () => {
    const { serial } = await f.snapshot('filt');
    const out = await verify('filt', serial, ['--pool', '--service-key', serviceKey]);
    assert.equal(out.code, 0, out.stderr);
    const steps = suiteReport(out, 'bookworm').steps;
    assert.equal(steps.find((s) => s.link === 'upstream-stanza')?.status, 'ok');
  });

  it('fails when a served index is altered on disk', async () => {
    const { serial } = await f.snapshot('debian');
    const file = path.join(dir('debian', serial), 'dists/bookworm/main/binary-amd64/Packages.gz');
    const text = gunzipSync(await readFile(file)).toString('utf8');
    await replace(file, gzipSync(Buffer.from(text.replace(/^Priority: optional$/m, 'Priority: extra'))));
    const out = await verify('debian', serial, ['--service-key', serviceKey]);
    assert.equal(out.code, 1);
    assert.equal(suiteReport(out, 'bookworm').brokenLink, 'served-file');
    assert.equal(suiteReport(out, 'bookworm/updates').verdict, 'verified');
  });

  it("fails when the service signs an index that is not upstream's", async () => {
    const { serial } = await f.snapshot('debian');
    const p = 'main/binary-amd64/Packages.gz';
    const text = gunzipSync(await readFile(path.join(dir('debian', serial), 'dists/bookworm', p))).toString('utf8');
    await resign('debian', serial, 'bookworm', { [p]: gzipSync(Buffer.from(text.replace(/^Priority: optional$/m, 'Priority: extra'))) });
    const out = await verify('debian', serial, ['--service-key', serviceKey]);
    assert.equal(out.code, 1);
    const r = suiteReport(out, 'bookworm');
    assert.equal(r.steps.find((s) => s.link === 'service-signature')!.status, 'ok');
    assert.equal(r.steps.find((s) => s.link === 'served-file')!.status, 'ok');
    assert.equal(r.brokenLink, 'index-vs-upstream');
  });

  it('fails when a filtered index holds a stanza that is not in the upstream index', async () => {
    const { serial } = await f.snapshot('filt');
    const p = 'main/binary-amd64/Packages.gz';
    const text = gunzipSync(await readFile(path.join(dir('filt', serial), 'dists/bookworm', p))).toString('utf8');
    const foreign = `${text.trimEnd()}\n\nPackage: mallory\nVersion: 1\nArchitecture: amd64\nFilename: pool/main/m/mallory/mallory_1_amd64.deb\nSize: 10\nSHA256: ${'a'.repeat(64)}\nDescription: not upstream's\n`;
    await resign('filt', serial, 'bookworm', { [p]: gzipSync(Buffer.from(foreign)) });
    const out = await verify('filt', serial, ['--service-key', serviceKey]);
    assert.equal(out.code, 1);
    const r = suiteReport(out, 'bookworm');
    assert.equal(r.steps.find((s) => s.link === 'index-vs-upstream')!.status, 'ok');
    assert.equal(r.brokenLink, 'upstream-stanza');
  });

  it('with --pool, fails when a pool file is altered on disk', async () => {
    const { serial } = await f.snapshot('debian');
    const deb = f.build.debs.find((d) => d.name === 'bar')!;
    const file = path.join(dir('debian', serial), deb.filename);
    const bytes = Buffer.from(await readFile(file));
    bytes[bytes.length - 1] ^= 1;
    await replace(file, bytes);
    const without = await verify('debian', serial, ['--service-key', serviceKey]);
    assert.equal(without.code, 0, 'without --pool no pool file is read');
    const out = await verify('debian', serial, ['--pool', '--service-key', serviceKey]);
    assert.equal(out.code, 1);
    const pool = out.reports.find((r) => r.subject.endsWith(' pool'))!;
    assert.equal(pool.brokenLink, 'pool-file');
    assert.match(pool.steps[0]!.detail, new RegExp(deb.filename.replace(/[.+]/g, '\\$&')));
  });

  it('fails with a service key that did not sign the snapshot', async () => {
    const other = await createUpstreamKey(path.join(f.dir, 'not-the-service'));
    const out = await verify('debian', 'latest', ['--service-key', other.keyringPath]);
    assert.equal(out.code, 1);
    assert.equal(suiteReport(out, 'bookworm').brokenLink, 'service-signature');
  });
});
