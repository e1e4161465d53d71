import type { OperationDef } from '../operation.ts';
import { AptfreezeError } from '../../errors.ts';
import { archiveLock } from '../../catalog/repo.ts';
import type { TransitionResult } from '../../release/service.ts';
import type { GcReport } from '../../release/gc.ts';
import { objectOf, stringOf } from './params.ts';

// Each run loads its service when it runs, not with the registry (operation.ts).
const service = () => import('../../release/service.ts');

interface FreezeParams {
  archive: string;
  serial: string;
  until: unknown;
  reason: unknown;
  /** The CLI also takes a duration from now (`90d`). */
  allowDuration?: boolean;
}

/** Freeze and thaw hold the archive: a snapshot publishing meanwhile would race the re-signing. */
export const freezeOp: OperationDef<FreezeParams, TransitionResult> = {
  kind: 'freeze',
  params(raw) {
    const o = objectOf(raw, 'freeze', ['archive', 'serial', 'until', 'reason', 'allowDuration']);
    if (o['allowDuration'] !== undefined && typeof o['allowDuration'] !== 'boolean') throw new AptfreezeError('BAD_REQUEST', 'freeze: allowDuration: expected true or false');
    return { archive: stringOf(o, 'archive', 'freeze'), serial: stringOf(o, 'serial', 'freeze'), until: o['until'], reason: o['reason'], allowDuration: o['allowDuration'] === true };
  },
  archive: (p) => p.archive,
  resources: (p) => [archiveLock(p.archive)],
  run: async (s, p, ctx) => (await service()).freezeSerial(s, p.archive, p.serial, { until: p.until, reason: p.reason, actor: ctx.actor, allowDuration: p.allowDuration }),
};

export const thawOp: OperationDef<{ archive: string; serial: string }, TransitionResult> = {
  kind: 'thaw',
  params(raw) {
    const o = objectOf(raw, 'thaw', ['archive', 'serial']);
    return { archive: stringOf(o, 'archive', 'thaw'), serial: stringOf(o, 'serial', 'thaw') };
  },
  archive: (p) => p.archive,
  resources: (p) => [archiveLock(p.archive)],
  run: async (s, p, ctx) => (await service()).thawSerial(s, p.archive, p.serial, ctx.actor),
};

/**
 * gc holds the store (one sweep at a time: gc or fsck --repair). Collecting
 * serials needs no archive: each is one conditional UPDATE that a freeze
 * winning the race keeps; the sweep takes every archive lock for its short
 * locked step itself, and is skipped while any is held (release/gc.ts).
 * A dry run changes nothing and holds nothing.
 */
export const gcOp: OperationDef<{ dryRun: boolean }, GcReport> = {
  kind: 'gc',
  params(raw) {
    const o = objectOf(raw, 'gc', ['dryRun']);
    if (o['dryRun'] !== undefined && typeof o['dryRun'] !== 'boolean') throw new AptfreezeError('BAD_REQUEST', 'dryRun: expected true or false');
    return { dryRun: o['dryRun'] === true };
  },
  resources: (p) => (p.dryRun ? [] : ['store']),
  run: async (s, p, ctx) => {
    ctx.progress({ step: p.dryRun ? 'dry-run' : 'collect-and-sweep' });
    const { runGc } = await import('../../release/gc.ts');
    return runGc(s, { dryRun: p.dryRun, actor: ctx.actor });
  },
};
