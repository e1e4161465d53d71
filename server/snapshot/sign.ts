import { signRelease } from '../sign/signer.ts';
import type { ServiceKey } from '../sign/key.ts';
import type { TreeFile } from '../publish/tree.ts';

/**
 * Step 7 (design, mirror cycle 5): each suite's Release signed with the service key,
 * as the three files apt reads: Release, Release.gpg, InRelease (in the order the
 * publisher writes them last, so a half-built tree never looks signed).
 */
export async function signReleases(key: ServiceKey, releases: ReadonlyArray<{ suite: string; text: string }>): Promise<TreeFile[]> {
  const files: TreeFile[] = [];
  for (const r of releases) {
    const signed = await signRelease(key, r.text);
    files.push({ path: `dists/${r.suite}/Release`, data: r.text });
    files.push({ path: `dists/${r.suite}/Release.gpg`, data: signed.releaseGpg });
    files.push({ path: `dists/${r.suite}/InRelease`, data: signed.inRelease });
  }
  return files;
}
