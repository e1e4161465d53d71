// Custom repositories: uploader rules, replay, immutability, .buildinfo, and hostile uploads.
// Each refusal: one error code, nothing published, nothing left in staging, an audit entry.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, existsSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { buildUpload, keyring, makeUploaderKey, putUpload, repositoryConfig, type UploaderKey } from './helpers/uploads.ts';
import { buildDeb } from '../server/debian/deb.ts';

describe('uploads to a custom repository', () => {
  let h: ServiceHarness;
  let dir: string;
  let alice: UploaderKey; // may upload anything
  let bob: UploaderKey; // may upload only "bobs-*" sources
  let stranger: UploaderKey; // not in the keyring
  let expired: UploaderKey; // in the keyring, expired now
  let token: string;
  // The service's clock: real time moved by `offset` (a fake clock for sessions and signature times).
  let offset = 0;
  const now = () => new Date(Date.now() + offset);

  const staged = () => {
    const root = join(h.dataDir, 'incoming', 'ours');
    return existsSync(root) ? readdirSync(root).flatMap((s) => readdirSync(join(root, s))) : [];
  };
  const serials = () => h.services.repo.listSerials('ours').length;
  const audits = (action: string) => h.services.db.prepare('SELECT * FROM audit_log WHERE action = ?').all(action) as Array<{ after: string }>;

  /** Uploads and asserts a refusal with `code`: nothing published, nothing staged, audited. */
  async function refused(files: string[], code: string, status?: number, session = 'x') {
    const before = serials();
    const refusals = audits('upload.refuse').length;
    const r = await putUpload(h.url, `/upload/ours/${session}`, token, files);
    assert.equal(r.body?.error?.code, code, JSON.stringify(r.body));
    if (status) assert.equal(r.status, status);
    assert.equal(serials(), before, 'nothing published');
    assert.deepEqual(staged(), [], 'nothing left in staging');
    assert.equal(audits('upload.refuse').length, refusals + 1);
    assert.equal(JSON.parse(audits('upload.refuse').at(-1)!.after).code, code);
  }

  before(async () => {
    dir = await tmpDir('af-upload-checks');
    alice = await makeUploaderKey('alice');
    bob = await makeUploaderKey('bob');
    stranger = await makeUploaderKey('stranger');
    expired = await makeUploaderKey('old', { date: new Date(Date.now() - 3 * 86400_000), expiresInSeconds: 86400 });
    const kr = keyring(dir, [alice, bob, expired]);
    const rules = [
      { suites: ['*'], sources: ['forbidden'], deny: ['*'] },
      { suites: ['*'], sources: ['bobs-*'], allow: ['team'] },
      { suites: ['*'], sources: ['*'], allow: [alice.fingerprint, expired.fingerprint] },
    ];
    h = await startService(
      dir,
      {
        archives: {},
        repositories: {
          ours: { ...repositoryConfig(kr, rules), uploaders: { keyring: kr, groups: { team: [bob.fingerprint, alice.fingerprint] }, rules }, maxUploadBytes: 200_000, maxControlBytes: 64 * 1024 },
          other: { ...repositoryConfig(kr, rules), uploaders: { keyring: kr, groups: { team: [bob.fingerprint] }, rules } },
        },
      },
      { now },
    );
    token = h.services.tokens.create('ci', 'uploader', now());
  });
  after(async () => h?.close());

  describe('rules', () => {
    it('accepts an allowed key: a serial, an audit entry naming the signer', async () => {
      const up = await buildUpload(alice, { source: 'hello', version: '1.0' });
      const r = await putUpload(h.url, '/upload/ours', token, up.files);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.upload.signer, alice.fingerprint);
      assert.match(r.body.upload.serial, /^\d{10}$/);
      assert.equal(serials(), 1);
      assert.equal(JSON.parse(audits('upload.accept').at(-1)!.after).signer, alice.fingerprint);
      assert.deepEqual(staged(), []);
    });
    it('accepts a group member for the sources its rule names', async () => {
      const up = await buildUpload(bob, { source: 'bobs-tool', version: '2.0' });
      const r = await putUpload(h.url, '/upload/ours', token, up.files);
      assert.equal(r.status, 201, JSON.stringify(r.body));
    });
    it('refuses a key the rules do not allow for this source (UPLOAD_DENIED)', async () => {
      await refused((await buildUpload(bob, { source: 'other-tool', version: '1.0' })).files, 'UPLOAD_DENIED', 403);
    });
    it('refuses what a deny rule names, even for an allowed key (UPLOAD_DENIED)', async () => {
      await refused((await buildUpload(alice, { source: 'forbidden', version: '1.0' })).files, 'UPLOAD_DENIED', 403);
    });
    it('refuses a key not in the uploaders keyring (UPLOAD_UNKNOWN_KEY)', async () => {
      await refused((await buildUpload(stranger, { source: 'hello', version: '9.0' })).files, 'UPLOAD_UNKNOWN_KEY', 403);
    });
    it('refuses a .changes signed before, replayed to another repository (UPLOAD_REPLAY)', async () => {
      const up = await buildUpload(alice, { source: 'replayed', version: '1.0' });
      assert.equal((await putUpload(h.url, '/upload/ours', token, up.files)).status, 201);
      const before = h.services.repo.listSerials('other').length;
      const r = await putUpload(h.url, '/upload/other', token, up.files);
      assert.equal(r.body?.error?.code, 'UPLOAD_REPLAY');
      assert.equal(h.services.repo.listSerials('other').length, before);
      assert.equal(JSON.parse(audits('upload.refuse').at(-1)!.after).code, 'UPLOAD_REPLAY');
    });
  });

  describe('immutability', () => {
    it('takes the same upload twice as a no-op: no new serial', async () => {
      const up = await buildUpload(alice, { source: 'twice', version: '1.0' });
      assert.equal((await putUpload(h.url, '/upload/ours', token, up.files)).status, 201);
      const before = serials();
      const again = await putUpload(h.url, '/upload/ours', token, up.files);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.upload.noop, true);
      assert.equal(serials(), before);
    });
    it('refuses the same version with other bytes with 409 when the .deb is uploaded', async () => {
      const other = await buildUpload(alice, { source: 'twice', version: '1.0', content: 'other bytes\n' });
      const before = serials();
      const deb = other.files.find((f) => f.endsWith('.deb'))!;
      const res = await fetch(`${h.url}/upload/ours/${deb.split('/').pop()}`, { method: 'PUT', body: readFileSync(deb), headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 409);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'CONFLICT');
      assert.equal(serials(), before);
      assert.deepEqual(staged(), []);
    });
  });

  describe('.buildinfo', () => {
    it('keeps and serves a matching .buildinfo, records Build-Tainted-By and the missing build dependencies', async () => {
      const up = await buildUpload(alice, { source: 'built', version: '1.0', taintedBy: ['usr-local-has-programs'], buildDepends: [{ name: 'gcc-12', version: '12.2.0-14' }] });
      const r = await putUpload(h.url, '/upload/ours', token, up.files);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      // No mirrored archive holds gcc-12 here: it is reported missing, not silently dropped.
      assert.deepEqual(r.body.upload.buildEnv, { serials: {}, missing: [{ name: 'gcc-12', version: '12.2.0-14' }] });
      const served = await fetch(`${h.url}/ours/buildinfo/b/built/built_1.0_amd64.buildinfo`);
      assert.equal(served.status, 200);
      assert.equal(await served.text(), readFileSync(up.buildinfo!, 'utf8'));
      const list = (await (await fetch(`${h.url}/api/repositories/ours/uploads`)).json()) as { uploads: Array<{ source: string; buildTaintedBy: string[] }> };
      assert.deepEqual(list.uploads.find((u) => u.source === 'built')!.buildTaintedBy, ['usr-local-has-programs']);
    });
    it('refuses a .buildinfo whose checksum is not the upload\'s (UPLOAD_HASH_MISMATCH)', async () => {
      const up = await buildUpload(alice, { source: 'badinfo', version: '1.0', editBuildinfo: (t) => t.replace(/^ [0-9a-f]{64} (\d+ badinfo_1\.0_amd64\.deb)$/m, ` ${'0'.repeat(64)} $1`) });
      await refused(up.files, 'UPLOAD_HASH_MISMATCH', 422);
    });
    it('refuses an upload without a .buildinfo when the repository requires one (UPLOAD_INCOMPLETE)', async () => {
      await refused((await buildUpload(alice, { source: 'noinfo', version: '1.0', withBuildinfo: false })).files, 'UPLOAD_INCOMPLETE', 422);
    });
  });

  describe('hostile uploads', () => {
    it('an unsigned .changes (UPLOAD_UNSIGNED)', async () => {
      await refused((await buildUpload(alice, { source: 'h-unsigned', version: '1.0', unsigned: true })).files, 'UPLOAD_UNSIGNED');
    });
    it('a .changes signed by an expired key (UPLOAD_KEY_EXPIRED)', async () => {
      await refused((await buildUpload(expired, { source: 'h-expired', version: '1.0', signDate: new Date(Date.now() - 2 * 86400_000 - 3600_000) })).files, 'UPLOAD_KEY_EXPIRED');
    });
    it('a signature older than the configured age (UPLOAD_SIGNATURE_AGE)', async () => {
      const old = await makeUploaderKey('alice-old', { date: new Date(Date.now() - 800 * 86400_000) });
      // A key made 800 days ago signing 400 days ago: the age is checked before anything else.
      await refused((await buildUpload(old, { source: 'h-old', version: '1.0', signDate: new Date(Date.now() - 400 * 86400_000) })).files, 'UPLOAD_SIGNATURE_AGE');
    });
    it('a signature from the future (UPLOAD_SIGNATURE_AGE)', async () => {
      offset = -3600_000;
      try {
        await refused((await buildUpload(alice, { source: 'h-future', version: '1.0' })).files, 'UPLOAD_SIGNATURE_AGE');
      } finally {
        offset = 0;
      }
    });
    it('a listed file missing (UPLOAD_INCOMPLETE)', async () => {
      const up = await buildUpload(alice, { source: 'h-missing', version: '1.0' });
      await refused(up.files.filter((f) => !f.endsWith('.deb')), 'UPLOAD_INCOMPLETE');
    });
    it('a listed file with another hash (UPLOAD_HASH_MISMATCH)', async () => {
      const up = await buildUpload(alice, { source: 'h-hash', version: '1.0' });
      writeFileSync(up.buildinfo!, readFileSync(up.buildinfo!, 'utf8') + 'X-Extra: changed\n');
      await refused(up.files, 'UPLOAD_HASH_MISMATCH');
    });
    it('an unlisted extra file (UPLOAD_UNLISTED)', async () => {
      const up = await buildUpload(alice, { source: 'h-extra', version: '1.0' });
      const extra = join(up.dir, 'extra.txt');
      writeFileSync(extra, 'not listed\n');
      await refused([extra, ...up.files], 'UPLOAD_UNLISTED');
    });
    it('a file name with a path (UNSAFE_PATH)', async () => {
      const up = await buildUpload(alice, { source: 'h-path', version: '1.0', editChanges: (t) => t.replace(/ (h-path_1\.0_amd64\.deb)$/gm, ' ../$1') });
      await refused(up.files, 'UNSAFE_PATH', 400);
    });
    it('a dot-name file (UNSAFE_PATH)', async () => {
      const before = serials();
      const res = await fetch(`${h.url}/upload/ours/x/.hidden.deb`, { method: 'PUT', body: 'x', headers: { authorization: `Bearer ${token}` } });
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UNSAFE_PATH');
      assert.equal(serials(), before);
      assert.deepEqual(staged(), []);
    });
    it('a .deb whose control disagrees with the .changes (UPLOAD_CONTROL_MISMATCH)', async () => {
      const up = await buildUpload(alice, { source: 'h-control', version: '1.0', editControl: (t) => t.replace('Version: 1.0', 'Version: 1.0').replace('Package: h-control', 'Package: h-control\nSource: someone-else') });
      await refused(up.files, 'UPLOAD_CONTROL_MISMATCH');
    });
    it('a .deb whose control member is a decompression bomb (PAYLOAD_TOO_LARGE)', async () => {
      const up = await buildUpload(alice, { source: 'h-bomb', version: '1.0', withBuildinfo: false });
      // A control.tar.gz that inflates to 8 MiB (over the 64 KiB cap), in a package of a few KiB.
      const bomb = await buildDeb({ control: 'Package: h-bomb\nVersion: 1.0\nArchitecture: amd64\nSource: h-bomb\nMaintainer: x <x@example.org>\nDescription: bomb\n', files: [], mtime: 0, compression: 'gz' });
      const { gzipSync } = await import('node:zlib');
      const { writeAr, readAr } = await import('../server/debian/ar.ts');
      const members = readAr(bomb).map((m) => (m.name.startsWith('control.tar') ? { name: 'control.tar.gz', data: gzipSync(Buffer.alloc(8 * 1024 * 1024)) } : m));
      writeFileSync(up.deb, writeAr(members, 0));
      const res = await fetch(`${h.url}/upload/ours/x/${up.deb.split('/').pop()}`, { method: 'PUT', body: readFileSync(up.deb), headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'PAYLOAD_TOO_LARGE');
      assert.deepEqual(staged(), []);
    });
    it('an upload over the size cap (PAYLOAD_TOO_LARGE)', async () => {
      const up = await buildUpload(alice, { source: 'h-big', version: '1.0', withBuildinfo: false });
      const big = join(up.dir, 'h-big_1.0.tar.xz');
      writeFileSync(big, Buffer.alloc(300_000, 1));
      await refused(up.files, 'PAYLOAD_TOO_LARGE', 413);
    });
    it('a Distribution that is not a suite (UPLOAD_BAD_SUITE)', async () => {
      await refused((await buildUpload(alice, { source: 'h-suite', version: '1.0', suite: 'nosuch' })).files, 'UPLOAD_BAD_SUITE', 422);
    });
    it('a .dsc signed by another key than the .changes (UPLOAD_SIGNER_MISMATCH)', async () => {
      await refused((await buildUpload(alice, { source: 'h-dsc', version: '1.0', dscSigner: bob })).files, 'UPLOAD_SIGNER_MISMATCH', 403);
    });
    it('no token (UNAUTHORIZED, with a Basic challenge for dput)', async () => {
      const res = await fetch(`${h.url}/upload/ours/a.deb`, { method: 'PUT', body: 'x' });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      assert.deepEqual(staged(), []);
    });
  });

  describe('the data directory', () => {
    it('stays consistent for fsck, buildinfo files and upload sessions included', async () => {
      const r = await h.cli(['fsck', '--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    });
  });

  describe('sessions', () => {
    it('removes an incomplete session once idle for the repository\'s sessionTimeout', async () => {
      const up = await buildUpload(alice, { source: 'idle', version: '1.0' });
      const r = await putUpload(h.url, '/upload/ours/idle', token, up.files.slice(0, 1));
      assert.equal(r.status, 201);
      assert.equal(staged().length, 1);
      offset = 2 * 3600_000;
      try {
        // Any request to the repository expires idle sessions first.
        await putUpload(h.url, '/upload/ours/other', token, up.files.slice(0, 1));
        assert.deepEqual(staged(), [up.files[0]!.split('/').pop()]);
      } finally {
        offset = 0;
      }
    });
  });
});
