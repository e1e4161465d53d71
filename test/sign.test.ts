// The service key and our own Release signatures: server/sign/key.ts and server/sign/signer.ts.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { fingerprintOf, readKeyring } from '../server/pgp/keyring.ts';
import { verifyDetached, verifyInRelease } from '../server/pgp/verify.ts';
import { loadOrCreateServiceKey, type ServiceKey } from '../server/sign/key.ts';
import { signRelease } from '../server/sign/signer.ts';
import { gpgv, tmpDir } from './helpers/gpg.ts';

const RELEASE = [
  'Origin: aptfreeze',
  'Label: debian',
  'Suite: bookworm',
  'Codename: bookworm',
  'Date: Thu, 27 Nov 2025 06:00:00 UTC',
  'Valid-Until: Sun, 07 Dec 2025 06:00:00 UTC',
  'Architectures: amd64',
  'Components: main',
  'Acquire-By-Hash: yes',
  'SHA256:',
  ' 0f6a7b1b8c1d9e2f30415263748596a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d  1234 main/binary-amd64/Packages',
  '',
].join('\n');

const hasGpgv = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v gpgv'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const noGpgv = hasGpgv ? false : 'gpgv not installed';

const mode = async (p: string) => (await stat(p)).mode & 0o777;

/** gpgv -o -: the text gpgv says is signed. */
function gpgvOutput(home: string, keyring: string, file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('gpgv', ['--homedir', home, '--keyring', keyring, '-o', '-', file], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, stdout, stderr }),
    );
  });
}

describe('loadOrCreateServiceKey', () => {
  it('creates the private key 0600 in a 0700 directory, and public .asc / .gpg 0644', async () => {
    const keysDir = path.join(await tmpDir('af-sign-keys'), 'keys');
    const key = await loadOrCreateServiceKey(keysDir);
    assert.equal(await mode(keysDir), 0o700);
    assert.equal(await mode(path.join(keysDir, 'private.asc')), 0o600);
    assert.equal(await mode(path.join(keysDir, 'aptfreeze.asc')), 0o644);
    assert.equal(await mode(path.join(keysDir, 'aptfreeze.gpg')), 0o644);
    assert.match(key.fingerprint, /^[0-9A-F]{40}$/);
    assert.equal(await readFile(path.join(keysDir, 'aptfreeze.asc'), 'utf8'), key.armoredPublic);
    assert.deepEqual(new Uint8Array(await readFile(path.join(keysDir, 'aptfreeze.gpg'))), key.binaryPublic);
    const [fromGpg] = await readKeyring(await readFile(path.join(keysDir, 'aptfreeze.gpg')));
    assert.equal(fingerprintOf(fromGpg!), key.fingerprint);
    const [fromAsc] = await readKeyring(await readFile(path.join(keysDir, 'aptfreeze.asc')));
    assert.equal(fingerprintOf(fromAsc!), key.fingerprint);
    assert.match(await readFile(path.join(keysDir, 'private.asc'), 'utf8'), /^-----BEGIN PGP PRIVATE KEY BLOCK-----/);
  });

  it('makes a v4 ed25519 key with no expiry and the default user id', async () => {
    const key = await loadOrCreateServiceKey(path.join(await tmpDir('af-sign-keys'), 'k'));
    assert.equal(key.privateKey.keyPacket.version, 4);
    assert.equal(key.privateKey.getAlgorithmInfo().algorithm, 'eddsaLegacy');
    assert.equal(await key.publicKey.getExpirationTime(), Infinity);
    assert.deepEqual(key.publicKey.getUserIDs(), ['aptfreeze signing key <aptfreeze@localhost>']);
    assert.equal(key.privateKey.isDecrypted(), true);
  });

  it('takes a user id option', async () => {
    const key = await loadOrCreateServiceKey(path.join(await tmpDir('af-sign-keys'), 'k'), { userId: 'Example Snapshots <snapshots@example.org>' });
    assert.deepEqual(key.publicKey.getUserIDs(), ['Example Snapshots <snapshots@example.org>']);
  });

  it('reloads the same key on a second call and never rewrites the private key', async () => {
    const keysDir = await tmpDir('af-sign-keys');
    const first = await loadOrCreateServiceKey(keysDir);
    const privateBefore = await readFile(path.join(keysDir, 'private.asc'));
    const second = await loadOrCreateServiceKey(keysDir, { userId: 'Someone Else <else@example.org>' });
    assert.equal(second.fingerprint, first.fingerprint);
    assert.deepEqual(await readFile(path.join(keysDir, 'private.asc')), privateBefore);
    assert.equal(second.armoredPublic, first.armoredPublic);
  });

  it('makes one key when called concurrently', async () => {
    const keysDir = await tmpDir('af-sign-keys');
    const keys = await Promise.all([loadOrCreateServiceKey(keysDir), loadOrCreateServiceKey(keysDir), loadOrCreateServiceKey(keysDir)]);
    assert.equal(new Set(keys.map((k) => k.fingerprint)).size, 1);
  });

  it('rewrites missing public key files from the private key', async () => {
    const keysDir = await tmpDir('af-sign-keys');
    const key = await loadOrCreateServiceKey(keysDir);
    await writeFile(path.join(keysDir, 'aptfreeze.asc'), 'stale');
    await chmod(path.join(keysDir, 'aptfreeze.asc'), 0o600);
    await loadOrCreateServiceKey(keysDir);
    assert.equal(await readFile(path.join(keysDir, 'aptfreeze.asc'), 'utf8'), key.armoredPublic);
    assert.equal(await mode(path.join(keysDir, 'aptfreeze.asc')), 0o644);
  });

  it('refuses a private key readable by group or others as CONFIG_INVALID', async () => {
    const keysDir = await tmpDir('af-sign-keys');
    await loadOrCreateServiceKey(keysDir);
    await chmod(path.join(keysDir, 'private.asc'), 0o644);
    await assert.rejects(loadOrCreateServiceKey(keysDir), { code: 'CONFIG_INVALID' });
    await chmod(path.join(keysDir, 'private.asc'), 0o640);
    await assert.rejects(loadOrCreateServiceKey(keysDir), { code: 'CONFIG_INVALID' });
  });

  it('refuses an unreadable or passphrase-protected private key as CONFIG_INVALID', async () => {
    const keysDir = await tmpDir('af-sign-keys');
    await writeFile(path.join(keysDir, 'private.asc'), 'garbage\n', { mode: 0o600 });
    await assert.rejects(loadOrCreateServiceKey(keysDir), { code: 'CONFIG_INVALID' });

    const { privateKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'ed25519Legacy',
      userIDs: [{ name: 'locked', email: 'locked@example.org' }],
      passphrase: 'secret',
    });
    await writeFile(path.join(keysDir, 'private.asc'), privateKey, { mode: 0o600 });
    await assert.rejects(loadOrCreateServiceKey(keysDir), { code: 'CONFIG_INVALID' });
  });
});

describe('signRelease', () => {
  let key: ServiceKey;
  let dir: string;
  let keyring: string;
  let gpgvHome: string;
  before(async () => {
    dir = await tmpDir('af-sign');
    key = await loadOrCreateServiceKey(path.join(dir, 'keys'));
    keyring = path.join(dir, 'keys', 'aptfreeze.gpg');
    gpgvHome = await tmpDir('af-sign-gpgv');
  });

  it('writes an InRelease that gpgv accepts with our binary keyring', { skip: noGpgv }, async () => {
    const { inRelease } = await signRelease(key, RELEASE);
    const file = path.join(dir, 'InRelease');
    await writeFile(file, inRelease);
    const res = await gpgv(keyring, file);
    assert.equal(res.ok, true, res.output);
    assert.match(res.output, new RegExp(`VALIDSIG ${key.fingerprint} `));
    const out = await gpgvOutput(gpgvHome, keyring, file);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, RELEASE, 'the text gpgv says is signed is the Release text');
  });

  it('writes a Release.gpg that gpgv accepts for the Release', { skip: noGpgv }, async () => {
    const { releaseGpg } = await signRelease(key, RELEASE);
    await writeFile(path.join(dir, 'Release'), RELEASE);
    await writeFile(path.join(dir, 'Release.gpg'), releaseGpg);
    const res = await gpgv(keyring, path.join(dir, 'Release.gpg'), path.join(dir, 'Release'));
    assert.equal(res.ok, true, res.output);
    assert.match(res.output, new RegExp(`VALIDSIG ${key.fingerprint} `));
    await writeFile(path.join(dir, 'Release'), RELEASE.replace('bookworm', 'trixie'));
    const bad = await gpgv(keyring, path.join(dir, 'Release.gpg'), path.join(dir, 'Release'));
    assert.equal(bad.ok, false);
  });

  it('follows gpg --clearsign layout: LF only, text then the signature block', async () => {
    const { inRelease, releaseGpg } = await signRelease(key, RELEASE);
    assert.equal(inRelease.includes('\r'), false);
    assert.equal(releaseGpg.includes('\r'), false);
    assert.match(inRelease, /^-----BEGIN PGP SIGNED MESSAGE-----\nHash: [A-Z0-9]+\n\n/);
    assert.ok(inRelease.includes(`\n\n${RELEASE}-----BEGIN PGP SIGNATURE-----\n`));
    assert.ok(inRelease.endsWith('-----END PGP SIGNATURE-----\n'));
    assert.match(releaseGpg, /^-----BEGIN PGP SIGNATURE-----\n[\s\S]*-----END PGP SIGNATURE-----\n$/);
  });

  it('is accepted by our own verify, which returns the input text', async () => {
    const { inRelease, releaseGpg } = await signRelease(key, RELEASE);
    const policy = { now: new Date(), requireValidNow: true };
    const inr = await verifyInRelease(inRelease, [key.publicKey], policy);
    assert.equal(inr.text, RELEASE);
    assert.deepEqual(inr.signers.map((s) => s.fingerprint), [key.fingerprint]);
    const det = await verifyDetached(RELEASE, releaseGpg, [key.publicKey], policy);
    assert.equal(det.text, RELEASE);
    assert.deepEqual(det.signers.map((s) => s.fingerprint), [key.fingerprint]);
  });

  it('dates the signature with the given date and gives the same bytes for the same date', async () => {
    const date = new Date(Math.ceil((key.privateKey.getCreationTime().getTime() + 1000) / 1000) * 1000);
    const a = await signRelease(key, RELEASE, date);
    const b = await signRelease(key, RELEASE, date);
    assert.equal(a.inRelease, b.inRelease);
    assert.equal(a.releaseGpg, b.releaseGpg);
    const res = await verifyInRelease(a.inRelease, [key.publicKey], { now: new Date(), requireValidNow: true });
    assert.equal(res.signers[0]!.created.getTime(), date.getTime());
    const later = await signRelease(key, RELEASE, new Date(date.getTime() + 1000));
    assert.notEqual(later.inRelease, a.inRelease);
  });

  it('round-trips a text with dash lines through gpgv', { skip: noGpgv }, async () => {
    const text = 'Origin: x\n-----BEGIN PGP SIGNATURE-----\n- dash\nLabel: y\n';
    const { inRelease } = await signRelease(key, text);
    const file = path.join(dir, 'InRelease-dash');
    await writeFile(file, inRelease);
    const out = await gpgvOutput(gpgvHome, keyring, file);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, text);
    assert.equal((await verifyInRelease(inRelease, [key.publicKey], { now: new Date(), requireValidNow: true })).text, text);
  });

  it('refuses text a clearsignature would change, and a date before the key existed', async () => {
    await assert.rejects(signRelease(key, RELEASE.slice(0, -1)), { code: 'INTERNAL' });
    await assert.rejects(signRelease(key, RELEASE.replace('Label: debian', 'Label: debian ')), { code: 'INTERNAL' });
    await assert.rejects(signRelease(key, RELEASE.replace(/\n/g, '\r\n')), { code: 'INTERNAL' });
    await assert.rejects(signRelease(key, RELEASE, new Date('2001-01-01T00:00:00Z')), { code: 'INTERNAL' });
  });
});
