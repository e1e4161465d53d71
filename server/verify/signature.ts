import type { PublicKey } from 'openpgp';
import { AptfreezeError, asAptfreezeError } from '../errors.ts';
import { verifyDetached, verifyInRelease, type VerifiedRelease } from '../pgp/verify.ts';
import type { LinkName, Step } from './report.ts';

/** A signed Release as fetched: InRelease, or Release and Release.gpg. */
export type SignedRelease = { form: 'inrelease'; inRelease: Buffer } | { form: 'detached'; release: Buffer; releaseGpg: Buffer };

export interface SignatureCheck {
  step: Step;
  /** The signed text when some key verified it (the auditor's, or for "untrusted" the other keyring's). */
  verified: VerifiedRelease | null;
}

function verify(signed: SignedRelease, keys: PublicKey[], now: Date): Promise<VerifiedRelease> {
  // The auditor's policy: a key valid when it signed is enough; whether it has expired since is reported.
  const policy = { now, requireValidNow: false };
  return signed.form === 'inrelease' ? verifyInRelease(signed.inRelease, keys, policy) : verifyDetached(signed.release, signed.releaseGpg, keys, policy);
}

/**
 * Checks a Release signature against the trusted keys. When no trusted key
 * signed it but `otherKeys` (the proof's own keyring) verify it, the step is
 * "untrusted": valid, but not by a key the auditor trusts.
 */
export async function checkSignature(
  link: LinkName,
  what: string,
  signed: SignedRelease,
  trusted: PublicKey[],
  now: Date,
  otherKeys: PublicKey[] = [],
): Promise<SignatureCheck> {
  try {
    const v = await verify(signed, trusted, now);
    const signers = v.signers.map((s) => ({
      fingerprint: s.fingerprint,
      created: s.created.toISOString(),
      validWhenSigned: s.validWhenSigned,
      expiredNow: s.expiredNow,
    }));
    const desc = v.signers
      .map((s) => `${s.fingerprint} on ${s.created.toISOString()} (valid then${s.expiredNow ? ', expired or revoked since' : ', still valid'})`)
      .join('; ');
    return {
      step: { link, status: 'ok', detail: `${what} signed by ${desc}`, data: { signers, unknownSigners: v.unknownSigners } },
      verified: v,
    };
  } catch (e) {
    const err = asAptfreezeError(e);
    if (err.code === 'UPSTREAM_UNKNOWN_KEY' && otherKeys.length > 0) {
      try {
        const v = await verify(signed, otherKeys, now);
        const fprs = v.signers.map((s) => s.fingerprint);
        return {
          step: {
            link,
            status: 'untrusted',
            code: 'UPSTREAM_UNKNOWN_KEY',
            detail: `${what} has a valid signature by ${fprs.join(', ')} (a key of the proof's own keyring), but by no key of your keyring`,
            data: { signers: v.signers.map((s) => ({ fingerprint: s.fingerprint, created: s.created.toISOString(), expiredNow: s.expiredNow })) },
          },
          verified: v,
        };
      } catch {
        /* not valid with the proof's keyring either: a plain failure */
      }
    }
    return { step: { link, status: 'fail', code: err.code, detail: `${what}: ${err.message}` }, verified: null };
  }
}

/**
 * The text of a signed Release without checking its signature, to show which
 * hashes it lists when the signature does not verify (the signature step has
 * failed then, so nothing rests on this text). Null when it cannot be read.
 */
export function unverifiedText(signed: SignedRelease): string | null {
  if (signed.form === 'detached') return signed.release.toString('utf8');
  const lines = signed.inRelease.toString('utf8').split('\n').map((l) => l.replace(/\r$/, ''));
  const begin = lines.indexOf('-----BEGIN PGP SIGNED MESSAGE-----');
  if (begin < 0) return null;
  let i = begin + 1;
  while (i < lines.length && lines[i] !== '') i++;
  const end = lines.indexOf('-----BEGIN PGP SIGNATURE-----', i);
  if (end < 0) return null;
  return lines.slice(i + 1, end).map((l) => (l.startsWith('- ') ? l.slice(2) : l)).join('\n') + '\n';
}

export function signedReleaseOf(files: { inRelease?: Buffer; release?: Buffer; releaseGpg?: Buffer }, what: string): SignedRelease {
  if (files.inRelease) return { form: 'inrelease', inRelease: files.inRelease };
  if (files.release && files.releaseGpg) return { form: 'detached', release: files.release, releaseGpg: files.releaseGpg };
  throw new AptfreezeError('UPSTREAM_UNSIGNED', `${what}: neither InRelease nor Release and Release.gpg`);
}
