import { AptfreezeError } from '../errors.ts';

const units: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `10d`, `12h`, `30m`, `2s` (one unit, as the configuration documents it) into milliseconds. */
export function parseDuration(text: string, what = 'duration'): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (!m) throw new AptfreezeError('BAD_REQUEST', `${what}: "${text}" is not a duration (expected a number and a unit s, m, h or d, e.g. 10d)`);
  return Number(m[1]) * units[m[2]!]!;
}

export function isDuration(text: string): boolean {
  return /^(\d+)\s*([smhd])$/.test(text.trim());
}
