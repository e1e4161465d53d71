import { Counter, Gauge, type Registry } from 'prom-client';
import type { Services } from '../services.ts';
import { MetricsQueries } from '../catalog/metrics.ts';
import { dataLayout } from '../datadir.ts';
import { fsStoreUsage } from '../store/usage.ts';

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
  const q = new MetricsQueries(deps.db);
  const lastRun = (archive: string) => {
    const row = q.lastRun(archive);
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
      const rows = q.serialStates(deps.now());
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
      for (const r of q.freezes()) this.set({ archive: r.archive, serial: r.serial }, Date.parse(r.frozen_until) / 1000);
    },
  });

  new Counter({
    name: 'aptfreeze_operations_total',
    help: 'Operations by kind and outcome (from the operations table where there is one, else from the serials and the audit log)',
    labelNames: ['kind', 'outcome'],
    ...reg,
    collect() {
      this.reset();
      for (const r of q.operations()) this.inc({ kind: r.kind, outcome: r.outcome }, r.n);
    },
  });

  let storeCache: { key: string; files: number; bytes: number } | null = null;
  const storeSize = () => {
    // Walked again only when something was recorded since (every change of the store writes an audit row).
    const key = String(q.lastAuditId());
    if (storeCache?.key !== key) storeCache = { key, ...fsStoreUsage(dataLayout(deps.dataDir).store) };
    return storeCache;
  };
  new Gauge({ name: 'aptfreeze_store_bytes', help: 'Bytes in the content-addressed store', ...reg, collect() { this.set(storeSize().bytes); } });
  new Gauge({ name: 'aptfreeze_store_files', help: 'Files in the content-addressed store', ...reg, collect() { this.set(storeSize().files); } });
}
