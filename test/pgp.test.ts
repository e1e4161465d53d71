// Upstream keyrings and Release signatures: server/pgp/keyring.ts and server/pgp/verify.ts.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { fingerprintOf, readKeyring } from '../server/pgp/keyring.ts';
import { verifyDetached, verifyInRelease, type SignaturePolicy } from '../server/pgp/verify.ts';
import { tmpDir } from './helpers/gpg.ts';

const DAY = 86_400_000;
const NOW = new Date();
const atSnapshot: SignaturePolicy = { now: NOW, requireValidNow: true };
const forAudit: SignaturePolicy = { now: NOW, requireValidNow: false };

const RELEASE = [
  'Origin: Debian',
  'Label: Debian',
  'Suite: stable',
  'Codename: bookworm',
  'Date: Sat, 04 Oct 2025 09:00:00 UTC',
  'Architectures: amd64',
  'Components: main',
  'Description: Debian 12 test fixture',
  'SHA256:',
  ' 0f6a7b1b8c1d9e2f30415263748596a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d  1234 main/binary-amd64/Packages',
  '',
].join('\n');

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

type Pair = { privateKey: openpgp.PrivateKey; publicKey: openpgp.PublicKey };

async function ed25519(name: string, opts: { date?: Date; keyExpirationTime?: number } = {}): Promise<Pair> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name, email: `${name}@example.org` }],
    format: 'object',
    ...opts,
  });
  return { privateKey, publicKey };
}

/** Clearsigned the way gpg does it: the text without its final newline, LF line ends. */
async function clearsign(text: string, signers: openpgp.PrivateKey[], date?: Date): Promise<string> {
  const message = await openpgp.createCleartextMessage({ text: text.replace(/\n$/, '') });
  const armored = await openpgp.sign({ message, signingKeys: signers, date });
  return armored.replace(/\r\n/g, '\n');
}

async function detachSign(text: string, signers: openpgp.PrivateKey[], format: 'armored' | 'binary', date?: Date) {
  const message = await openpgp.createMessage({ binary: new TextEncoder().encode(text) });
  if (format === 'binary') return openpgp.sign({ message, signingKeys: signers, detached: true, date, format: 'binary' });
  return openpgp.sign({ message, signingKeys: signers, detached: true, date, format: 'armored' });
}

/** One clearsigned message carrying the signatures of several clearsigned messages of the same text (made at different dates). */
async function combineClearsigned(text: string, messages: string[]): Promise<string> {
  const hashes = new Set<string>();
  const parts: Uint8Array[] = [];
  for (const m of messages) {
    for (const h of m.match(/^Hash: (.+)$/gm) ?? []) for (const a of h.slice(6).split(',')) hashes.add(a.trim());
    const block = m.slice(m.indexOf('-----BEGIN PGP SIGNATURE-----'));
    const sig = await openpgp.readSignature({ armoredSignature: block });
    parts.push(sig.write() as Uint8Array);
  }
  const armoredSig = openpgp.armor(openpgp.enums.armor.signature, Buffer.concat(parts));
  return `-----BEGIN PGP SIGNED MESSAGE-----\nHash: ${[...hashes].join(',')}\n\n${text.replace(/\n$/, '')}\n${armoredSig}`.replace(/\r\n/g, '\n');
}

const keyIdOf = (k: openpgp.Key) => k.getKeyID().toHex().toUpperCase();

let rsa: Pair; // the upstream archive key (Debian's are RSA)
let other: Pair; // an unrelated key, not in the keyring
let expired: Pair; // valid 400..370 days ago, expired since
let revoked: Pair; // made 10 days ago, retired (soft revocation) yesterday
let compromised: openpgp.PublicKey; // the same key, hard-revoked yesterday
let reformatted: Pair; // a key whose only self-signature expired long before it signed
let expiredSignedText: string;
let revokedSignedText: string;
let lateSignedText: string;

before(async () => {
  const t0 = Date.now();
  rsa = await openpgp
    .generateKey({ type: 'rsa', rsaBits: 2048, userIDs: [{ name: 'Upstream Archive', email: 'archive@example.org' }], format: 'object' })
    .then(({ privateKey, publicKey }) => ({ privateKey, publicKey }));
  other = await ed25519('other');

  const born = new Date(NOW.getTime() - 400 * DAY);
  expired = await ed25519('expired', { date: born, keyExpirationTime: 30 * 86_400 });
  expiredSignedText = await clearsign(RELEASE, [expired.privateKey], new Date(born.getTime() + DAY));

  revoked = await ed25519('revoked', { date: new Date(NOW.getTime() - 10 * DAY) });
  revokedSignedText = await clearsign(RELEASE, [revoked.privateKey], new Date(NOW.getTime() - 5 * DAY));
  // A soft revocation (key retired) applies from its date on; a hard one (no reason, or compromised) applies
  // to every signature the key ever made (RFC 4880 5.2.3.23), as openpgp implements it.
  const retire = await openpgp.revokeKey({
    key: revoked.privateKey,
    reasonForRevocation: { flag: openpgp.enums.reasonForRevocation.keyRetired, string: 'rotated' },
    date: new Date(NOW.getTime() - DAY),
    format: 'object',
  });
  const compromise = await openpgp.revokeKey({
    key: revoked.privateKey,
    reasonForRevocation: { flag: openpgp.enums.reasonForRevocation.keyCompromised },
    date: new Date(NOW.getTime() - DAY),
    format: 'object',
  });
  compromised = compromise.publicKey;
  revoked = { privateKey: retire.privateKey, publicKey: retire.publicKey };

  // Same key material, re-certified with a one-day lifetime from its birth: its signature 100 days later
  // was made by a key that had expired at the time.
  const late = await ed25519('late', { date: born });
  lateSignedText = await clearsign(RELEASE, [late.privateKey], new Date(born.getTime() + 100 * DAY));
  const re = await openpgp.reformatKey({
    privateKey: late.privateKey,
    userIDs: [{ name: 'late', email: 'late@example.org' }],
    keyExpirationTime: 86_400,
    date: born,
    format: 'object',
  });
  reformatted = { privateKey: re.privateKey, publicKey: re.publicKey };
  process.stderr.write(`# pgp fixtures made in ${Date.now() - t0} ms\n`);
});

describe('readKeyring', () => {
  it('reads every key of a binary keyring of concatenated keys', async () => {
    const bytes = Buffer.concat([rsa.publicKey.write(), other.publicKey.write(), expired.publicKey.write()]);
    const keys = await readKeyring(bytes);
    assert.deepEqual(keys.map(fingerprintOf), [rsa.publicKey, other.publicKey, expired.publicKey].map(fingerprintOf));
  });

  it('reads every block of an armored keyring, not only the first', async () => {
    const text = `# upstream keys\n${rsa.publicKey.armor()}\nsome comment between blocks\n${other.publicKey.armor()}`;
    const keys = await readKeyring(new TextEncoder().encode(text));
    assert.deepEqual(keys.map(fingerprintOf), [fingerprintOf(rsa.publicKey), fingerprintOf(other.publicKey)]);
  });

  it('keeps only the public part of an armored private key', async () => {
    const keys = await readKeyring(new TextEncoder().encode(other.privateKey.armor()));
    assert.equal(keys.length, 1);
    assert.equal(keys[0]!.isPrivate(), false);
    assert.equal(fingerprintOf(keys[0]!), fingerprintOf(other.publicKey));
  });

  it('gives 40 upper-case hex digits as the fingerprint', () => {
    assert.match(fingerprintOf(rsa.publicKey), /^[0-9A-F]{40}$/);
  });

  it('refuses an empty, a truncated and a garbage keyring as MALFORMED', async () => {
    await assert.rejects(readKeyring(new Uint8Array()), { code: 'MALFORMED' });
    await assert.rejects(readKeyring(new TextEncoder().encode('not a keyring\n')), { code: 'MALFORMED' });
    await assert.rejects(readKeyring(new Uint8Array([0x99, 0x01, 0x0d, 0x04, 0x00])), { code: 'MALFORMED' });
    const armored = rsa.publicKey.armor();
    await assert.rejects(readKeyring(new TextEncoder().encode(armored.slice(0, armored.length / 2))), { code: 'MALFORMED' });
    await assert.rejects(
      readKeyring(new TextEncoder().encode('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n')),
      { code: 'MALFORMED' },
    );
  });

  const debianKeyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  it('reads the Debian archive keyring', { skip: existsSync(debianKeyring) ? false : `${debianKeyring} not present` }, async () => {
    const keys = await readKeyring(await readFile(debianKeyring));
    assert.ok(keys.length > 1, `expected several keys, got ${keys.length}`);
    for (const k of keys) assert.match(fingerprintOf(k), /^[0-9A-F]{40}$/);
  });
});

describe('verifyInRelease', () => {
  it('accepts a good signature and returns the signed text with one final newline', async () => {
    const inRelease = await clearsign(RELEASE, [rsa.privateKey]);
    const res = await verifyInRelease(inRelease, [rsa.publicKey], atSnapshot);
    assert.equal(res.text, RELEASE);
    assert.equal(res.signers.length, 1);
    assert.equal(res.signers[0]!.fingerprint, fingerprintOf(rsa.publicKey));
    assert.equal(res.signers[0]!.keyId, keyIdOf(rsa.publicKey));
    assert.equal(res.signers[0]!.validWhenSigned, true);
    assert.equal(res.signers[0]!.expiredNow, false);
    assert.deepEqual(res.unknownSigners, []);
  });

  it('accepts bytes as well as a string', async () => {
    const inRelease = await clearsign(RELEASE, [rsa.privateKey]);
    const res = await verifyInRelease(new TextEncoder().encode(inRelease), [rsa.publicKey], atSnapshot);
    assert.equal(res.text, RELEASE);
  });

  it('accepts several signatures where one signer is unknown, and lists the unknown one', async () => {
    const inRelease = await clearsign(RELEASE, [rsa.privateKey, other.privateKey]);
    const res = await verifyInRelease(inRelease, [rsa.publicKey], atSnapshot);
    assert.deepEqual(res.signers.map((s) => s.fingerprint), [fingerprintOf(rsa.publicKey)]);
    assert.deepEqual(res.unknownSigners, [keyIdOf(other.publicKey)]);
  });

  it('reports every signer that is in the keyring', async () => {
    const inRelease = await clearsign(RELEASE, [rsa.privateKey, other.privateKey]);
    const res = await verifyInRelease(inRelease, [other.publicKey, rsa.publicKey], atSnapshot);
    assert.deepEqual(res.signers.map((s) => s.fingerprint).sort(), [rsa.publicKey, other.publicKey].map(fingerprintOf).sort());
  });

  it('returns the text apt reads: dash-escaping undone, trailing blanks and CRs dropped', async () => {
    const text = 'Origin: x\n-dash line\nLabel: y\n';
    const inRelease = (await clearsign(text, [rsa.privateKey])).replace('Label: y', 'Label: y  \r');
    assert.ok(inRelease.includes('- -dash line'));
    const res = await verifyInRelease(inRelease, [rsa.publicKey], atSnapshot);
    assert.equal(res.text, text);
  });

  it('refuses tampered text as UPSTREAM_BAD_SIGNATURE', async () => {
    const inRelease = await clearsign(RELEASE, [rsa.privateKey]);
    const tampered = inRelease.replace('Label: Debian', 'Label: Debiam');
    assert.notEqual(tampered, inRelease);
    await assert.rejects(verifyInRelease(tampered, [rsa.publicKey], atSnapshot), { code: 'UPSTREAM_BAD_SIGNATURE' });
    await assert.rejects(verifyInRelease(tampered, [rsa.publicKey], forAudit), { code: 'UPSTREAM_BAD_SIGNATURE' });
  });

  it('refuses tampered text even when another signature is by an unknown key', async () => {
    const inRelease = await clearsign(RELEASE, [other.privateKey, rsa.privateKey]);
    const tampered = inRelease.replace(' 1234 ', ' 1235 ');
    await assert.rejects(verifyInRelease(tampered, [rsa.publicKey], atSnapshot), { code: 'UPSTREAM_BAD_SIGNATURE' });
  });

  it('refuses a file where one keyring signature matches and another does not, as UPSTREAM_BAD_SIGNATURE', async () => {
    const good = await clearsign(RELEASE, [rsa.privateKey]);
    const forOtherText = await clearsign(RELEASE.replace('stable', 'testing'), [other.privateKey]);
    const mixed = await combineClearsigned(RELEASE, [good, forOtherText]);
    assert.equal((await verifyInRelease(mixed, [rsa.publicKey], atSnapshot)).signers.length, 1, 'fine while the second signer is unknown');
    await assert.rejects(verifyInRelease(mixed, [rsa.publicKey, other.publicKey], atSnapshot), { code: 'UPSTREAM_BAD_SIGNATURE' });

    const sigGood = (await detachSign(RELEASE, [rsa.privateKey], 'binary')) as Uint8Array;
    const sigBad = (await detachSign(`${RELEASE}X`, [other.privateKey], 'binary')) as Uint8Array;
    const both = Buffer.concat([sigGood, sigBad]);
    await assert.rejects(verifyDetached(RELEASE, both, [rsa.publicKey, other.publicKey], atSnapshot), { code: 'UPSTREAM_BAD_SIGNATURE' });
  });

  it('refuses text that is not clearsigned, or whose signature is missing or empty, as UPSTREAM_UNSIGNED', async () => {
    await assert.rejects(verifyInRelease(RELEASE, [rsa.publicKey], atSnapshot), { code: 'UPSTREAM_UNSIGNED' });
    await assert.rejects(verifyInRelease('', [rsa.publicKey], atSnapshot), { code: 'UPSTREAM_UNSIGNED' });
    const noSig = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n${RELEASE}`;
    await assert.rejects(verifyInRelease(noSig, [rsa.publicKey], atSnapshot), { code: 'UPSTREAM_UNSIGNED' });
    const emptySig = `${noSig.slice(0, -1)}\n-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n`;
    await assert.rejects(verifyInRelease(emptySig, [rsa.publicKey], atSnapshot), { code: 'UPSTREAM_UNSIGNED' });
  });

  it('refuses content around the signed message, as apt does, as MALFORMED', async () => {
    const inRelease = await clearsign(RELEASE, [rsa.privateKey]);
    await assert.rejects(verifyInRelease(`<html>portal</html>\n${inRelease}`, [rsa.publicKey], atSnapshot), { code: 'MALFORMED' });
    await assert.rejects(verifyInRelease(`${inRelease}Origin: evil\n`, [rsa.publicKey], atSnapshot), { code: 'MALFORMED' });
    await assert.rejects(verifyInRelease(inRelease + inRelease, [rsa.publicKey], atSnapshot), { code: 'MALFORMED' });
    const undashed = inRelease.replace('Suite: stable', '-----BEGIN PGP SIGNATURE-----x');
    await assert.rejects(verifyInRelease(undashed, [rsa.publicKey], atSnapshot), { code: 'MALFORMED' });
    const badBase64 = inRelease.replace(/(-----BEGIN PGP SIGNATURE-----\n\n)./, '$1!');
    await assert.rejects(verifyInRelease(badBase64, [rsa.publicKey], atSnapshot), { code: 'MALFORMED' });
    await assert.rejects(verifyInRelease(new Uint8Array([0x2d, 0xff, 0xfe]), [rsa.publicKey], atSnapshot), { code: 'MALFORMED' });
  });

  it('refuses a signature by a key not in the keyring as UPSTREAM_UNKNOWN_KEY', async () => {
    const inRelease = await clearsign(RELEASE, [rsa.privateKey]);
    await assert.rejects(verifyInRelease(inRelease, [other.publicKey], atSnapshot), { code: 'UPSTREAM_UNKNOWN_KEY' });
    await assert.rejects(verifyInRelease(inRelease, [], forAudit), { code: 'UPSTREAM_UNKNOWN_KEY' });
  });

  it('refuses a key expired now as UPSTREAM_KEY_EXPIRED at snapshot time', async () => {
    await assert.rejects(verifyInRelease(expiredSignedText, [expired.publicKey], atSnapshot), { code: 'UPSTREAM_KEY_EXPIRED' });
  });

  it('accepts a key expired now for the auditor, reporting valid when signed and expired now', async () => {
    const res = await verifyInRelease(expiredSignedText, [expired.publicKey], forAudit);
    assert.equal(res.text, RELEASE);
    assert.equal(res.signers.length, 1);
    assert.equal(res.signers[0]!.validWhenSigned, true);
    assert.equal(res.signers[0]!.expiredNow, true);
  });

  it('treats a key retired since it signed like an expired one', async () => {
    await assert.rejects(verifyInRelease(revokedSignedText, [revoked.publicKey], atSnapshot), { code: 'UPSTREAM_KEY_EXPIRED' });
    const res = await verifyInRelease(revokedSignedText, [revoked.publicKey], forAudit);
    assert.equal(res.signers[0]!.validWhenSigned, true);
    assert.equal(res.signers[0]!.expiredNow, true);
  });

  it('refuses a key revoked as compromised, even for signatures it made before', async () => {
    await assert.rejects(verifyInRelease(revokedSignedText, [compromised], forAudit), { code: 'UPSTREAM_KEY_EXPIRED' });
  });

  it('refuses a signature made after its key had expired, even for the auditor', async () => {
    await assert.rejects(verifyInRelease(lateSignedText, [reformatted.publicKey], forAudit), { code: 'UPSTREAM_KEY_EXPIRED' });
  });

  it('accepts at snapshot time when one good signer is still valid beside an expired one', async () => {
    const both = await combineClearsigned(RELEASE, [expiredSignedText, await clearsign(RELEASE, [rsa.privateKey])]);
    const res = await verifyInRelease(both, [expired.publicKey, rsa.publicKey], atSnapshot);
    assert.deepEqual(
      res.signers.map((s) => [s.fingerprint, s.expiredNow]),
      [
        [fingerprintOf(expired.publicKey), true],
        [fingerprintOf(rsa.publicKey), false],
      ],
    );
    await assert.rejects(verifyInRelease(both, [expired.publicKey], atSnapshot), { code: 'UPSTREAM_KEY_EXPIRED' });
  });

  it('accepts a signature a little in the future, refuses one beyond the clock skew', async () => {
    const soon = await clearsign(RELEASE, [other.privateKey], new Date(NOW.getTime() + 60_000));
    const res = await verifyInRelease(soon, [other.publicKey], atSnapshot);
    assert.equal(res.signers.length, 1);
    await assert.rejects(verifyInRelease(soon, [other.publicKey], { ...atSnapshot, clockSkewSeconds: 0 }), { code: 'UPSTREAM_BAD_SIGNATURE' });
    const later = await clearsign(RELEASE, [other.privateKey], new Date(NOW.getTime() + 3_600_000));
    await assert.rejects(verifyInRelease(later, [other.publicKey], atSnapshot), { code: 'UPSTREAM_BAD_SIGNATURE' });
  });
});

describe('verifyDetached', () => {
  it('accepts an armored and a binary detached signature; text is the Release as given', async () => {
    for (const format of ['armored', 'binary'] as const) {
      const sig = await detachSign(RELEASE, [rsa.privateKey], format);
      const res = await verifyDetached(RELEASE, sig, [rsa.publicKey], atSnapshot);
      assert.equal(res.text, RELEASE);
      assert.deepEqual(res.signers.map((s) => s.fingerprint), [fingerprintOf(rsa.publicKey)]);
      const fromBytes = await verifyDetached(new TextEncoder().encode(RELEASE), typeof sig === 'string' ? new TextEncoder().encode(sig) : sig, [rsa.publicKey], atSnapshot);
      assert.equal(fromBytes.text, RELEASE);
    }
  });

  it('accepts two signatures with one unknown signer', async () => {
    const sig = await detachSign(RELEASE, [other.privateKey, rsa.privateKey], 'armored');
    const res = await verifyDetached(RELEASE, sig, [rsa.publicKey], atSnapshot);
    assert.equal(res.signers.length, 1);
    assert.deepEqual(res.unknownSigners, [keyIdOf(other.publicKey)]);
  });

  it('refuses a changed Release as UPSTREAM_BAD_SIGNATURE', async () => {
    const sig = await detachSign(RELEASE, [rsa.privateKey], 'binary');
    await assert.rejects(verifyDetached(RELEASE.replace('stable', 'stabl3'), sig, [rsa.publicKey], atSnapshot), {
      code: 'UPSTREAM_BAD_SIGNATURE',
    });
    await assert.rejects(verifyDetached(`${RELEASE}\n`, sig, [rsa.publicKey], atSnapshot), { code: 'UPSTREAM_BAD_SIGNATURE' });
  });

  it('refuses an empty signature as UPSTREAM_UNSIGNED and a garbage one as MALFORMED', async () => {
    await assert.rejects(verifyDetached(RELEASE, '', [rsa.publicKey], atSnapshot), { code: 'UPSTREAM_UNSIGNED' });
    await assert.rejects(verifyDetached(RELEASE, new Uint8Array(), [rsa.publicKey], atSnapshot), { code: 'UPSTREAM_UNSIGNED' });
    await assert.rejects(verifyDetached(RELEASE, '<html>404</html>', [rsa.publicKey], atSnapshot), { code: 'MALFORMED' });
    await assert.rejects(verifyDetached(RELEASE, new Uint8Array([0x89, 0x02, 0x33]), [rsa.publicKey], atSnapshot), { code: 'MALFORMED' });
  });

  it('refuses an unknown signer and a key expired now like verifyInRelease', async () => {
    const sig = await detachSign(RELEASE, [rsa.privateKey], 'armored');
    await assert.rejects(verifyDetached(RELEASE, sig, [other.publicKey], atSnapshot), { code: 'UPSTREAM_UNKNOWN_KEY' });
    const born = new Date(NOW.getTime() - 400 * DAY);
    const old = await detachSign(RELEASE, [expired.privateKey], 'binary', new Date(born.getTime() + DAY));
    await assert.rejects(verifyDetached(RELEASE, old, [expired.publicKey], atSnapshot), { code: 'UPSTREAM_KEY_EXPIRED' });
    const res = await verifyDetached(RELEASE, old, [expired.publicKey], forAudit);
    assert.equal(res.signers[0]!.expiredNow, true);
  });
});

// --- real files and gpg --------------------------------------------------------

const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const LISTS = '/var/lib/apt/lists';
const genuine = existsSync(LISTS) ? readdirSync(LISTS).filter((f) => f.endsWith('_InRelease')).map((f) => path.join(LISTS, f)) : [];
const genuineSkip = !existsSync(DEBIAN_KEYRING)
  ? `${DEBIAN_KEYRING} not present`
  : genuine.length === 0
    ? `no ${LISTS}/*_InRelease files`
    : false;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('genuine Debian files', { skip: genuineSkip }, () => {
  it('verifies every InRelease in /var/lib/apt/lists against the Debian archive keyring', async () => {
    const keys = await readKeyring(await readFile(DEBIAN_KEYRING));
    const home = await tmpDir('af-pgp-gpgv');
    for (const file of genuine) {
      const bytes = await readFile(file);
      const res = await verifyInRelease(bytes, keys, forAudit);
      assert.ok(res.signers.length >= 1, `${file}: no signer`);
      assert.ok(res.text.endsWith('\n') && !res.text.endsWith('\n\n'));
      const report = res.signers.map((s) => `${s.fingerprint}${s.expiredNow ? ' (expired now)' : ''}`).join(', ');
      process.stderr.write(`# ${path.basename(file)}: signed by ${report}; unknown: ${res.unknownSigners.join(', ') || 'none'}\n`);
      if (which('gpgv')) {
        const out = await run('gpgv', ['--homedir', home, '--keyring', DEBIAN_KEYRING, '-o', '-', file]);
        assert.equal(out.code, 0, out.stderr);
        assert.equal(res.text, out.stdout, 'our signed text equals what gpgv -o prints');
      }
      const tampered = Buffer.from(bytes.toString('utf8').replace(/^Date: .*$/m, 'Date: Thu, 01 Jan 2099 00:00:00 UTC'));
      await assert.rejects(verifyInRelease(tampered, keys, forAudit), { code: 'UPSTREAM_BAD_SIGNATURE' });
    }
  });
});

describe('cross-check with gpg', { skip: which('gpg') ? false : 'gpg not installed' }, () => {
  let home: string;
  let work: string;
  before(async () => {
    work = await tmpDir('af-pgp-gpg');
    home = path.join(work, 'home');
    await mkdir(home, { mode: 0o700 });
  });
  after(async () => {
    if (home) await run('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
  });

  it('verifies a Release clearsigned by gpg with an ed25519 and an RSA key', async () => {
    const gpg = (...args: string[]) => run('gpg', ['--homedir', home, '--batch', '--no-tty', ...args]);
    for (const [uid, algo] of [
      ['Gpg Ed <ed@example.org>', 'ed25519'],
      ['Gpg Rsa <rsa@example.org>', 'rsa2048'],
    ] as const) {
      const r = await gpg('--passphrase', '', '--quick-gen-key', uid, algo, 'sign', 'never');
      assert.equal(r.code, 0, r.stderr);
    }
    const releaseFile = path.join(work, 'Release');
    await writeFile(releaseFile, RELEASE);
    const inReleaseFile = path.join(work, 'InRelease');
    const s = await gpg('-u', 'ed@example.org', '-u', 'rsa@example.org', '--clearsign', '-o', inReleaseFile, releaseFile);
    assert.equal(s.code, 0, s.stderr);
    const d = await gpg('-u', 'rsa@example.org', '--detach-sign', '-o', `${releaseFile}.gpg`, releaseFile);
    assert.equal(d.code, 0, d.stderr);
    const exported = await gpg('--export');
    assert.equal(exported.code, 0);
    const ex = await new Promise<Buffer>((resolve, reject) =>
      execFile('gpg', ['--homedir', home, '--batch', '--export'], { encoding: 'buffer' }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    const keys = await readKeyring(ex);
    assert.equal(keys.length, 2);

    const res = await verifyInRelease(await readFile(inReleaseFile), keys, atSnapshot);
    assert.equal(res.text, RELEASE);
    assert.equal(res.signers.length, 2);
    const det = await verifyDetached(await readFile(releaseFile), await readFile(`${releaseFile}.gpg`), keys, atSnapshot);
    assert.equal(det.signers.length, 1);
    await assert.rejects(verifyInRelease(await readFile(inReleaseFile), [other.publicKey], atSnapshot), { code: 'UPSTREAM_UNKNOWN_KEY' });
  });
});
