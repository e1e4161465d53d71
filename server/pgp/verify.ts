/**
 * Verifying upstream Release signatures, the way apt (through gpgv) does.
 *
 * Pure: no file or network I/O. Used by the mirror at snapshot time
 * (`requireValidNow: true`, like gpgv refusing a key that has expired now) and
 * by the auditor checking an old proof (`requireValidNow: false`: a key that
 * was valid when it signed is enough; both facts are reported).
 *
 * Policy, like apt:
 * - at least one signature by a keyring key, by a key valid when it signed,
 *   must verify;
 * - any signature by a keyring key whose digest does not match rejects the
 *   whole file (UPSTREAM_BAD_SIGNATURE), even if another one verifies;
 * - signatures by keys not in the keyring are ignored, and listed.
 *
 * Every parse of outside data (the InRelease / Release / Release.gpg bytes)
 * is wrapped so that bad input ends as a typed AptfreezeError (UPSTREAM_* or
 * MALFORMED), never as an uncaught openpgp exception.
 */
import * as openpgp from 'openpgp';
import { AptfreezeError } from '../errors.ts';
import { fingerprintOf } from './keyring.ts';

export interface SignerReport {
  /** Fingerprint of the keyring's primary key that made the signature (upper-case hex). */
  fingerprint: string;
  /** The signature's issuer key id (upper-case hex, 16 digits): the primary key's or a signing subkey's. */
  keyId: string;
  /** The signature's creation time. */
  created: Date;
  /** The key (and signing subkey) was valid, neither expired nor revoked, when the signature was made. Always true in `signers`: a signature by a key invalid when it signed does not count. */
  validWhenSigned: boolean;
  /** The key (or its signing subkey) has expired or been revoked by `policy.now`. */
  expiredNow: boolean;
}

export interface VerifiedRelease {
  /** The signed Release text exactly as apt would parse it, ending with one "\n". */
  text: string;
  /** The good signatures by keyring keys. */
  signers: SignerReport[];
  /** Key ids (upper-case hex) of signatures by keys not in the keyring. */
  unknownSigners: string[];
}

export type SignaturePolicy = {
  now: Date;
  /** true at snapshot time (like gpgv: refuse a key expired now); false for the auditor (accept a key valid when it signed). */
  requireValidNow: boolean;
  /** Default 300: a signature made up to this far in the future is accepted. */
  clockSkewSeconds?: number;
};

const DEFAULT_SKEW_SECONDS = 300;
const BEGIN_MESSAGE = '-----BEGIN PGP SIGNED MESSAGE-----';
const BEGIN_SIGNATURE = '-----BEGIN PGP SIGNATURE-----';
const END_SIGNATURE = '-----END PGP SIGNATURE-----';
const ARMOR_HEADER_RE = /^([^\s:]|[^\s:][^:]*[^\s:]): .+$/;

/** Verifies a clearsigned InRelease. */
export async function verifyInRelease(
  armored: string | Uint8Array,
  keys: openpgp.PublicKey[],
  policy: SignaturePolicy,
): Promise<VerifiedRelease> {
  checkPolicy(policy);
  const raw = decodeUtf8(armored, 'InRelease');
  // Our own reading of the clearsigned structure, as apt's SplitClearSignedFile
  // reads it; openpgp's reading is checked against it below.
  const content = splitClearSigned(raw);

  let message: openpgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: raw });
  } catch (e) {
    throw new AptfreezeError('MALFORMED', `InRelease is not a readable clearsigned message: ${messageOf(e)}`, { cause: e });
  }
  const openpgpText = message.getText().replace(/\r\n/g, '\n');
  if (openpgpText !== content) {
    // Would mean apt and openpgp see different signed texts: refuse rather than guess.
    throw new AptfreezeError('MALFORMED', 'InRelease signed text is ambiguous (apt and OpenPGP read it differently)');
  }
  if (message.getSigningKeyIDs().length === 0) {
    throw new AptfreezeError('UPSTREAM_UNSIGNED', 'InRelease has an empty signature block');
  }

  let result: openpgp.VerifyMessageResult<string>;
  try {
    result = await openpgp.verify({ message, verificationKeys: keys, date: skewedNow(policy), expectSigned: false });
  } catch (e) {
    throw new AptfreezeError('MALFORMED', `InRelease signature could not be checked: ${messageOf(e)}`, { cause: e });
  }
  const verdict = await judge(result.signatures, keys, policy, 'InRelease');
  return { text: content + '\n', ...verdict };
}

/** Verifies a Release file against its detached signature (Release.gpg, armored or binary). `text` is the Release as given. */
export async function verifyDetached(
  release: string | Uint8Array,
  signature: string | Uint8Array,
  keys: openpgp.PublicKey[],
  policy: SignaturePolicy,
): Promise<VerifiedRelease> {
  checkPolicy(policy);
  const text = decodeUtf8(release, 'Release');
  const releaseBytes = typeof release === 'string' ? new TextEncoder().encode(release) : release;
  const sig = await readDetachedSignature(signature);

  let result: openpgp.VerifyMessageResult<Uint8Array>;
  try {
    const message = await openpgp.createMessage({ binary: releaseBytes });
    result = await openpgp.verify({
      message,
      signature: sig,
      verificationKeys: keys,
      date: skewedNow(policy),
      expectSigned: false,
      format: 'binary',
    });
  } catch (e) {
    throw new AptfreezeError('MALFORMED', `Release.gpg could not be checked: ${messageOf(e)}`, { cause: e });
  }
  const verdict = await judge(result.signatures, keys, policy, 'Release.gpg');
  return { text, ...verdict };
}

// ---------------------------------------------------------------------------

function checkPolicy(policy: SignaturePolicy): void {
  if (!(policy.now instanceof Date) || Number.isNaN(policy.now.getTime())) {
    throw new AptfreezeError('INTERNAL', 'signature policy needs a valid `now` date');
  }
  const skew = policy.clockSkewSeconds;
  if (skew !== undefined && !(Number.isFinite(skew) && skew >= 0)) {
    throw new AptfreezeError('INTERNAL', 'signature policy clockSkewSeconds must be a non-negative number');
  }
}

function skewedNow(policy: SignaturePolicy): Date {
  return new Date(policy.now.getTime() + (policy.clockSkewSeconds ?? DEFAULT_SKEW_SECONDS) * 1000);
}

function decodeUtf8(input: string | Uint8Array, what: string): string {
  if (typeof input === 'string') return input;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
  } catch (e) {
    throw new AptfreezeError('MALFORMED', `${what} is not valid UTF-8 text`, { cause: e });
  }
}

/**
 * Splits a clearsigned file as apt's SplitClearSignedFile does (each line
 * right-stripped of whitespace; the message must start on the first line;
 * dash-escaping undone; nothing but blank lines after the signature) and
 * returns the signed text without its final newline. Stricter than openpgp,
 * which skips any text before the armor.
 */
function splitClearSigned(raw: string): string {
  const lines = raw.split('\n').map((l) => l.replace(/[ \t\r\v\f]+$/, '')); // C isspace, as apt's _strrstrip
  if (!lines.includes(BEGIN_MESSAGE)) {
    throw new AptfreezeError('UPSTREAM_UNSIGNED', 'InRelease is not a clearsigned message (no "BEGIN PGP SIGNED MESSAGE" line)');
  }
  if (lines[0] !== BEGIN_MESSAGE) {
    throw new AptfreezeError('MALFORMED', 'InRelease has content before "BEGIN PGP SIGNED MESSAGE" (a captive portal or proxy page?)');
  }
  let i = 1;
  for (; i < lines.length && lines[i] !== ''; i++) {
    if (!ARMOR_HEADER_RE.test(lines[i]!)) {
      throw new AptfreezeError('MALFORMED', `InRelease has an invalid armor header line ${i + 1}`);
    }
  }
  if (i >= lines.length) {
    throw new AptfreezeError('UPSTREAM_UNSIGNED', 'InRelease ends inside its armor headers');
  }
  i++; // the blank line
  const content: string[] = [];
  for (; i < lines.length && lines[i] !== BEGIN_SIGNATURE; i++) {
    const line = lines[i]!;
    if (line.startsWith('- ')) content.push(line.slice(2));
    else if (line.startsWith('-')) {
      throw new AptfreezeError('MALFORMED', `InRelease line ${i + 1} starts with "-" but is not dash-escaped`);
    } else content.push(line);
  }
  if (i >= lines.length) {
    throw new AptfreezeError('UPSTREAM_UNSIGNED', 'InRelease has no signature ("BEGIN PGP SIGNATURE" line missing)');
  }
  const end = lines.indexOf(END_SIGNATURE, i + 1);
  if (end < 0) {
    throw new AptfreezeError('MALFORMED', 'InRelease signature block is not terminated ("END PGP SIGNATURE" line missing)');
  }
  const sigLines = lines.slice(i + 1, end);
  const sigBlank = sigLines.indexOf('');
  const sigBody = (sigBlank >= 0 ? sigLines.slice(sigBlank + 1) : sigLines).filter((l) => l !== '' && !l.startsWith('='));
  if (sigBody.length === 0) {
    throw new AptfreezeError('UPSTREAM_UNSIGNED', 'InRelease has an empty signature block');
  }
  if (lines.slice(end + 1).some((l) => l !== '')) {
    // apt also refuses this; openpgp would silently ignore a second signature block.
    throw new AptfreezeError('MALFORMED', 'InRelease has content after its signature block');
  }
  return content.join('\n');
}

async function readDetachedSignature(signature: string | Uint8Array): Promise<openpgp.Signature> {
  let armored: string | undefined;
  let binary: Uint8Array | undefined;
  if (typeof signature === 'string') {
    armored = signature;
  } else if (signature.length > 0 && (signature[0]! & 0x80) !== 0) {
    binary = signature;
  } else {
    armored = decodeUtf8(signature, 'Release.gpg');
  }
  if ((armored !== undefined && armored.trim() === '') || (binary !== undefined && binary.length === 0)) {
    throw new AptfreezeError('UPSTREAM_UNSIGNED', 'Release.gpg is empty');
  }
  if (armored !== undefined && !armored.includes(BEGIN_SIGNATURE)) {
    throw new AptfreezeError('MALFORMED', 'Release.gpg is neither a binary signature nor an armored "BEGIN PGP SIGNATURE" block');
  }
  let sig: openpgp.Signature;
  try {
    sig =
      armored !== undefined
        ? await openpgp.readSignature({ armoredSignature: armored })
        : await openpgp.readSignature({ binarySignature: binary! });
  } catch (e) {
    throw new AptfreezeError('MALFORMED', `Release.gpg is not a readable OpenPGP signature: ${messageOf(e)}`, { cause: e });
  }
  if (sig.packets.length === 0) {
    throw new AptfreezeError('UPSTREAM_UNSIGNED', 'Release.gpg holds no signature');
  }
  return sig;
}

type VerificationEntry = openpgp.VerifyMessageResult['signatures'][number];

/** Sorts each signature into good / unknown / bad and applies the policy. */
async function judge(
  entries: VerificationEntry[],
  keys: openpgp.PublicKey[],
  policy: SignaturePolicy,
  what: string,
): Promise<Omit<VerifiedRelease, 'text'>> {
  if (entries.length === 0) {
    throw new AptfreezeError('UPSTREAM_UNSIGNED', `${what} holds no signature`);
  }
  const signers: SignerReport[] = [];
  const unknown = new Set<string>();
  const badDigest: string[] = [];
  const invalidWhenSigned: string[] = [];
  const otherFailures: string[] = [];

  for (const entry of entries) {
    const keyId = entry.keyID.toHex().toUpperCase();
    // The same key lookup openpgp makes: the first keyring key holding the issuer key id.
    const primary = keys.find((k) => k.getKeys(entry.keyID).length > 0);
    let error: unknown;
    try {
      await entry.verified;
    } catch (e) {
      error = e ?? new Error('unknown verification failure');
    }
    if (!primary) {
      unknown.add(keyId);
      continue;
    }
    const fingerprint = fingerprintOf(primary);
    let created: Date | undefined;
    try {
      const packet = (await entry.signature).packets[0];
      created = packet?.created ?? undefined;
    } catch {
      created = undefined;
    }
    if (error === undefined && created) {
      const nowish = created > policy.now ? created : policy.now;
      signers.push({
        fingerprint,
        keyId,
        created,
        validWhenSigned: true,
        expiredNow: !(await canSign(primary, entry.keyID, nowish)),
      });
      continue;
    }
    const reason = messageOf(error ?? new Error('signature has no creation time'));
    if (/Signed digest did not match|Signature verification failed/.test(reason)) {
      badDigest.push(keyId);
    } else if (created && !(await canSign(primary, entry.keyID, created))) {
      invalidWhenSigned.push(`${keyId} (${fingerprint}): ${reason}`);
    } else {
      otherFailures.push(`${keyId} (${fingerprint}): ${reason}`);
    }
  }

  const unknownSigners = [...unknown];
  if (badDigest.length > 0) {
    throw new AptfreezeError('UPSTREAM_BAD_SIGNATURE', `${what}: signature by ${badDigest.join(', ')} does not match the signed text`, {
      details: { keyIds: badDigest },
    });
  }
  if (signers.length === 0) {
    if (invalidWhenSigned.length > 0) {
      throw new AptfreezeError('UPSTREAM_KEY_EXPIRED', `${what}: signed by a keyring key that was expired or revoked when it signed: ${invalidWhenSigned.join('; ')}`, {
        details: { failures: invalidWhenSigned },
      });
    }
    if (otherFailures.length > 0) {
      throw new AptfreezeError('UPSTREAM_BAD_SIGNATURE', `${what}: no valid signature: ${otherFailures.join('; ')}`, {
        details: { failures: otherFailures },
      });
    }
    throw new AptfreezeError('UPSTREAM_UNKNOWN_KEY', `${what}: signed only by keys not in the keyring: ${unknownSigners.join(', ')}`, {
      details: { unknownSigners },
    });
  }
  if (policy.requireValidNow && signers.every((s) => s.expiredNow)) {
    throw new AptfreezeError(
      'UPSTREAM_KEY_EXPIRED',
      `${what}: every good signature is by a key that has expired or been revoked by ${policy.now.toISOString()}: ${signers.map((s) => s.fingerprint).join(', ')}`,
      { details: { signers: signers.map((s) => s.fingerprint) } },
    );
  }
  return { signers, unknownSigners };
}

/** Whether the key (its subkey with this id, or the primary) could sign at `date`: not expired, not revoked, has signing capability. */
async function canSign(key: openpgp.PublicKey, keyID: openpgp.KeyID, date: Date): Promise<boolean> {
  try {
    await key.getSigningKey(keyID, date);
    return true;
  } catch {
    return false;
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
