// Acceptance 5 of custom repositories: an upload to an overlay suite, its diff against the base,
// a merge into the base, a refused downgrade (then a forced one), a reset; all with the real CLI
// (`aptfreeze upload` locally and with --server, `aptfreeze suite ...`), all audited.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { buildUpload, keyring, makeUploaderKey, repositoryConfig, type UploaderKey } from './helpers/uploads.ts';

describe('branch overlays of a custom repository', () => {
  let h: ServiceHarness;
  let key: UploaderKey;
  let token: string;
  const versions = async (suite: string) => {
    const text = await (await fetch(`${h.url}/ours/latest/dists/${suite}/main/binary-amd64/Packages`)).text();
    return [...text.matchAll(/^Version: (\S+)$/gm)].map((m) => m[1]).sort();
  };

  before(async () => {
    const dir = await tmpDir('af-overlay');
    key = await makeUploaderKey('rel');
    h = await startService(dir, { archives: {}, repositories: { ours: repositoryConfig(keyring(dir, [key]), [{ allow: [key.fingerprint] }]) } });
    token = h.services.tokens.create('rel', 'uploader', new Date());
  });
  after(async () => h?.close());

  it('uploads to an overlay, shows the diff, merges, refuses a downgrade unless forced, resets', async () => {
    const base = await buildUpload(key, { source: 'live-build', version: '1.0' });
    let r = await h.cli(['upload', 'ours', base.changes]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await versions('stable'), ['1.0']);

    r = await h.cli(['suite', 'create', 'ours', 'feature-x', '--base', 'stable']);
    assert.equal(r.code, 0, r.stderr);
    const topic = await buildUpload(key, { source: 'live-build', version: '1.1', suite: 'feature-x' });
    r = await h.cli(['upload', 'ours', topic.changes, '--server', h.url], { APTFREEZE_TOKEN: token });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await versions('feature-x'), ['1.1']);
    assert.deepEqual(await versions('stable'), ['1.0'], 'the base is untouched until the merge');

    r = await h.cli(['suite', 'diff', 'ours', 'stable', 'feature-x']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '~ live-build amd64 1.0 -> 1.1 (upgrade)\n~ live-build source 1.0 -> 1.1 (upgrade)\n');

    r = await h.cli(['suite', 'merge', 'ours', 'feature-x']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await versions('stable'), ['1.1']);

    r = await h.cli(['suite', 'create', 'ours', 'revert-y', '--base', 'stable']);
    assert.equal(r.code, 0, r.stderr);
    const older = await buildUpload(key, { source: 'live-build', version: '0.9', suite: 'revert-y' });
    assert.equal((await h.cli(['upload', 'ours', older.changes])).code, 0);
    const serialsBefore = h.services.repo.listSerials('ours').length;
    r = await h.cli(['suite', 'merge', 'ours', 'revert-y']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^aptfreeze: DOWNGRADE: /);
    assert.equal(h.services.repo.listSerials('ours').length, serialsBefore, 'nothing published');
    assert.deepEqual(await versions('stable'), ['1.1']);
    r = await h.cli(['suite', 'merge', 'ours', 'revert-y', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await versions('stable'), ['0.9']);

    r = await h.cli(['suite', 'reset', 'ours', 'revert-y']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await versions('revert-y'), []);

    const actions = (h.services.db.prepare("SELECT action FROM audit_log WHERE action LIKE 'suite.%' ORDER BY id").pluck().all() as string[]);
    assert.deepEqual(actions, ['suite.create', 'suite.merge', 'suite.create', 'suite.merge', 'suite.reset']);
  });
});
