/**
 * Reading upstream keyrings (the archive's configured `keyring:` file, or a
 * keyring kept in a proof package).
 *
 * apt accepts, for `signed-by` and trusted.gpg.d, either a binary keyring
 * (several transferable public keys concatenated, like
 * /usr/share/keyrings/debian-archive-keyring.gpg) or an armored `.asc` file.
 * We accept both, and an armored file with several armored blocks.
 *
 * Every parse of outside data here is wrapped: bad input becomes an
 * AptfreezeError('MALFORMED'), never an uncaught openpgp exception.
 */
import * as openpgp from 'openpgp';
import { AptfreezeError } from '../errors.ts';

const BLOCK_RE = /-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g;

/** The primary key's fingerprint: 40 upper-case hex digits for a v4 key. */
export function fingerprintOf(key: openpgp.Key): string {
  return key.getFingerprint().toUpperCase();
}

/**
 * Reads every key of a keyring, binary or armored (one or several armored
 * blocks). Private keys, if any, are reduced to their public part.
 * Throws AptfreezeError('MALFORMED') on an empty or unreadable keyring.
 */
export async function readKeyring(bytes: Uint8Array): Promise<openpgp.PublicKey[]> {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
    throw new AptfreezeError('MALFORMED', 'keyring is empty');
  }
  const keys: openpgp.Key[] = [];
  if (looksArmored(bytes)) {
    const text = new TextDecoder('utf-8').decode(bytes);
    const blocks = text.match(BLOCK_RE) ?? [];
    if (blocks.length === 0) {
      throw new AptfreezeError('MALFORMED', 'armored keyring holds no complete "BEGIN PGP PUBLIC KEY BLOCK" block');
    }
    for (const [i, block] of blocks.entries()) {
      try {
        // readKeys on armored input only reads the first block: one call per block.
        keys.push(...(await openpgp.readKeys({ armoredKeys: block })));
      } catch (e) {
        throw new AptfreezeError('MALFORMED', `armored keyring block ${i + 1} is unreadable: ${messageOf(e)}`, { cause: e });
      }
    }
  } else {
    if ((bytes[0]! & 0x80) === 0) {
      throw new AptfreezeError('MALFORMED', 'keyring is neither an OpenPGP binary keyring nor armored text');
    }
    try {
      // readKeys (plural): readKey silently returns only the first key of a keyring.
      keys.push(...(await openpgp.readKeys({ binaryKeys: bytes })));
    } catch (e) {
      throw new AptfreezeError('MALFORMED', `binary keyring is unreadable: ${messageOf(e)}`, { cause: e });
    }
  }
  if (keys.length === 0) {
    throw new AptfreezeError('MALFORMED', 'keyring holds no key');
  }
  return keys.map((k) => (k.isPrivate() ? (k as openpgp.PrivateKey).toPublic() : (k as openpgp.PublicKey)));
}

function looksArmored(bytes: Uint8Array): boolean {
  // Skip leading whitespace and an optional UTF-8 BOM, then look for the armor dashes.
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  if (i < bytes.length && bytes[i] === 0x2d /* '-' */) return true;
  // Armored files sometimes carry comment text before the block: treat any
  // printable-ASCII start that contains an armor line as armored.
  if (i < bytes.length && (bytes[i]! & 0x80) === 0) {
    const head = new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, 1 << 20)));
    return head.includes('-----BEGIN PGP ');
  }
  return false;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
