// Filtered mirrors (issue 16): an archive with a `packages` filter mirrors no Translation file
// unless asked; asked, it serves them filtered to the kept packages, whole stanzas byte for byte,
// and the proof lets each be checked back to the upstream signature.
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { FILTER, proofFixture, type ProofFixture } from './helpers/proof-fixture.ts';
import { runCli } from './helpers/service.ts';
import { parseStanzas } from '../server/debian/deb822.ts';
import { readDeb } from '../server/debian/deb.ts';
import { bundleFromDeb } from '../server/proof/bundle.ts';

describe('a filtered archive and the Translation files', () => {
  let f: ProofFixture;
  const tree = (archive: string, serial: string, ...p: string[]) => path.join(f.h.dataDir, 'public', archive, serial, ...p);

  before(async () => {
    f = await proofFixture('af-filtered-i18n');
  });
  after(async () => {
    await f?.close();
  });

  it('mirrors none unless asked: not fetched, not served, not in the proof', async () => {
    f.up.reset();
    const r = await f.snapshot('filt');
    assert.equal(f.up.count((p) => p.includes('/i18n/')), 0, f.up.requests.join('\n'));
    // Listed, as every index not mirrored is (our Release keeps upstream's list), but not served.
    await assert.rejects(readdir(tree('filt', r.serial, 'dists', 'bookworm', 'main', 'i18n')), { code: 'ENOENT' });
    const proof = bundleFromDeb(await readDeb(await readFile(tree('filt', r.serial, 'proof.deb'))));
    assert.ok(proof.manifest.suites.every((s) => s.indices.every((i) => !i.path.includes('/i18n/'))));
  });

  it('serves them filtered to the kept packages when asked, and each stanza checks back to upstream', async () => {
    await f.h.reconfigure((c) => {
      const archives = c['archives'] as Record<string, Record<string, unknown>>;
      archives['filti18n'] = { ...archives['filt']!, translations: true };
    });
    const r = await f.snapshot('filti18n');
    const dir = tree('filti18n', r.serial, 'dists', 'bookworm', 'main', 'i18n');
    const files = (await readdir(dir)).filter((n) => n.startsWith('Translation-en'));
    assert.ok(files.length > 0);
    const served = files.includes('Translation-en.gz') ? gunzipSync(await readFile(path.join(dir, 'Translation-en.gz'))) : await readFile(path.join(dir, files[0]!));
    const upstream = gunzipSync(await readFile(path.join(f.build.root, 'dists', 'bookworm', 'main', 'i18n', 'Translation-en.gz')));
    const kept = parseStanzas(served);
    assert.deepEqual(kept.map((s) => s.get('Package')).sort(), [...FILTER].sort());
    const upstreamRaw = new Set(parseStanzas(upstream).map((s) => s.raw.toString('utf8').replace(/\n?$/, '\n')));
    assert.ok(kept.every((s) => upstreamRaw.has(s.raw.toString('utf8').replace(/\n?$/, '\n'))));
    assert.ok(parseStanzas(upstream).length > kept.length);
    // The auditor's check of the published snapshot covers the filtered Translation against the proof's upstream copy.
    const v = await runCli(['verify', '--json', '--snapshot', `${f.h.url}/filti18n/${r.serial}/`, '--keyring', f.key.keyringPath]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const proof = bundleFromDeb(await readDeb(await readFile(tree('filti18n', r.serial, 'proof.deb'))));
    const i18n = proof.manifest.suites[0]!.indices.filter((i) => i.path.includes('/i18n/Translation-en'));
    assert.ok(i18n.some((i) => i.inProof) && i18n.some((i) => i.served === 'filtered' && i.servedInProof), JSON.stringify(i18n));
  });
});
