// Whether a published serial's Release files agree with the database's Valid-Until: the cheap
// test of every start, kept apart from the re-signing itself (finish-resign.ts) so that a reading
// command can run it without loading the signing code.
import type { Repo, SerialRow } from '../catalog/repo.ts';
import type { PublishedReads } from '../publish/reads.ts';

const validUntilLine = /^Valid-Until:[ \t]*(.+?)[ \t]*$/m;

/**
 * The suites of a published serial whose Release or InRelease names another Valid-Until than
 * the database: a cheap test (two small reads a suite, no signature checked) for every start.
 */
export function suitesToResign(d: { repo: Pick<Repo, 'suiteSnapshots'>; tree: Pick<PublishedReads, 'hasSuite' | 'signedSync'> }, row: SerialRow): string[] {
  if (!row.valid_until || (row.state !== 'live' && row.state !== 'frozen')) return [];
  const want = Math.floor(new Date(row.valid_until).getTime() / 1000) * 1000;
  const out: string[] = [];
  for (const { suite } of d.repo.suiteSnapshots(row.archive, row.serial)) {
    if (!d.tree.hasSuite(row.archive, row.serial, suite)) continue;
    const named = (n: 'Release' | 'InRelease'): number | null => {
      const text = d.tree.signedSync(row.archive, row.serial, suite, n)?.toString('utf8');
      const m = text === undefined ? null : validUntilLine.exec(text);
      return m ? Date.parse(m[1]!) : null;
    };
    if (named('Release') !== want || named('InRelease') !== want || d.tree.signedSync(row.archive, row.serial, suite, 'Release.gpg') === null) out.push(suite);
  }
  return out;
}
