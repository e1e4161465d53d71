import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import { parseRelease } from '../debian/release.ts';
import { compressionOf, stripCompression } from '../debian/compress.ts';
import { compareVersions } from '../debian/version.ts';
import { readPackagesBlob } from '../snapshot/packages-reader.ts';
import { whereStored } from '../store/port.ts';
import { proofComponent } from '../proof/manifest.ts';
import { requirePublished } from './state.ts';
import { requireArchive } from './service.ts';

export type DiffDeps = Pick<Services, 'config' | 'repo' | 'store' | 'publisher'>;

export interface DiffPackage {
  name: string;
  version: string;
  arch: string;
}
export interface DiffChange {
  name: string;
  arch: string;
  /** Versions in the first serial (several when an index lists several), oldest first, joined by ", ". */
  from: string;
  to: string;
}
export interface SuiteDiff {
  suite: string;
  added: DiffPackage[];
  removed: DiffPackage[];
  changed: DiffChange[];
}
export interface SerialDiff {
  archive: string;
  from: string;
  to: string;
  suites: SuiteDiff[];
  summary: { added: number; removed: number; changed: number };
}

/** name\0arch -> versions, per suite. The key is the stanza's Architecture, so an arch-all package listed in every binary-* index counts once. */
type Listing = Map<string, Map<string, Set<string>>>;

/** Compressions read in order of preference: cheapest to read first. */
const preference = ['none', 'gz', 'xz', 'zst', 'bz2', 'lz4'];

/**
 * The binary packages two serials of an archive serve, compared per suite:
 * added, removed, and changed (same name and architecture, other versions).
 * Reads the served Packages indices (listed in our Release, stored by hash),
 * never the pool. The aptfreeze-proof component is left out.
 */
export async function diffSerials(s: DiffDeps, archive: string, from: string, to: string): Promise<SerialDiff> {
  requireArchive(s, archive);
  for (const serial of [from, to]) requirePublished(s.repo.getSerial(archive, serial), archive, serial);
  const a = await listing(s, archive, from);
  const b = await listing(s, archive, to);
  const suites = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: SerialDiff = { archive, from, to, suites: [], summary: { added: 0, removed: 0, changed: 0 } };
  for (const suite of suites) {
    const pa = a.get(suite) ?? new Map<string, Set<string>>();
    const pb = b.get(suite) ?? new Map<string, Set<string>>();
    const d: SuiteDiff = { suite, added: [], removed: [], changed: [] };
    for (const key of [...new Set([...pa.keys(), ...pb.keys()])].sort()) {
      const [name, arch] = key.split('\0') as [string, string];
      const va = sortVersions(pa.get(key));
      const vb = sortVersions(pb.get(key));
      if (va.length === 0) for (const version of vb) d.added.push({ name, version, arch });
      else if (vb.length === 0) for (const version of va) d.removed.push({ name, version, arch });
      else if (va.join(' ') !== vb.join(' ')) d.changed.push({ name, arch, from: va.join(', '), to: vb.join(', ') });
    }
    out.summary.added += d.added.length;
    out.summary.removed += d.removed.length;
    out.summary.changed += d.changed.length;
    out.suites.push(d);
  }
  return out;
}

function sortVersions(v: Set<string> | undefined): string[] {
  return v ? [...v].sort(compareVersions) : [];
}

async function listing(s: DiffDeps, archive: string, serial: string): Promise<Listing> {
  const out: Listing = new Map();
  for (const { suite } of s.repo.suiteSnapshots(archive, serial)) {
    const release = parseRelease(await s.publisher.reads.readText(archive, serial, `dists/${suite}/Release`));
    const groups = new Map<string, Array<{ path: string; hash: string }>>();
    for (const e of release.sha256) {
      const base = stripCompression(e.path);
      const m = /^(.+)\/binary-[^/]+\/Packages$/.exec(base);
      if (!m || m[1] === proofComponent) continue;
      if (!groups.has(base)) groups.set(base, []);
      groups.get(base)!.push({ path: e.path, hash: e.hash });
    }
    const pkgs = new Map<string, Set<string>>();
    for (const [base, variants] of groups) {
      // Release lists the uncompressed name even where only .gz/.xz is served (as Debian's does): read one we hold.
      const held = (await whereStored(s.store, variants, (v) => v.hash)).sort((x, y) => preference.indexOf(compressionOf(x.path)) - preference.indexOf(compressionOf(y.path)));
      const v = held[0];
      if (!v) throw new AptfreezeError('INTERNAL', `${archive}/${serial}: no stored variant of dists/${suite}/${base}`);
      // The one Packages reader, under the configured cap.
      for await (const batch of readPackagesBlob(s.store, { sha256: v.hash, path: v.path }, { maxBytes: s.config.fetch.maxDecompressedBytes, where: `${archive}/${serial} dists/${suite}/${v.path}` })) {
        for (const { package: name, version, architecture: arch } of batch) {
          if (!name || !version || !arch) throw new AptfreezeError('MALFORMED', `${archive}/${serial} dists/${suite}/${v.path}: a stanza lacks Package, Version or Architecture`);
          const key = `${name}\0${arch}`;
          if (!pkgs.has(key)) pkgs.set(key, new Set());
          pkgs.get(key)!.add(version);
        }
      }
    }
    out.set(suite, pkgs);
  }
  return out;
}

/** The text form: one line per package, grouped by suite, a summary last. */
export function formatDiff(d: SerialDiff): string {
  const lines = [`${d.archive} ${d.from} -> ${d.to}`];
  for (const s of d.suites) {
    if (!s.added.length && !s.removed.length && !s.changed.length) {
      lines.push(`${s.suite}: no changes`);
      continue;
    }
    lines.push(`${s.suite}:`);
    for (const p of s.added) lines.push(`  + ${p.name} ${p.version} ${p.arch}`);
    for (const p of s.removed) lines.push(`  - ${p.name} ${p.version} ${p.arch}`);
    for (const c of s.changed) lines.push(`  ~ ${c.name} ${c.from} -> ${c.to} ${c.arch}`);
  }
  lines.push(`${d.summary.added} added, ${d.summary.removed} removed, ${d.summary.changed} changed`);
  return `${lines.join('\n')}\n`;
}
