/**
 * Recreating a build environment from aptfreeze alone: a .buildinfo's
 * Installed-Build-Depends (exact versions) resolved against the mirrored
 * archives' provenance, to one serial per archive. Per archive, the newest
 * published serial that holds every dependency only that archive has; a
 * dependency several archives have is held if any chosen serial holds it.
 * What no chosen serial holds is listed as missing, so the upload says
 * plainly when its environment cannot be recreated.
 */
import type { Repo } from '../catalog/repo.ts';
import { queryProvenance, type ProvenanceEntry } from '../provenance/query.ts';
import type { Buildinfo } from './changes.ts';

export interface BuildEnv {
  /** archive -> serial */
  serials: Record<string, string>;
  missing: Array<{ name: string; version: string }>;
}

export function resolveBuildEnv(repo: Repo, depends: Buildinfo['depends'], exclude: ReadonlySet<string>): BuildEnv {
  const found = depends.map((d) => ({ dep: d, entries: queryProvenance(repo, { package: d.name, version: d.version }).filter((e) => !exclude.has(e.archive)) }));
  const holds = (entries: ProvenanceEntry[], archive: string, serial: string) =>
    entries.some((e) => e.archive === archive && e.runs.some((r) => r.first <= serial && serial <= r.last));
  const archives = [...new Set(found.flatMap((f) => f.entries.map((e) => e.archive)))].sort();
  const serials: Record<string, string> = {};
  for (const a of archives) {
    const pinned = found.filter((f) => f.entries.length && f.entries.every((e) => e.archive === a));
    const live = repo.listSerials(a).map((r) => r.serial); // newest first
    const pick = live.find((s) => pinned.every((f) => holds(f.entries, a, s))) ?? live.find((s) => found.some((f) => holds(f.entries, a, s)));
    if (pick) serials[a] = pick;
  }
  const missing = found.filter((f) => !Object.entries(serials).some(([a, s]) => holds(f.entries, a, s))).map((f) => ({ name: f.dep.name, version: f.dep.version }));
  return { serials, missing };
}
