import type { Repo } from '../catalog/repo.ts';
import { AptfreezeError } from '../errors.ts';

export interface ProvenanceQuery {
  package: string;
  version: string;
  /** The package's Architecture (amd64, all, ...); any when absent. */
  arch?: string;
}

/** First and last serial of an unbroken run of published serials that served the file. */
export interface ProvenanceRun {
  first: string;
  last: string;
  /** How many published serials the run holds. */
  serials: number;
}

export interface ProvenanceEntry {
  archive: string;
  suite: string;
  component: string;
  /** The package's Architecture field. */
  architecture: string;
  /** The Packages indices that listed it: amd64, all, ... (an arch-all package is in every binary-<arch> index). */
  indexArchitectures: string[];
  package: string;
  version: string;
  sha256: string;
  size: number;
  /** The pool path (Filename), relative to the snapshot's root. */
  filename: string;
  runs: ProvenanceRun[];
}

const NAME_RE = /^[a-z0-9][a-z0-9+.-]*$/;
const VERSION_RE = /^[A-Za-z0-9.+~:-]+$/;

/** Checks query parameters (outside input): BAD_REQUEST for a malformed one. */
export function checkQuery(q: { package?: unknown; version?: unknown; arch?: unknown }): ProvenanceQuery {
  if (typeof q.package !== 'string' || !NAME_RE.test(q.package)) throw new AptfreezeError('BAD_REQUEST', 'package: expected a Debian package name');
  if (typeof q.version !== 'string' || !VERSION_RE.test(q.version)) throw new AptfreezeError('BAD_REQUEST', 'version: expected a Debian version');
  if (q.arch !== undefined && (typeof q.arch !== 'string' || !/^[a-z0-9-]+$/.test(q.arch))) throw new AptfreezeError('BAD_REQUEST', 'arch: expected an architecture name');
  return { package: q.package, version: q.version, ...(q.arch !== undefined ? { arch: q.arch as string } : {}) };
}

/**
 * Every archive, suite, component and architecture that served a package
 * version, as runs of serials. A run is an unbroken stretch of the archive's
 * history (every serial ever published, collected ones included) in which
 * the file was listed: ranges of several indices (an arch-all package is in
 * binary-amd64 and binary-all) and ranges that touch are merged. Each run is
 * then cut down to the serials still published, since gc may have collected
 * some: its first and last are serials that exist, `serials` counts those it
 * holds, and a run left with none is dropped. A collected serial in which the
 * file was absent still separates two runs: the answer stays true to history.
 */
export function queryProvenance(repo: Repo, q: ProvenanceQuery): ProvenanceEntry[] {
  const rows = repo.presenceOf(q.package, q.version, q.arch);
  const histories = new Map<string, { all: string[]; live: Set<string> }>();
  const historyOf = (archive: string) => {
    let h = histories.get(archive);
    if (!h) {
      const serials = repo.listSerials(archive, { includeCollected: true });
      h = { all: serials.map((r) => r.serial).sort(), live: new Set(serials.filter((r) => r.state !== 'collected').map((r) => r.serial)) };
      histories.set(archive, h);
    }
    return h;
  };
  const groups = new Map<string, { entry: ProvenanceEntry; spans: Array<[number, number]> }>();
  for (const r of rows) {
    const last = r.last_serial ?? r.index_last_serial;
    if (!last) continue;
    const { all } = historyOf(r.archive);
    const lo = lowerBound(all, r.first_serial);
    const hi = lowerBound(all, last + '\uffff') - 1; // the last serial <= last
    const key = [r.archive, r.suite, r.component, r.architecture, r.sha256, r.filename].join('\0');
    let g = groups.get(key);
    if (!g) {
      g = {
        entry: {
          archive: r.archive,
          suite: r.suite,
          component: r.component,
          architecture: r.architecture,
          indexArchitectures: [],
          package: r.package,
          version: r.version,
          sha256: r.sha256,
          size: r.size,
          filename: r.filename,
          runs: [],
        },
        spans: [],
      };
      groups.set(key, g);
    }
    const indexArch = r.arch_dir.replace(/^binary-/, '');
    if (!g.entry.indexArchitectures.includes(indexArch)) g.entry.indexArchitectures.push(indexArch);
    if (lo <= hi) g.spans.push([lo, hi]);
  }
  const out: ProvenanceEntry[] = [];
  for (const { entry, spans } of groups.values()) {
    const { all, live } = historyOf(entry.archive);
    spans.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const [lo, hi] of spans) {
      const top = merged[merged.length - 1];
      if (top && lo <= top[1] + 1) top[1] = Math.max(top[1], hi);
      else merged.push([lo, hi]);
    }
    for (const [lo, hi] of merged) {
      const remaining = all.slice(lo, hi + 1).filter((s) => live.has(s));
      if (remaining.length) entry.runs.push({ first: remaining[0]!, last: remaining[remaining.length - 1]!, serials: remaining.length });
    }
    if (entry.runs.length === 0) continue;
    entry.indexArchitectures.sort();
    out.push(entry);
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return out.sort((a, b) => cmp(a.archive, b.archive) || cmp(a.suite, b.suite) || cmp(a.component, b.component) || cmp(a.architecture, b.architecture) || cmp(a.runs[0]!.first, b.runs[0]!.first));
}

function lowerBound(xs: string[], x: string): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
