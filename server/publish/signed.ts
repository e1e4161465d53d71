import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { checkRelativePath } from '../debian/paths.ts';
import { syncDirSync, writeFileAtomicSync } from '../util/atomic-write.ts';

/** Files written last, in this order, so a half-built tree never looks signed (InRelease last). */
export const signedNames = ['Release', 'Release.gpg', 'InRelease'] as const;
export type SignedName = (typeof signedNames)[number];

/** One suite's signed files, as they are to be. */
export interface SignedFiles {
  suite: string;
  next: Record<SignedName, string>;
}

function pathIn(serialDir: string, suite: string, name: SignedName): string {
  return join(serialDir, checkRelativePath(`dists/${suite}/${name}`, 'Release path'));
}

/** The text of one signed file of a published serial's suite. */
export function readSigned(serialDir: string, suite: string, name: SignedName): Promise<string> {
  return readFile(pathIn(serialDir, suite, name), 'utf8');
}

/**
 * Replaces the signed files of a serial's suites, each by temp file + rename (a reader sees the
 * old or the new file, never half of one), InRelease last, the directory fsync'd once a suite.
 * Synchronous: the caller runs it inside the database transaction that records the new state.
 * On a failure every file already replaced gets its old bytes back before the error goes up.
 */
export function replaceSignedSync(serialDir: string, suites: readonly SignedFiles[]): void {
  const done: Array<{ path: string; data: Buffer }> = [];
  try {
    // The bytes to put back on failure are read here, under the caller's transaction, not when signing.
    const planned = suites.flatMap((s) => signedNames.map((name) => ({ path: pathIn(serialDir, s.suite, name), next: s.next[name] })));
    const old = planned.map((p) => readFileSync(p.path));
    planned.forEach((p, i) => {
      replaceSync(p.path, p.next);
      done.push({ path: p.path, data: old[i]! });
    });
    for (const dir of new Set(planned.map((p) => dirname(p.path)))) syncDirSync(dir);
  } catch (e) {
    for (const d of done.reverse()) {
      try {
        replaceSync(d.path, d.data);
      } catch {
        // Best effort: the caller's error says what failed; a second freeze or thaw rewrites all three files.
      }
    }
    throw e;
  }
}

/** One signed file replaced (fsync, rename; the directory fsync'd once after the suite's three). */
function replaceSync(path: string, data: string | Buffer): void {
  writeFileAtomicSync(path, data, { mode: 0o644, deferDirSync: true });
}
