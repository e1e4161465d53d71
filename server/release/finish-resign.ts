import type { Db } from '../catalog/open.ts';
import type { Repo, SerialRow } from '../catalog/repo.ts';
import type { PublishedTree } from '../publish/port.ts';
import type { ServiceKey } from '../sign/key.ts';
import { signRelease } from '../sign/signer.ts';
import { withValidUntil } from '../snapshot/release-file.ts';
import { verifyDetached, verifyInRelease } from '../pgp/verify.ts';
import { commitResigned, type ResignedSuite } from './resign.ts';
import { suitesToResign } from './resign-check.ts';

export { suitesToResign };

/**
 * Finishing a re-signing (freeze, thaw) that a crash or a power cut interrupted. A re-signing
 * replaces Release, Release.gpg and InRelease one by one inside the database transaction that
 * records the new Valid-Until; interrupted, the files disagree with each other or with the
 * database, which was rolled back (or, after a power cut, kept). The database is the record:
 * the suite is re-signed with its Valid-Until, from the text our own signature still vouches for.
 * Run at every start (services.ts) and by `fsck --repair`.
 */
export interface ResignDeps {
  db: Db;
  repo: Repo;
  publisher: PublishedTree;
  now: () => Date;
}

/**
 * Re-signs these suites of a serial with the recorded Valid-Until, in one IMMEDIATE transaction
 * with the row read again (a freeze or thaw meanwhile re-signed it itself). `note` hears of a
 * suite no file of which carries a valid signature of ours (left for the operator).
 */
export async function resignFromRecord(d: ResignDeps, key: ServiceKey, archive: string, serial: string, suites: Iterable<string>, note: (s: string) => void): Promise<boolean> {
  const row = d.repo.getSerial(archive, serial);
  if (!row?.valid_until || (row.state !== 'live' && row.state !== 'frozen')) return false;
  const policy = { now: d.now(), requireValidNow: false };
  const next: ResignedSuite[] = [];
  for (const suite of suites) {
    const read = (n: 'Release' | 'Release.gpg' | 'InRelease') => d.publisher.reads.signedSync(archive, serial, suite, n);
    // The text our signature vouches for: InRelease's, else Release's (only Valid-Until may differ between them).
    let text: string | null = null;
    const inRelease = read('InRelease');
    if (inRelease) text = await verifyInRelease(inRelease, [key.publicKey], policy).then((v) => v.text, () => null);
    const release = read('Release');
    const gpg = read('Release.gpg');
    if (text === null && release && gpg) text = await verifyDetached(release, gpg, [key.publicKey], policy).then((v) => v.text, () => null);
    if (text === null) {
      note(`${archive}/${serial} dists/${suite}: no file carries a valid signature of ours; not re-signed`);
      continue;
    }
    const body = withValidUntil(text, new Date(row.valid_until));
    const signed = await signRelease(key, body);
    next.push({ suite, next: { Release: body, 'Release.gpg': signed.releaseGpg, InRelease: signed.inRelease } });
  }
  if (!next.length) return false;
  let done = false;
  d.db
    .transaction(() => {
      const again = d.repo.getSerial(archive, serial);
      if (again?.valid_until !== row.valid_until || (again.state !== 'live' && again.state !== 'frozen')) return;
      commitResigned(d.publisher, archive, serial, next);
      done = true;
    })
    .immediate();
  return done;
}

/** Start-up recovery's part: every published serial of these archives whose Release files disagree with the database, re-signed. */
export async function finishResigning(d: ResignDeps, key: ServiceKey, archives: Iterable<string>, note: (s: string) => void): Promise<string[]> {
  const finished: string[] = [];
  for (const a of archives) {
    for (const row of d.repo.listSerials(a)) {
      const suites = suitesToResign({ repo: d.repo, tree: d.publisher.reads }, row);
      if (suites.length && (await resignFromRecord(d, key, a, row.serial, suites, note))) finished.push(`${a}/${row.serial}`);
    }
  }
  return finished;
}
