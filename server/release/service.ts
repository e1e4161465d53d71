import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import type { SerialRow } from '../catalog/repo.ts';
import { describeSerial, type SerialView } from '../snapshot/query.ts';
import { ReleaseRepo } from '../catalog/release.ts';
import { parseReason, parseUntil, planFreeze, planThaw, requirePublished, type ReleaseFields, type Transition } from './state.ts';
import { commitResigned, prepareResigned } from './resign.ts';

export type ReleaseDeps = Pick<Services, 'config' | 'db' | 'repo' | 'publisher' | 'key' | 'now' | 'log'>;

export interface FreezeRequest {
  /** ISO 8601 date (the API); the CLI also allows a duration from now (`90d`). */
  until: unknown;
  reason: unknown;
  actor: string;
  allowDuration?: boolean;
}

export interface TransitionResult {
  serial: SerialView;
  /** Suites whose Release, Release.gpg and InRelease were re-signed. */
  suites: string[];
  ms: number;
}

/** An archive that is configured or has history in the database; NOT_FOUND otherwise. */
export function requireArchive(s: Pick<Services, 'config' | 'repo'>, archive: string): string {
  if (s.config.archives.some((a) => a.name === archive) || s.repo.listArchives().some((a) => a.name === archive)) return archive;
  throw new AptfreezeError('NOT_FOUND', `unknown archive ${archive}`);
}

/**
 * Freezes a published serial until a future date (or moves the date of a
 * frozen one): valid_until becomes `until`, its Release files are re-signed
 * with that Valid-Until, and gc leaves it alone until it is thawed.
 * NOT_FOUND: unknown archive or serial; GONE: collected; BAD_REQUEST: a
 * malformed or past date, or no reason.
 */
export async function freezeSerial(s: ReleaseDeps, archive: string, serial: string, req: FreezeRequest): Promise<TransitionResult> {
  requireArchive(s, archive);
  const now = s.now();
  const row = requirePublished(s.repo.getSerial(archive, serial), archive, serial);
  const until = parseUntil(req.until, now, { allowDuration: req.allowDuration });
  const reason = parseReason(req.reason);
  const plan = (r: SerialRow) => planFreeze(r, { until, reason, actor: req.actor, now });
  return transition(s, row, 'freeze', plan(row), plan, req.actor, now);
}

/** Ends a freeze: live again, valid for `lifetime` from now, re-signed. CONFLICT when not frozen. */
export async function thawSerial(s: ReleaseDeps, archive: string, serial: string, actor: string): Promise<TransitionResult> {
  requireArchive(s, archive);
  const now = s.now();
  const row = requirePublished(s.repo.getSerial(archive, serial), archive, serial);
  const plan = (r: SerialRow) => planThaw(r, { lifetimeMs: s.config.lifetimeMs, now });
  return transition(s, row, 'thaw', plan(row), plan, actor, now);
}

/**
 * Re-signs aside (async, nothing written), then in one IMMEDIATE transaction:
 * re-reads the row and plans again (a gc or another freeze may have run
 * meanwhile), records the new state, replaces the Release files
 * (synchronously) and appends the audit entry. So the database, the files
 * and the audit log change together or not at all.
 */
async function transition(
  s: ReleaseDeps,
  row: SerialRow,
  action: 'freeze' | 'thaw',
  first: Transition,
  plan: (r: SerialRow) => Transition,
  actor: string,
  now: Date,
): Promise<TransitionResult> {
  const started = Date.now();
  const { archive, serial } = row;
  const suites = s.repo.suiteSnapshots(archive, serial).map((x) => x.suite);
  if (suites.length === 0) throw new AptfreezeError('INTERNAL', `${archive}/${serial} records no suites`);
  let prepared;
  try {
    prepared = await prepareResigned(s.publisher, s.key, archive, serial, suites, first.validUntil);
  } catch (e) {
    // Collected while we read it: say so rather than "file not found".
    requirePublished(s.repo.getSerial(archive, serial), archive, serial);
    throw e;
  }
  const releaseRepo = new ReleaseRepo(s.db);
  s.db
    .transaction(() => {
      const t = plan(requirePublished(s.repo.getSerial(archive, serial), archive, serial));
      if (t.validUntil.getTime() !== first.validUntil.getTime()) throw new AptfreezeError('INTERNAL', 'the planned Valid-Until changed while signing');
      if (!releaseRepo.applyTransition(archive, serial, [t.before.state], t.after)) throw new AptfreezeError('CONFLICT', `${archive}/${serial} changed while it was being re-signed; try again`);
      commitResigned(s.publisher, archive, serial, prepared);
      s.repo.appendAudit({ actor, action, target: `${archive}/${serial}`, before: auditView(t.before, now), after: auditView(t.after, now) }, now);
    })
    .immediate();
  const ms = Date.now() - started;
  s.log.info({ archive, serial, action, validUntil: first.validUntil.toISOString(), actor, ms }, `${action} done`);
  return { serial: describeSerial(s, s.repo.getSerial(archive, serial)!), suites, ms };
}

/** The state an audit entry records: what the API shows of a serial. */
export function auditView(f: ReleaseFields, now: Date) {
  const expired = f.state === 'live' && f.valid_until !== null && new Date(f.valid_until).getTime() < now.getTime();
  return {
    state: expired ? 'expired' : f.state,
    validUntil: f.valid_until,
    ...(f.state === 'frozen' ? { frozen: { until: f.frozen_until, reason: f.freeze_reason, by: f.frozen_by, at: f.frozen_at } } : {}),
  };
}
