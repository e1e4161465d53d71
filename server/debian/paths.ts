import { AptfreezeError } from '../errors.ts';

/**
 * Checks that `p` is a safe relative POSIX path and returns it.
 *
 * Refused (UNSAFE_PATH): empty, absolute, a `.` or `..` segment, an empty
 * segment (`a//b`, a trailing `/`), a backslash, NUL or any control character.
 * Percent-encoding is not decoded here: callers decode URLs first, so a literal
 * `%2e%2e` is just a file name. `what` names the path in the error message.
 */
export function checkRelativePath(p: string, what: string): string {
  if (typeof p !== 'string' || p.length === 0) throw unsafe(what, 'is empty', p);
  if (p.startsWith('/')) throw unsafe(what, 'is absolute', p);
  // Control characters (C0, DEL) and backslashes have no place in an archive path;
  // a backslash is a separator to some clients and servers.
  if (/[\u0000-\u001f\u007f\\]/.test(p)) throw unsafe(what, 'holds a control character or a backslash', p);
  for (const segment of p.split('/')) {
    if (segment === '') throw unsafe(what, 'has an empty segment', p);
    if (segment === '.' || segment === '..') throw unsafe(what, `has a "${segment}" segment`, p);
  }
  return p;
}

function unsafe(what: string, reason: string, p: string): AptfreezeError {
  return new AptfreezeError('UNSAFE_PATH', `${what} ${reason}: ${JSON.stringify(p)}`, { details: { path: p } });
}
