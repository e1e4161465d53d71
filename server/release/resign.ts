import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { syncDirSync, writeFileAtomicSync } from '../util/atomic-write.ts';
import { AptfreezeError } from '../errors.ts';
import type { Publisher } from '../publish/tree.ts';
import type { ServiceKey } from '../sign/key.ts';
import { signRelease } from '../sign/signer.ts';
import { withValidUntil } from '../snapshot/release-file.ts';
import { checkRelativePath } from '../debian/paths.ts';
import { signedNames } from '../publish/tree.ts';

type SignedName = (typeof signedNames)[number];

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
export async function prepareResigned(publisher: Publisher, key: ServiceKey, archive: string, serial: string, suites: readonly string[], validUntil: Date): Promise<ResignedSuite[]> {
  const out: ResignedSuite[] = [];
  for (const suite of suites) {
    const release = await readFile(pathOf(publisher, archive, serial, suite, 'Release'), 'utf8');
    const text = withValidUntil(release, validUntil);
    const signed = await signRelease(key, text);
    out.push({ suite, next: { Release: text, 'Release.gpg': signed.releaseGpg, InRelease: signed.inRelease } });
  }
  return out;
}

/**
 * Replaces the Release files, each by temp file + rename (a reader sees the
 * old or the new file, never half of one), InRelease last. Synchronous on
 * purpose: the caller runs it inside the database transaction that records
 * the new state, so the files and the row change together (two freezes of
 * one serial, in one or two processes, cannot interleave their writes: the
 * SQLite write lock orders them). On a failure every file already replaced
 * gets its old bytes back before the error goes up (and the transaction
 * rolls back).
 */
export function commitResigned(publisher: Publisher, archive: string, serial: string, suites: readonly ResignedSuite[]): void {
  const done: Array<{ path: string; data: Buffer }> = [];
  try {
    // The bytes to put back on failure are read here, under the caller's transaction, not when signing.
    const planned = suites.flatMap((s) => signedNames.map((name) => ({ path: pathOf(publisher, archive, serial, s.suite, name), next: s.next[name] })));
    const old = planned.map((p) => readFileSync(p.path));
    planned.forEach((p, i) => {
      replaceSync(p.path, p.next);
      done.push({ path: p.path, data: old[i]! });
    });
    // Durable before the transaction commits: one directory fsync a suite, after its three renames.
    for (const dir of new Set(planned.map((p) => dirname(p.path)))) syncDirSync(dir);
  } catch (e) {
    for (const d of done.reverse()) {
      try {
        replaceSync(d.path, d.data);
      } catch {
        // Best effort: the error below says what failed; a second freeze or thaw rewrites all three files.
      }
    }
    throw new AptfreezeError('INTERNAL', `re-signing ${archive}/${serial} failed: ${(e as Error).message}`, { cause: e });
  }
}

function pathOf(publisher: Publisher, archive: string, serial: string, suite: string, name: SignedName): string {
  return join(publisher.serialDir(archive, serial), checkRelativePath(`dists/${suite}/${name}`, 'Release path'));
}

/** One signed file replaced (fsync, rename; the directory fsync'd once after the suite's three). */
function replaceSync(path: string, data: string | Buffer): void {
  writeFileAtomicSync(path, data, { mode: 0o644, deferDirSync: true });
}
