/**
 * The signature of an uploaded `.changes` or `.dsc`: a clearsignature by a key
 * of the repository's uploaders keyring, checked as dak checks it (a key that
 * has expired or been revoked now is refused; a signature older than the
 * configured age or from the future is refused). Reuses the pure clearsign
 * verifier of server/pgp/ and maps its codes to the upload's own.
 */
import { createHash } from 'node:crypto';
import * as openpgp from 'openpgp';
import { AptfreezeError, type ErrorCode } from '../errors.ts';
import { verifyInRelease } from '../pgp/verify.ts';

export interface UploadSignature {
  /** The signed text, ending in one newline. */
  text: string;
  /** Full fingerprint (upper-case hex) of the uploaders key that signed. */
  fingerprint: string;
  created: Date;
  /** sha256 of the signature packets: the same signature seen again is a replay. */
  signatureSha256: string;
}

export interface UploadSignaturePolicy {
  now: Date;
  maxAgeMs: number;
  clockSkewMs: number;
}

const codeMap: Partial<Record<ErrorCode, ErrorCode>> = {
  UPSTREAM_UNSIGNED: 'UPLOAD_UNSIGNED',
  UPSTREAM_BAD_SIGNATURE: 'UPLOAD_BAD_SIGNATURE',
  UPSTREAM_UNKNOWN_KEY: 'UPLOAD_UNKNOWN_KEY',
  UPSTREAM_KEY_EXPIRED: 'UPLOAD_KEY_EXPIRED',
  MALFORMED: 'UPLOAD_MALFORMED',
};

export async function verifyUploadSignature(bytes: Buffer, keys: openpgp.PublicKey[], policy: UploadSignaturePolicy, what: string): Promise<UploadSignature> {
  const raw = bytes.toString('utf8');
  if (!raw.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) throw new AptfreezeError('UPLOAD_UNSIGNED', `${what} is not clearsigned`);
  // The signature's time first, on its own: a clear code for "too old" and "from the future"
  // rather than the verifier's generic failure for a signature made after `now`.
  let message: openpgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: raw });
  } catch (e) {
    throw new AptfreezeError('UPLOAD_MALFORMED', `${what} is not a readable clearsigned message: ${(e as Error).message}`);
  }
  // Present at runtime, missing from openpgp's types.
  const signature = (message as unknown as { signature: openpgp.Signature }).signature;
  const packets = signature.packets;
  if (!packets.length) throw new AptfreezeError('UPLOAD_UNSIGNED', `${what} has an empty signature block`);
  const now = policy.now.getTime();
  for (const p of packets) {
    const t = p.created?.getTime();
    if (t === undefined) throw new AptfreezeError('UPLOAD_MALFORMED', `${what}: a signature without a creation time`);
    if (t > now + policy.clockSkewMs) throw new AptfreezeError('UPLOAD_SIGNATURE_AGE', `${what}: signed in the future (${new Date(t).toISOString()})`);
    if (t < now - policy.maxAgeMs) throw new AptfreezeError('UPLOAD_SIGNATURE_AGE', `${what}: signed ${new Date(t).toISOString()}, longer ago than the repository accepts`);
  }
  let verified;
  try {
    verified = await verifyInRelease(raw, keys, { now: policy.now, requireValidNow: true, clockSkewSeconds: Math.floor(policy.clockSkewMs / 1000) });
  } catch (e) {
    if (e instanceof AptfreezeError) {
      const code = codeMap[e.code] ?? e.code;
      throw new AptfreezeError(code, `${what}: ${e.message.replace(/^InRelease:?\s*/, '')}`, { cause: e, details: e.details });
    }
    throw e;
  }
  const good = verified.signers.find((s) => !s.expiredNow);
  if (!good) throw new AptfreezeError('UPLOAD_KEY_EXPIRED', `${what}: signed by an uploaders key that has expired or been revoked`);
  const signatureSha256 = createHash('sha256').update(signature.write() as Uint8Array).digest('hex');
  return { text: verified.text, fingerprint: good.fingerprint, created: good.created, signatureSha256 };
}
