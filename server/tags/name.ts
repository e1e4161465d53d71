import { AptfreezeError } from '../errors.ts';

/**
 * Tag names (DESIGN.md): `[A-Za-z0-9][A-Za-z0-9.+~_-]*`, never ten digits (that is a serial's
 * form, and `/<archive>/<serial>/` and `/<archive>/tags/<name>/` must never be confused by a
 * reader of either). Capped at 100 characters: a name is a path segment and part of a version.
 */
const tagRe = /^[A-Za-z0-9][A-Za-z0-9.+~_-]{0,99}$/;

export function isTagName(name: string): boolean {
  return tagRe.test(name) && !/^\d{10}$/.test(name);
}

export function checkTagName(name: unknown): string {
  if (typeof name !== 'string' || !isTagName(name)) {
    throw new AptfreezeError('BAD_REQUEST', `not a tag name: ${JSON.stringify(name)} (expected [A-Za-z0-9][A-Za-z0-9.+~_-]*, at most 100 characters, not ten digits)`);
  }
  return name;
}

/**
 * The version of a tag's proof package: `<serial>+tag.<name>`, with the two characters a tag
 * name may hold and a Debian version may not (`_`, and `-`, which would start a revision)
 * mapped to `.` and `+`. The exact name is in the proof's manifest.
 */
export function tagProofVersion(serial: string, tag: string): string {
  return `${serial}+tag.${tag.replace(/_/g, '.').replace(/-/g, '+')}`;
}
