import type { Services } from '../services.ts';
import type { SerialRow } from '../catalog/repo.ts';

export type SerialView = ReturnType<typeof describeSerial>;

/** A serial as the API and the CLI show it; `expired` is derived from valid_until and now. */
export function describeSerial(s: Pick<Services, 'now' | 'config'>, row: SerialRow) {
  const now = s.now().getTime();
  const expired = row.state === 'live' && row.valid_until !== null && new Date(row.valid_until).getTime() < now;
  return {
    archive: row.archive,
    serial: row.serial,
    state: expired ? ('expired' as const) : row.state,
    createdAt: row.created_at,
    publishedAt: row.published_at,
    validUntil: row.valid_until,
    frozen: row.state === 'frozen' ? { until: row.frozen_until, reason: row.freeze_reason, by: row.frozen_by, at: row.frozen_at } : null,
    collectedAt: row.collected_at,
    url: `${s.config.baseUrl}/${row.archive}/${row.serial}/`,
    stats: row.stats ? (JSON.parse(row.stats) as unknown) : null,
  };
}

export function listArchives(s: Pick<Services, 'config' | 'repo' | 'now'>) {
  const names = new Set([...s.config.archives.map((a) => a.name), ...s.repo.listArchives().map((a) => a.name)]);
  return [...names].sort().map((name) => {
    const cfg = s.config.archives.find((a) => a.name === name);
    const serials = s.repo.listSerials(name);
    return {
      name,
      url: cfg?.url ?? s.repo.listArchives().find((a) => a.name === name)?.url ?? null,
      configured: Boolean(cfg),
      suites: cfg?.suites ?? [],
      components: cfg?.components ?? [],
      architectures: cfg?.architectures ?? [],
      schedule: cfg?.schedule ?? null,
      latest: serials[0]?.serial ?? null,
      serials: serials.length,
    };
  });
}
