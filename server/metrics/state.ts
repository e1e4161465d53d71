import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Services } from '../services.ts';

export type StateDeps = Pick<Services, 'db' | 'repo' | 'config' | 'now' | 'dataDir'>;

/**
 * Metrics derived from the database and the store at each scrape, so that every process (the
 * daemon, each HTTP worker) gives the same values whoever took the snapshot: per archive, the
 * last successful snapshot, serial counts by state, freeze deadlines; operations by kind and
 * outcome; the store's size. Each is aggregated across workers as 'first' (not summed).
 */
export function registerStateMetrics(registry: Registry, deps: StateDeps): void {
  const reg = { registers: [registry], aggregator: 'first' as const };
  const archives = () => [...new Set([...deps.config.archives.map((a) => a.name), ...deps.repo.listArchives().map((a) => a.name)])];
  const lastRun = (archive: string) => {
    const row = deps.db
      .prepare("SELECT published_at, stats FROM serials WHERE archive = ? AND published_at IS NOT NULL AND state IN ('live', 'frozen', 'collected') ORDER BY serial DESC LIMIT 1")
      .get(archive) as { published_at: string; stats: string | null } | undefined;
    if (!row) return null;
    let stats: Record<string, number> = {};
    try {
      stats = JSON.parse(row.stats ?? '{}') as Record<string, number>;
    } catch {
      stats = {};
    }
    return { at: Date.parse(row.published_at) / 1000, stats };
  };
  const perArchive = (name: string, help: string, value: (r: NonNullable<ReturnType<typeof lastRun>>) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['archive'],
      ...reg,
      collect() {
        this.reset();
        for (const a of archives()) {
          const r = lastRun(a);
          if (r) this.set({ archive: a }, value(r));
        }
      },
    });
  perArchive('aptfreeze_snapshot_last_success_timestamp_seconds', 'When the newest successful snapshot of the archive was published (Unix time)', (r) => r.at);
  perArchive('aptfreeze_snapshot_last_duration_seconds', 'How long the newest successful snapshot took', (r) => (r.stats['ms'] ?? 0) / 1000);
  perArchive('aptfreeze_snapshot_last_bytes_fetched', 'Bytes fetched from upstream by the newest successful snapshot', (r) => r.stats['bytesFetched'] ?? 0);
  perArchive('aptfreeze_snapshot_last_files_fetched', 'Files (indices and pool files) fetched from upstream by the newest successful snapshot', (r) => (r.stats['indexFetched'] ?? 0) + (r.stats['poolFetched'] ?? 0));

  new Gauge({
    name: 'aptfreeze_serials',
    help: 'Serials by state (expired: live past its Valid-Until)',
    labelNames: ['archive', 'state'],
    ...reg,
    collect() {
      this.reset();
      const now = deps.now().toISOString();
      const rows = deps.db
        .prepare("SELECT archive, CASE WHEN state = 'live' AND valid_until < ? THEN 'expired' ELSE state END AS st, COUNT(*) AS n FROM serials WHERE state != 'pending' GROUP BY archive, st")
        .all(now) as Array<{ archive: string; st: string; n: number }>;
      for (const a of archives()) for (const st of ['live', 'frozen', 'expired', 'collected', 'failed']) this.set({ archive: a, state: st }, 0);
      for (const r of rows) this.set({ archive: r.archive, state: r.st }, r.n);
    },
  });

  new Gauge({
    name: 'aptfreeze_freeze_until_timestamp_seconds',
    help: 'The deadline of each frozen serial (Unix time); alert on one close to now',
    labelNames: ['archive', 'serial'],
    ...reg,
    collect() {
      this.reset();
      const rows = deps.db.prepare("SELECT archive, serial, frozen_until FROM serials WHERE state = 'frozen' AND frozen_until IS NOT NULL").all() as Array<{ archive: string; serial: string; frozen_until: string }>;
      for (const r of rows) this.set({ archive: r.archive, serial: r.serial }, Date.parse(r.frozen_until) / 1000);
    },
  });

  new Counter({
    name: 'aptfreeze_operations_total',
    help: 'Operations by kind and outcome (from the operations table where there is one, else from the serials and the audit log)',
    labelNames: ['kind', 'outcome'],
    ...reg,
    collect() {
      this.reset();
      for (const r of operationCounts(deps)) this.inc({ kind: r.kind, outcome: r.outcome }, r.n);
    },
  });

  let storeCache: { key: string; files: number; bytes: number } | null = null;
  const storeSize = () => {
    // Walked again only when something was recorded since (every change of the store writes an audit row).
    const key = String(deps.db.prepare('SELECT MAX(id) FROM audit_log').pluck().get() ?? 0);
    if (storeCache?.key !== key) storeCache = { key, ...walk(join(deps.dataDir, 'store', 'sha256')) };
    return storeCache;
  };
  new Gauge({ name: 'aptfreeze_store_bytes', help: 'Bytes in the content-addressed store', ...reg, collect() { this.set(storeSize().bytes); } });
  new Gauge({ name: 'aptfreeze_store_files', help: 'Files in the content-addressed store', ...reg, collect() { this.set(storeSize().files); } });
}

function operationCounts(deps: StateDeps): Array<{ kind: string; outcome: string; n: number }> {
  const hasOps = deps.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'operations'").get() !== undefined;
  if (hasOps) {
    try {
      return deps.db.prepare('SELECT kind, state AS outcome, COUNT(*) AS n FROM operations GROUP BY kind, state').all() as Array<{ kind: string; outcome: string; n: number }>;
    } catch {
      // another shape than expected: fall back to what the core tables say
    }
  }
  const out = deps.db
    .prepare("SELECT 'snapshot' AS kind, CASE WHEN state = 'failed' THEN 'failed' ELSE 'succeeded' END AS outcome, COUNT(*) AS n FROM serials WHERE state != 'pending' GROUP BY outcome")
    .all() as Array<{ kind: string; outcome: string; n: number }>;
  const audited = deps.db.prepare("SELECT action AS kind, 'succeeded' AS outcome, COUNT(*) AS n FROM audit_log WHERE action IN ('freeze', 'thaw', 'gc') GROUP BY action").all() as Array<{ kind: string; outcome: string; n: number }>;
  return [...out, ...audited];
}

function walk(root: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  let fans: string[] = [];
  try {
    fans = readdirSync(root);
  } catch {
    return { files, bytes };
  }
  for (const d of fans) {
    let names: string[] = [];
    try {
      names = readdirSync(join(root, d));
    } catch {
      continue;
    }
    for (const f of names) {
      try {
        bytes += statSync(join(root, d, f)).size;
        files++;
      } catch {
        // removed by gc meanwhile
      }
    }
  }
  return { files, bytes };
}
