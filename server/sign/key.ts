/**
 * The service's own signing key, kept in the data directory.
 *
 * - `<keysDir>/private.asc`: the armored private key, no passphrase (the
 *   daemon signs unattended), directory 0700, file 0600. Made on first call,
 *   written to a temp file and then hard-linked into place, so that it is
 *   never half-written and never overwrites a key that is already there.
 * - `<keysDir>/aptfreeze.asc` and `<keysDir>/aptfreeze.gpg`: the public key,
 *   armored and as a binary keyring for apt's `signed-by` (0644), rewritten
 *   from the private key whenever missing or different.
 *
 * The key is a v4 ed25519 ("ed25519Legacy") key with no expiry: bookworm's
 * apt/gpgv reject openpgp v6 keys and `curve25519` (RFC 9580) keys.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import { AptfreezeError } from '../errors.ts';
import { fingerprintOf } from '../pgp/keyring.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';

export interface ServiceKey {
  privateKey: openpgp.PrivateKey;
  publicKey: openpgp.PublicKey;
  /** Upper-case hex, 40 digits. */
  fingerprint: string;
  armoredPublic: string;
  binaryPublic: Uint8Array;
}

const DEFAULT_USER_ID = 'aptfreeze signing key <aptfreeze@localhost>';
const PRIVATE_FILE = 'private.asc';
const ARMORED_PUBLIC_FILE = 'aptfreeze.asc';
const BINARY_PUBLIC_FILE = 'aptfreeze.gpg';

export async function loadOrCreateServiceKey(keysDir: string, opts: { userId?: string } = {}): Promise<ServiceKey> {
  await ensurePrivateDir(keysDir);
  const privatePath = path.join(keysDir, PRIVATE_FILE);

  let armoredPrivate = await readPrivateFile(privatePath);
  if (armoredPrivate === undefined) {
    const created = await createPrivateKey(opts.userId ?? DEFAULT_USER_ID);
    // Loses the race to a concurrent creator gracefully: its key wins, we read it.
    await writeNewFile(privatePath, created, 0o600);
    armoredPrivate = await readPrivateFile(privatePath);
    if (armoredPrivate === undefined) {
      throw new AptfreezeError('INTERNAL', `${privatePath} vanished right after it was written`);
    }
  }

  const privateKey = await parsePrivateKey(armoredPrivate, privatePath);
  const publicKey = privateKey.toPublic();
  const armoredPublic = publicKey.armor();
  const binaryPublic = publicKey.write();
  await writePublicFile(path.join(keysDir, ARMORED_PUBLIC_FILE), new TextEncoder().encode(armoredPublic));
  await writePublicFile(path.join(keysDir, BINARY_PUBLIC_FILE), binaryPublic);

  return { privateKey, publicKey, fingerprint: fingerprintOf(publicKey), armoredPublic, binaryPublic };
}

async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new Error('not a directory');
    if ((st.mode & 0o077) !== 0) await fs.chmod(dir, 0o700);
  } catch (e) {
    throw new AptfreezeError('CONFIG_INVALID', `keys directory ${dir} is not usable: ${messageOf(e)}`, { cause: e });
  }
}

/** The private key file's text, or undefined when there is none. Refuses a file others can read. */
async function readPrivateFile(file: string): Promise<string | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AptfreezeError('CONFIG_INVALID', `cannot open the service private key ${file}: ${messageOf(e)}`, { cause: e });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new AptfreezeError('CONFIG_INVALID', `service private key ${file} is not a regular file`);
    }
    if ((st.mode & 0o077) !== 0) {
      throw new AptfreezeError(
        'CONFIG_INVALID',
        `service private key ${file} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; it must not be readable by group or others (chmod 600)`,
      );
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

async function createPrivateKey(userId: string): Promise<string> {
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [toUserIdObject(userId)],
    keyExpirationTime: 0,
    format: 'armored',
    config: { v6Keys: false },
  });
  return privateKey;
}

/** "Name <email>" → { name, email } when openpgp accepts the email, else the whole string as the name (same UID text). */
function toUserIdObject(userId: string): openpgp.UserID {
  const m = /^(.*?)\s*<([^<>]+)>$/.exec(userId.trim());
  if (m && /^[^\p{C}\p{Z}@<>\\]+@[^\p{C}\p{Z}@<>\\]+[^\p{C}\p{Z}\p{P}]$/u.test(m[2]!)) {
    return m[1] ? { name: m[1], email: m[2]! } : { email: m[2]! };
  }
  return { name: userId };
}

async function parsePrivateKey(armored: string, file: string): Promise<openpgp.PrivateKey> {
  let key: openpgp.PrivateKey;
  try {
    key = await openpgp.readPrivateKey({ armoredKey: armored });
  } catch (e) {
    throw new AptfreezeError('CONFIG_INVALID', `service private key ${file} is unreadable: ${messageOf(e)}`, { cause: e });
  }
  if (!key.isDecrypted()) {
    throw new AptfreezeError('CONFIG_INVALID', `service private key ${file} is passphrase-protected; aptfreeze needs an unprotected key`);
  }
  if (key.keyPacket.version !== 4) {
    throw new AptfreezeError('CONFIG_INVALID', `service private key ${file} is a v${key.keyPacket.version} key; apt on Debian 12 only accepts v4 keys`);
  }
  try {
    await key.getSigningKey();
  } catch (e) {
    throw new AptfreezeError('CONFIG_INVALID', `service private key ${file} cannot sign now: ${messageOf(e)}`, { cause: e });
  }
  return key;
}

/** Writes a new file atomically, never replacing an existing one (link fails with EEXIST): the atomic-write policy. */
async function writeNewFile(file: string, content: string, mode: number): Promise<void> {
  try {
    await writeFileAtomic(file, content, { mode, noReplace: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw new AptfreezeError('CONFIG_INVALID', `cannot write ${file}: ${messageOf(e)}`, { cause: e });
  }
}

/** Writes a public file (0644) atomically, only when its content differs. */
async function writePublicFile(file: string, content: Uint8Array): Promise<void> {
  try {
    const current = await fs.readFile(file);
    if (Buffer.compare(current, content) === 0) {
      const st = await fs.stat(file);
      if ((st.mode & 0o777) !== 0o644) await fs.chmod(file, 0o644);
      return;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AptfreezeError('CONFIG_INVALID', `cannot read ${file}: ${messageOf(e)}`, { cause: e });
    }
  }
  try {
    await writeFileAtomic(file, content, { mode: 0o644 });
  } catch (e) {
    throw new AptfreezeError('CONFIG_INVALID', `cannot write ${file}: ${messageOf(e)}`, { cause: e });
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
