import { AptfreezeError } from '../errors.ts';
import type { PublishedTree } from '../publish/port.ts';
import type { ServiceKey } from '../sign/key.ts';
import { signRelease } from '../sign/signer.ts';
import { withValidUntil } from '../snapshot/release-file.ts';
import type { SignedName } from '../publish/signed.ts';

/** One suite's Release files re-signed with a new Valid-Until. */
export interface ResignedSuite {
  suite: string;
  next: Record<SignedName, string>;
}

/**
 * Reads each suite's Release and re-signs it with another Valid-Until. Only
 * the Release text is read (a few KB per suite); nothing of the archive is
 * copied or hashed again: the Date and the SHA256 list stay byte for byte.
 * Nothing is written here (see commitResigned).
 */
export async function prepareResigned(publisher: PublishedTree, key: ServiceKey, archive: string, serial: string, suites: readonly string[], validUntil: Date): Promise<ResignedSuite[]> {
  const out: ResignedSuite[] = [];
  for (const suite of suites) {
    const release = await publisher.readSigned(archive, serial, suite, 'Release');
    const text = withValidUntil(release, validUntil);
    const signed = await signRelease(key, text);
    out.push({ suite, next: { Release: text, 'Release.gpg': signed.releaseGpg, InRelease: signed.inRelease } });
  }
  return out;
}

/**
 * Replaces the Release files, each by temp file + rename, InRelease last (publish/signed.ts).
 * Synchronous on purpose: the caller runs it inside the database transaction that records the
 * new state, so the files and the row change together (two freezes of one serial, in one or two
 * processes, cannot interleave their writes: the SQLite write lock orders them). On a failure
 * every file already replaced gets its old bytes back before the error goes up (and the
 * transaction rolls back).
 */
export function commitResigned(publisher: PublishedTree, archive: string, serial: string, suites: readonly ResignedSuite[]): void {
  try {
    publisher.replaceSignedSync(archive, serial, suites);
  } catch (e) {
    throw new AptfreezeError('INTERNAL', `re-signing ${archive}/${serial} failed: ${(e as Error).message}`, { cause: e });
  }
}
