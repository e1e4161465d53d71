/**
 * snapshot.debian.org's time stamps (`YYYYMMDDTHHMMSSZ`, UTC) and the ids `/archive/<archive>/<id>/`
 * takes: a serial, `YYYYMMDD`, `YYYYMMDDTHHMMSSZ` or `now`. Pure: no I/O.
 */

export const stampRe = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** `YYYYMMDDTHHMMSSZ` of a time (seconds truncated). */
export function formatStamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

export type ArchiveId = { kind: 'serial'; serial: string } | { kind: 'time'; at: Date };

/**
 * Parses an id, or null if it is none of the forms. `YYYYMMDD` is that day's start (00:00:00Z), as
 * snapshot.debian.org reads it: the state published before the day began. Impossible dates are null.
 */
export function parseArchiveId(id: string, now: Date): ArchiveId | null {
  if (/^\d{10}$/.test(id)) return { kind: 'serial', serial: id };
  if (id === 'now') return { kind: 'time', at: now };
  const m = stampRe.exec(id) ?? /^(\d{4})(\d{2})(\d{2})$/.exec(id);
  if (!m) return null;
  const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1).map((x) => x ?? '0');
  const at = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
  // Date.UTC rolls 20261340 over into 2027: refuse what does not read back the same.
  if (at.getUTCMonth() !== Number(mo) - 1 || at.getUTCDate() !== Number(d) || at.getUTCHours() !== Number(h) || at.getUTCMinutes() !== Number(mi) || at.getUTCSeconds() !== Number(s)) return null;
  return { kind: 'time', at };
}

export interface PublishedSerial {
  serial: string;
  published_at: string | null;
}

/**
 * The newest serial published at or before `at` (publication times compared at the second, the
 * resolution of a stamp, so that a serial's own stamp names it). Serials newest first.
 */
export function serialAt<T extends PublishedSerial>(serials: readonly T[], at: Date): T | undefined {
  const limit = Math.floor(at.getTime() / 1000);
  let best: T | undefined;
  for (const s of serials) {
    if (!s.published_at) continue;
    const t = Math.floor(Date.parse(s.published_at) / 1000);
    if (t <= limit && (!best || s.serial > best.serial)) best = s;
  }
  return best;
}
