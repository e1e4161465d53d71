// Throwaway OpenPGP keys for the bench: the upstream archive key (signs the generated
// Release files) and the peers' signing key (aptly and reprepro sign their own Release with it).
// ed25519Legacy v4 keys: what bookworm's gpgv and apt accept (see PITFALLS.md).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as openpgp from 'openpgp';

export interface BenchKey {
  /** 40 upper-case hex digits */
  fingerprint: string;
  privateKey: openpgp.PrivateKey;
  armoredPrivate: string;
  armoredPublic: string;
  /** binary public keyring (for signed-by, gpgv --keyring, aptly -keyring, the service's keyring) */
  keyringPath: string;
  /** the same key armored */
  armoredPath: string;
}

export async function createKey(dir: string, name: string): Promise<BenchKey> {
  // Back-dated an hour: a verifier whose clock is a little behind must not see a key from the future.
  const created = new Date(Date.now() - 3_600_000);
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name, email: `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}@bench.invalid` }],
    date: created,
    format: 'object',
  });
  await mkdir(dir, { recursive: true });
  const fingerprint = privateKey.getFingerprint().toUpperCase();
  const base = path.join(dir, `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${fingerprint.slice(-16)}`);
  const pub = privateKey.toPublic();
  const armoredPublic = pub.armor();
  await writeFile(`${base}.gpg`, pub.write());
  await writeFile(`${base}.asc`, armoredPublic);
  return { fingerprint, privateKey, armoredPrivate: privateKey.armor(), armoredPublic, keyringPath: `${base}.gpg`, armoredPath: `${base}.asc` };
}

/** gpg --clearsign's shape: the signed text without its final newline, LF line ends. */
export async function clearsign(text: string, key: BenchKey): Promise<string> {
  const message = await openpgp.createCleartextMessage({ text: text.replace(/\n$/, '') });
  const armored = await openpgp.sign({ message, signingKeys: key.privateKey });
  const out = armored.replace(/\r\n/g, '\n');
  return out.endsWith('\n') ? out : `${out}\n`;
}

/** gpg --armor --detach-sign over the exact bytes. */
export async function detachSign(bytes: Uint8Array, key: BenchKey): Promise<string> {
  const message = await openpgp.createMessage({ binary: bytes });
  const armored = await openpgp.sign({ message, signingKeys: key.privateKey, detached: true });
  const out = armored.replace(/\r\n/g, '\n');
  return out.endsWith('\n') ? out : `${out}\n`;
}
