// Acceptance 6 of custom repositories (the resolving part): an upload's .buildinfo
// Installed-Build-Depends resolved against a mirrored archive's serials: the newest serial
// holding every dependency at its exact version, and the ones no serial holds listed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tmpDir } from './helpers/gpg.ts';
import { proofFixture, fixtureSuites, PACKAGES, type ProofFixture } from './helpers/proof-fixture.ts';
import { buildUpload, keyring, makeUploaderKey, putUpload, repositoryConfig, type UploaderKey } from './helpers/uploads.ts';

describe('when an upload names its build dependencies', () => {
  let f: ProofFixture;
  let key: UploaderKey;
  let token: string;
  const S: string[] = [];

  before(async () => {
    key = await makeUploaderKey('builder');
    const kr = keyring(await tmpDir('af-bi-keys'), [key]);
    f = await proofFixture('af-buildinfo', { config: { repositories: { ours: repositoryConfig(kr, [{ allow: [key.fingerprint] }]) } } });
    S.push((await f.snapshot('debian')).serial);
    // The next serial has bar 0.9-3 instead of 0.9-2.
    await f.rebuild(fixtureSuites(PACKAGES.map((p) => (p.name === 'bar' ? { ...p, version: '0.9-3' } : p))));
    S.push((await f.snapshot('debian')).serial);
    token = f.h.services.tokens.create('builder', 'uploader', new Date());
  });
  after(async () => f?.close());

  it('records the newest serial holding every dependency at its exact version', async () => {
    const up = await buildUpload(key, { source: 'needs-old-bar', version: '1.0', buildDepends: [{ name: 'hello', version: '2.10-3' }, { name: 'bar', version: '0.9-2' }] });
    const r = await putUpload(f.h.url, '/upload/ours', token, up.files);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body.upload.buildEnv, { serials: { debian: S[0] }, missing: [] });
  });

  it('takes the newest serial when every one holds the dependencies', async () => {
    const up = await buildUpload(key, { source: 'needs-new-bar', version: '1.0', buildDepends: [{ name: 'hello', version: '2.10-3' }, { name: 'bar', version: '0.9-3' }] });
    const r = await putUpload(f.h.url, '/upload/ours', token, up.files);
    assert.deepEqual(r.body.upload.buildEnv, { serials: { debian: S[1] }, missing: [] });
  });

  it('lists a dependency no mirrored serial holds', async () => {
    const up = await buildUpload(key, { source: 'needs-missing', version: '1.0', buildDepends: [{ name: 'hello', version: '2.10-3' }, { name: 'gcc-99', version: '1' }] });
    const r = await putUpload(f.h.url, '/upload/ours', token, up.files);
    assert.deepEqual(r.body.upload.buildEnv, { serials: { debian: S[1] }, missing: [{ name: 'gcc-99', version: '1' }] });
    const list = (await (await fetch(`${f.h.url}/api/repositories/ours/uploads`)).json()) as { uploads: Array<{ source: string; buildEnv: unknown }> };
    assert.deepEqual(list.uploads.find((u) => u.source === 'needs-missing')!.buildEnv, r.body.upload.buildEnv);
  });
});
