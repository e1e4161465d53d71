import { createHash } from 'node:crypto';
import type { PublicKey } from 'openpgp';
import { AptfreezeError } from '../errors.ts';
import { parseRelease, type ParsedRelease } from '../debian/release.ts';
import { verifyInRelease, verifyDetached, type VerifiedRelease, type SignaturePolicy } from '../pgp/verify.ts';
import type { Fetcher } from './fetch.ts';

/** The upstream's signed Release of one suite, exactly as fetched, verified and parsed. */
export interface UpstreamRelease {
  suite: string;
  /** 'inrelease' when InRelease was used, else 'detached' (Release + Release.gpg). */
  form: 'inrelease' | 'detached';
  /** Raw bytes as fetched: InRelease, or Release and Release.gpg. */
  files: Array<{ name: 'InRelease' | 'Release' | 'Release.gpg'; data: Buffer }>;
  /** sha256 of the primary file (InRelease or Release). */
  sha256: string;
  verified: VerifiedRelease;
  release: ParsedRelease;
  fetchedAt: Date;
}

export function suiteUrl(archiveUrl: string, suite: string): string {
  return `${archiveUrl.replace(/\/+$/, '')}/dists/${suite}`;
}

/**
 * Fetches `dists/<suite>/InRelease`, else `Release` + `Release.gpg`, as apt
 * does; the signature policy is a value (no "ignore signatures" switch). An
 * InRelease that exists but fails is refused, never bypassed with Release.
 */
export async function fetchUpstreamRelease(
  fetcher: Fetcher,
  archiveUrl: string,
  suite: string,
  keys: PublicKey[],
  policy: SignaturePolicy,
  maxBytes: number,
): Promise<UpstreamRelease> {
  const base = suiteUrl(archiveUrl, suite);
  const fetchedAt = new Date();
  const inRelease = await fetcher.getSmall(`${base}/InRelease`, maxBytes);
  let verified: VerifiedRelease;
  let files: UpstreamRelease['files'];
  if (inRelease) {
    verified = await verifyInRelease(inRelease, keys, policy);
    files = [{ name: 'InRelease', data: inRelease }];
  } else {
    const release = await fetcher.getSmall(`${base}/Release`, maxBytes);
    if (!release) throw new AptfreezeError('UPSTREAM_HTTP', `${base}: neither InRelease nor Release found (404)`);
    const sig = await fetcher.getSmall(`${base}/Release.gpg`, maxBytes);
    if (!sig) throw new AptfreezeError('UPSTREAM_UNSIGNED', `${base}: Release has no Release.gpg and there is no InRelease`);
    verified = await verifyDetached(release, sig, keys, policy);
    files = [
      { name: 'Release', data: release },
      { name: 'Release.gpg', data: sig },
    ];
  }
  const release = parseRelease(verified.text);
  const sha256 = createHash('sha256').update(files[0]!.data).digest('hex');
  return { suite, form: inRelease ? 'inrelease' : 'detached', files, sha256, verified, release, fetchedAt };
}

/**
 * Freshness checks of a verified Release: not expired (freeze attack), not
 * older than what this archive already accepted for the suite (rollback).
 */
export function checkFreshness(up: UpstreamRelease, now: Date, lastAcceptedIso: string | null): void {
  const { release, suite } = up;
  if (release.validUntil && release.validUntil.getTime() < now.getTime()) {
    throw new AptfreezeError('UPSTREAM_EXPIRED', `suite ${suite}: upstream Release expired at ${release.validUntil.toISOString()} (Valid-Until is in the past)`);
  }
  if (!release.date) throw new AptfreezeError('MALFORMED', `suite ${suite}: upstream Release has no Date field`);
  if (lastAcceptedIso && release.date.getTime() < new Date(lastAcceptedIso).getTime()) {
    throw new AptfreezeError('UPSTREAM_ROLLBACK', `suite ${suite}: upstream Release Date ${release.date.toISOString()} is older than the last accepted ${lastAcceptedIso} (rollback refused)`);
  }
}
