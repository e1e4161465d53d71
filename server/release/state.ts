/**
 * Release management as a pure state transition: freeze, thaw and which
 * serials garbage collection takes. No I/O, no clock: `now` is passed in.
 * The service around it (service.ts, gc.ts) reads rows, applies these and
 * writes the result.
 *
 *   live --freeze--> frozen --freeze--> frozen (the date moves)
 *   frozen --thaw--> live (valid for `lifetime` from the thaw: a grace period for in-flight builds)
 *   live, past valid_until, not latest, not among the newest `keep` --gc--> collected
 *
 * "expired" is not a stored state: it is a live serial whose valid_until has
 * passed (describeSerial). A frozen serial is never collected, even past its
 * freeze date: only a thaw makes it collectable again (keeping data a release
 * manager asked for is the safe side).
 */
import { AptfreezeError } from '../errors.ts';
import type { SerialRow, SerialState } from '../catalog/repo.ts';
import { isDuration, parseDuration } from '../config/duration.ts';

/** The columns a freeze or thaw changes, as stored. */
export interface ReleaseFields {
  state: SerialState;
  valid_until: string | null;
  frozen_until: string | null;
  freeze_reason: string | null;
  frozen_by: string | null;
  frozen_at: string | null;
}

export interface Transition {
  before: ReleaseFields;
  after: ReleaseFields;
  /** The new Valid-Until of the serial's Release files. */
  validUntil: Date;
}

export const maxReasonLength = 500;

/** The fields of a row that release management owns. */
export function releaseFields(row: SerialRow): ReleaseFields {
  return {
    state: row.state,
    valid_until: row.valid_until,
    frozen_until: row.frozen_until,
    freeze_reason: row.freeze_reason,
    frozen_by: row.frozen_by,
    frozen_at: row.frozen_at,
  };
}

/** NOT_FOUND for a serial that was never published, GONE for a collected one. */
export function requirePublished(row: SerialRow | undefined, archive: string, serial: string): SerialRow {
  if (!row || row.state === 'pending' || row.state === 'failed') throw new AptfreezeError('NOT_FOUND', `no serial ${serial} of ${archive}`);
  if (row.state === 'collected') throw new AptfreezeError('GONE', `${archive}/${serial} was collected`);
  return row;
}

const isoRe = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * A freeze date: an ISO 8601 date (`2027-03-01`, midnight UTC) or date-time
 * with a zone (`2027-03-01T12:00:00Z`, `…+01:00`); with `allowDuration` (the
 * CLI) also a duration from now (`90d`). Whole seconds, as Valid-Until is
 * written (RFC 2822 has no fractions). BAD_REQUEST when malformed.
 */
export function parseUntil(text: unknown, now: Date, opts: { allowDuration?: boolean } = {}): Date {
  if (typeof text !== 'string' || text.trim() === '') throw new AptfreezeError('BAD_REQUEST', 'until: expected an ISO 8601 date, e.g. 2027-03-01 or 2027-03-01T12:00:00Z');
  const t = text.trim();
  if (opts.allowDuration && isDuration(t)) return wholeSeconds(new Date(now.getTime() + parseDuration(t, 'until')));
  const m = isoRe.exec(t);
  if (!m) throw new AptfreezeError('BAD_REQUEST', `until: "${t}" is not an ISO 8601 date (expected e.g. 2027-03-01 or 2027-03-01T12:00:00Z${opts.allowDuration ? ', or a duration such as 90d' : ''})`);
  const [, y, mo, d, hh, mi] = m;
  const date = new Date(m[4] === undefined ? `${y}-${mo}-${d}T00:00:00Z` : t);
  // Date.parse rolls 2027-02-31 over into March and accepts hour 24: refuse both.
  const probe = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (Number.isNaN(date.getTime()) || probe.getUTCMonth() !== Number(mo) - 1 || probe.getUTCDate() !== Number(d) || Number(hh ?? 0) > 23 || Number(mi ?? 0) > 59) {
    throw new AptfreezeError('BAD_REQUEST', `until: "${t}" is not a valid date`);
  }
  return wholeSeconds(date);
}

export function parseReason(text: unknown): string {
  if (typeof text !== 'string' || text.trim() === '') throw new AptfreezeError('BAD_REQUEST', 'reason: expected a non-empty text saying why the serial is frozen');
  const r = text.trim();
  if (r.length > maxReasonLength) throw new AptfreezeError('BAD_REQUEST', `reason: at most ${maxReasonLength} characters`);
  if (/[\u0000-\u001f\u007f]/.test(r)) throw new AptfreezeError('BAD_REQUEST', 'reason: one line, no control characters');
  return r;
}

function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

/** Freeze (or re-freeze) a published serial until a future date. */
export function planFreeze(row: SerialRow, req: { until: Date; reason: string; actor: string; now: Date }): Transition {
  requirePublished(row, row.archive, row.serial);
  if (req.until.getTime() <= req.now.getTime()) {
    throw new AptfreezeError('BAD_REQUEST', `until: ${req.until.toISOString()} is not in the future`);
  }
  const before = releaseFields(row);
  const until = req.until.toISOString();
  return {
    before,
    after: { state: 'frozen', valid_until: until, frozen_until: until, freeze_reason: req.reason, frozen_by: req.actor, frozen_at: req.now.toISOString() },
    validUntil: req.until,
  };
}

/** End a freeze: live again, valid for `lifetimeMs` from now. CONFLICT when the serial is not frozen. */
export function planThaw(row: SerialRow, req: { lifetimeMs: number; now: Date }): Transition {
  requirePublished(row, row.archive, row.serial);
  if (row.state !== 'frozen') throw new AptfreezeError('CONFLICT', `${row.archive}/${row.serial} is not frozen`);
  const validUntil = wholeSeconds(new Date(req.now.getTime() + req.lifetimeMs));
  return {
    before: releaseFields(row),
    after: { state: 'live', valid_until: validUntil.toISOString(), frozen_until: null, freeze_reason: null, frozen_by: null, frozen_at: null },
    validUntil,
  };
}

export type KeepReason = 'latest' | 'newest' | 'frozen' | 'valid';

export interface CollectPlan {
  /** Serials gc collects, newest first. */
  collect: SerialRow[];
  /** Every other published serial and why it stays. */
  keep: Array<{ row: SerialRow; reason: KeepReason }>;
}

/**
 * Which published serials of ONE archive gc collects: live ones whose
 * valid_until has passed, except the archive's latest serial and its newest
 * `keep` published serials (frozen ones count among the newest: they are
 * published serials a builder may use).
 */
export function selectCollectable(rows: readonly SerialRow[], opts: { now: Date; keep: number }): CollectPlan {
  const published = rows.filter((r) => r.state === 'live' || r.state === 'frozen').sort((a, b) => (a.serial < b.serial ? 1 : a.serial > b.serial ? -1 : 0));
  const plan: CollectPlan = { collect: [], keep: [] };
  published.forEach((row, i) => {
    const reason: KeepReason | null =
      i === 0 ? 'latest' : i < opts.keep ? 'newest' : row.state === 'frozen' ? 'frozen' : !isExpired(row, opts.now) ? 'valid' : null;
    if (reason) plan.keep.push({ row, reason });
    else plan.collect.push(row);
  });
  return plan;
}

/** A live serial whose valid_until has passed (a serial without one never expires). */
export function isExpired(row: Pick<SerialRow, 'state' | 'valid_until'>, now: Date): boolean {
  return row.state === 'live' && row.valid_until !== null && new Date(row.valid_until).getTime() < now.getTime();
}
