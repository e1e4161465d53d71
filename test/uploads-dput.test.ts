// Acceptance 1 of custom repositories: the real dput uploads a signed source + binary upload
// over its http method, a new serial appears, the real apt-get installs the package from it
// trusting only the service key, and `verify --proof` follows the .deb to the uploader's key.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { createAptClient } from './helpers/apt.ts';
import { buildUpload, keyring, makeGpgUploader, repositoryConfig } from './helpers/uploads.ts';

function dput(cfgFile: string, changes: string, password: string, gnupgHome: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    // detached: a session of its own, no controlling terminal, so getpass reads the password from stdin.
    const child = spawn('dput', ['-c', cfgFile, 'aptfreeze', changes], { env: { ...process.env, GNUPGHOME: gnupgHome, LC_ALL: 'C.UTF-8' }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.stdin.end(`${password}\n`);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

describe('when an uploader runs dput against a repository', () => {
  let h: ServiceHarness;
  let dir: string;
  let uploader: ReturnType<typeof makeGpgUploader>;
  let token: string;

  before(async () => {
    dir = await tmpDir('af-dput');
    uploader = makeGpgUploader('alice');
    const kr = keyring(dir, [uploader]);
    h = await startService(dir, { archives: {}, repositories: { ours: repositoryConfig(kr, [{ suites: ['*'], sources: ['*'], allow: [uploader.fingerprint] }]) } });
    token = h.services.tokens.create('alice', 'uploader', new Date());
  });
  after(async () => h?.close());

  it('publishes a serial that apt-get installs from and verify --proof checks back to the uploader key', async () => {
    const up = await buildUpload(uploader, { source: 'greeter', version: '1.0' });
    const cfg = join(dir, 'dput.cf');
    writeFileSync(cfg, `[aptfreeze]\nfqdn = ${h.url.replace(/^http:\/\//, '')}\nmethod = http\nincoming = /upload/ours\nlogin = alice\nallow_unsigned_uploads = 0\n`);
    const r = await dput(cfg, up.changes, token, uploader.home);
    assert.equal(r.code, 0, r.out);
    const serials = h.services.repo.listSerials('ours');
    assert.equal(serials.length, 1);
    const serial = serials[0]!.serial;
    // The token never reaches the audit log.
    const audit = JSON.stringify(h.services.db.prepare('SELECT * FROM audit_log').all());
    assert.ok(!audit.includes(token));
    assert.match(audit, /upload\.accept/);

    const apt = createAptClient(join(dir, 'apt'), { sourcesLine: `deb [signed-by=${join(h.dataDir, 'keys', 'aptfreeze.gpg')}] ${h.url}/ours/${serial}/ stable main` });
    const u = await apt.update();
    assert.equal(u.code, 0, u.stderr);
    const inst = await apt.install(['greeter'], join(dir, 'root'));
    assert.equal(inst.code, 0, inst.stdout + inst.stderr);
    assert.ok(existsSync(join(dir, 'root', 'usr', 'share', 'doc', 'greeter', 'README')));

    const proof = join(dir, 'proof.deb');
    writeFileSync(proof, Buffer.from(await (await fetch(`${h.url}/ours/${serial}/proof.deb`)).arrayBuffer()));
    const v = await h.cli(['verify', '--proof', proof, '--keyring', join(dir, 'uploaders.gpg'), up.deb]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /uploader-signature/);
    assert.ok(readFileSync(up.deb).length > 0);
  });
});
