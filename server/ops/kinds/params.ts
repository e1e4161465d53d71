import { AptfreezeError } from '../../errors.ts';

/** A JSON object with only these fields; anything else is BAD_REQUEST (parameters cross a socket or a thread). */
export function objectOf(raw: unknown, kind: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AptfreezeError('BAD_REQUEST', `${kind}: expected an object of parameters`);
  const unknown = Object.keys(raw).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new AptfreezeError('BAD_REQUEST', `${kind}: unknown parameter(s) ${unknown.join(', ')}`);
  return raw as Record<string, unknown>;
}

export function stringOf(o: Record<string, unknown>, key: string, kind: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > 1024) throw new AptfreezeError('BAD_REQUEST', `${kind}: ${key}: expected a string`);
  return v;
}
