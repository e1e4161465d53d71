// Acceptance 4 of custom repositories: eight uploads of different packages at once, from
// eight clients with tokens of their own: all eight published, none lost, and every serial's
// index lists exactly the packages accepted up to it (aptly lost some this way: #1125, #1376).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { buildUpload, keyring, makeUploaderKey, putUpload, repositoryConfig, type BuiltUpload } from './helpers/uploads.ts';

describe('when eight clients upload at once', () => {
  let h: ServiceHarness;
  let ups: BuiltUpload[];
  const tokens: string[] = [];

  before(async () => {
    const dir = await tmpDir('af-upload-concurrent');
    const key = await makeUploaderKey('team');
    const kr = keyring(dir, [key]);
    h = await startService(dir, { archives: {}, repositories: { ours: repositoryConfig(kr, [{ allow: [key.fingerprint] }]) } });
    ups = [];
    for (let i = 0; i < 8; i++) {
      ups.push(await buildUpload(key, { source: `pkg${i}`, version: `1.${i}` }));
      tokens.push(h.services.tokens.create(`client${i}`, 'uploader', new Date()));
    }
  });
  after(async () => h?.close());

  it('publishes all eight, and each serial lists exactly what was accepted before it', async (t) => {
    const results = await Promise.all(ups.map((u, i) => putUpload(h.url, '/upload/ours', tokens[i]!, u.files)));
    for (const r of results) assert.equal(r.status, 201, JSON.stringify(r.body));
    const serialOf = new Map(results.map((r, i) => [`pkg${i}`, r.body.upload.serial as string]));
    const serials = h.services.repo.listSerials('ours').map((s) => s.serial).sort();
    t.diagnostic(`8 uploads made ${serials.length} serial(s)`);
    // Uploads arriving together share a serial: fewer serials than uploads, never more.
    assert.ok(serials.length >= 1 && serials.length <= 8, `serials: ${serials.join(' ')}`);
    for (const s of serials) {
      const text = await (await fetch(`${h.url}/ours/${s}/dists/stable/main/binary-amd64/Packages`)).text();
      const listed = [...text.matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]).sort();
      const expected = [...serialOf].filter(([, at]) => at <= s).map(([p]) => p).sort();
      assert.deepEqual(listed, expected, `serial ${s}`);
    }
    const latest = await (await fetch(`${h.url}/ours/latest/dists/stable/main/binary-amd64/Packages`)).text();
    assert.equal([...latest.matchAll(/^Package: /gm)].length, 8);
  });
});
