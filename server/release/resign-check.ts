// Whether a published serial's Release files agree with the database's Valid-Until: the cheap
// test of every start, kept apart from the re-signing itself (finish-resign.ts) so that a reading
// command can run it without loading the signing code.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Repo, SerialRow } from '../catalog/repo.ts';
import { checkRelativePath } from '../debian/paths.ts';

const validUntilLine = /^Valid-Until:[ \t]*(.+?)[ \t]*$/m;

/**
 * The suites of a published serial whose Release or InRelease names another Valid-Until than
 * the database: a cheap test (two small reads a suite, no signature checked) for every start.
 */
export function suitesToResign(d: { repo: Pick<Repo, 'suiteSnapshots'>; publisher: { serialDir(archive: string, serial: string): string } }, row: SerialRow): string[] {
  if (!row.valid_until || (row.state !== 'live' && row.state !== 'frozen')) return [];
  const want = Math.floor(new Date(row.valid_until).getTime() / 1000) * 1000;
  const dir = d.publisher.serialDir(row.archive, row.serial);
  const out: string[] = [];
  for (const { suite } of d.repo.suiteSnapshots(row.archive, row.serial)) {
    const base = join(dir, checkRelativePath(`dists/${suite}`, 'suite path'));
    const named = (n: string): number | null => {
      try {
        const m = validUntilLine.exec(readFileSync(join(base, n), 'utf8'));
        return m ? Date.parse(m[1]!) : null;
      } catch {
        return null;
      }
    };
    if (!existsSync(base)) continue;
    if (named('Release') !== want || named('InRelease') !== want || !existsSync(join(base, 'Release.gpg'))) out.push(suite);
  }
  return out;
}

