/**
 * Branch overlays, as release teams keep them (Tails: a suite per topic
 * branch holding only what the branch adds; a build uses the base suite plus
 * its overlays): `aptfreeze suite create|merge|reset|diff`. Each mutation is an
 * operation (`suite.create`, `suite.merge`, `suite.reset`, server/ops/kinds/uploads.ts)
 * that holds the repository's archive lock, in the line of its uploads; its
 * catalog change and audit entry are one transaction, then it publishes a new
 * serial of the repository.
 *
 * merge: the base suite then holds the overlay's version of every package the
 * overlay holds, in place of the versions it held (several versions of other
 * packages stay); a merge that would lower a version is refused (DOWNGRADE)
 * unless forced, so nothing is downgraded by accident.
 */
import { AptfreezeError } from '../errors.ts';
import type { RepositoryConfig } from '../config/schema.ts';
import { compareVersions } from '../debian/version.ts';
import { Catalog, type PackageRow } from '../catalog/uploads.ts';
import { repositorySuites } from './suites.ts';
import { publishRepository, type RepoPublishDeps, type RepoPublishResult } from './publish.ts';

export type OverlayDeps = RepoPublishDeps;

const suiteRe = /^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9][A-Za-z0-9._+~\/-]*$/;

export interface DiffEntry {
  kind: 'binary' | 'source';
  name: string;
  architecture: string;
  /** The newest version each suite holds, or null. */
  from: string | null;
  to: string | null;
  change: 'added' | 'removed' | 'upgrade' | 'downgrade';
}

/** What `to` holds that `from` does not, newest version per (kind, name, architecture). Pure. */
export function diffPackages(from: PackageRow[], to: PackageRow[]): DiffEntry[] {
  const newest = (rows: PackageRow[]) => {
    const m = new Map<string, PackageRow>();
    for (const r of rows) {
      const k = `${r.kind}\0${r.name}\0${r.architecture}`;
      const seen = m.get(k);
      if (!seen || compareVersions(r.version, seen.version) > 0) m.set(k, r);
    }
    return m;
  };
  const a = newest(from);
  const b = newest(to);
  const out: DiffEntry[] = [];
  for (const k of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(k);
    const y = b.get(k);
    const r = (x ?? y)!;
    const c = x && y ? compareVersions(y.version, x.version) : null;
    if (c === 0) continue;
    out.push({ kind: r.kind, name: r.name, architecture: r.architecture, from: x?.version ?? null, to: y?.version ?? null, change: !x ? 'added' : !y ? 'removed' : c! > 0 ? 'upgrade' : 'downgrade' });
  }
  return out;
}

export function formatDiff(entries: DiffEntry[]): string {
  return entries
    .map((e) => {
      const what = `${e.name} ${e.architecture}`;
      if (e.change === 'added') return `+ ${what} ${e.to}\n`;
      if (e.change === 'removed') return `- ${what} ${e.from}\n`;
      return `~ ${what} ${e.from} -> ${e.to} (${e.change})\n`;
    })
    .join('');
}

export class Overlays {
  private readonly catalog: Catalog;

  constructor(private readonly d: OverlayDeps) {
    this.catalog = new Catalog(d.db);
  }

  repository(name: string): RepositoryConfig {
    const cfg = this.d.config.repositories.find((r) => r.name === name);
    if (!cfg) throw new AptfreezeError('NOT_FOUND', `unknown repository ${name}`);
    return cfg;
  }

  private suiteOf(cfg: RepositoryConfig, suite: string) {
    const s = repositorySuites(this.catalog, cfg).find((x) => x.suite === suite);
    if (!s) throw new AptfreezeError('NOT_FOUND', `${cfg.name} has no suite ${suite}`);
    return s;
  }

  async create(repository: string, suite: string, base: string, actor: string): Promise<RepoPublishResult> {
    const cfg = this.repository(repository);
    if (!suiteRe.test(suite)) throw new AptfreezeError('BAD_REQUEST', `suite ${JSON.stringify(suite)}: expected letters, digits, . _ + ~ - and /`);
    if (!cfg.suites.includes(base)) throw new AptfreezeError('BAD_REQUEST', `base ${base} is not a configured suite of ${repository} (${cfg.suites.join(', ')})`);
    if (repositorySuites(this.catalog, cfg).some((s) => s.suite === suite)) throw new AptfreezeError('CONFLICT', `${repository} has a suite ${suite} already`);
    const now = this.d.now();
    this.catalog.db.transaction(() => {
      this.catalog.createOverlay({ repository, suite, base, created_at: now.toISOString(), created_by: actor });
      this.d.repo.appendAudit({ actor, action: 'suite.create', target: `${repository}/${suite}`, after: { base } }, now);
    }).immediate();
    return publishRepository(this.d, cfg, actor);
  }

  diff(repository: string, from: string, to: string): DiffEntry[] {
    const cfg = this.repository(repository);
    this.suiteOf(cfg, from);
    this.suiteOf(cfg, to);
    return diffPackages(this.catalog.suitePackages(repository, from), this.catalog.suitePackages(repository, to));
  }

  async merge(repository: string, overlay: string, opts: { into?: string; force?: boolean }, actor: string): Promise<{ changes: DiffEntry[]; serial: string }> {
    const cfg = this.repository(repository);
    const o = this.suiteOf(cfg, overlay);
    const into = opts.into ?? o.base;
    if (!into) throw new AptfreezeError('BAD_REQUEST', `${overlay} is not an overlay: name the suite to merge into with --into`);
    this.suiteOf(cfg, into);
    const catalog = this.catalog;
    const changes = catalog.db
      .transaction(() => {
        const adds = catalog.suitePackages(repository, overlay);
        const base = catalog.suitePackages(repository, into);
        const changes = diffPackages(base, adds).filter((e) => e.change !== 'removed');
        const down = changes.filter((e) => e.change === 'downgrade');
        if (down.length && !opts.force) {
          throw new AptfreezeError('DOWNGRADE', `merging ${overlay} into ${into} would downgrade ${down.map((e) => `${e.name} ${e.from} -> ${e.to}`).join(', ')} (use --force to do it anyway)`, { details: { downgrades: down } });
        }
        const key = (r: PackageRow) => `${r.kind}\0${r.name}\0${r.architecture}`;
        const replaced = new Set(adds.map(key));
        catalog.removeFromSuite(repository, into, base.filter((r) => replaced.has(key(r))).map((r) => r.id));
        catalog.addToSuite(repository, into, adds.map((r) => r.id));
        this.d.repo.appendAudit({ actor, action: 'suite.merge', target: `${repository}/${overlay}`, after: { into, force: Boolean(opts.force), changes } }, this.d.now());
        return changes;
      })
      .immediate();
    const published = await publishRepository(this.d, cfg, actor);
    return { changes, serial: published.serial };
  }

  async reset(repository: string, overlay: string, actor: string): Promise<{ removed: number; serial: string }> {
    const cfg = this.repository(repository);
    const o = this.suiteOf(cfg, overlay);
    if (!o.base) throw new AptfreezeError('BAD_REQUEST', `${overlay} is a configured suite, not an overlay: only an overlay is reset`);
    const removed = this.catalog.db.transaction(() => {
      const n = this.catalog.clearSuite(repository, overlay);
      this.d.repo.appendAudit({ actor, action: 'suite.reset', target: `${repository}/${overlay}`, after: { removed: n } }, this.d.now());
      return n;
    }).immediate();
    const published = await publishRepository(this.d, cfg, actor);
    return { removed, serial: published.serial };
  }
}
