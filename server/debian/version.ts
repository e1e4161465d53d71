/**
 * Debian version comparison (policy 5.6.12; dpkg's lib/dpkg/version.c).
 * A version is [epoch:]upstream[-revision]: the epoch is the part before the
 * first colon, the revision the part after the last hyphen. This compares;
 * it does not validate (dpkg compares even odd strings the same way).
 */

/** < 0 when a sorts before b, 0 when equal, > 0 when after. */
export function compareVersions(a: string, b: string): number {
  const va = split(a);
  const vb = split(b);
  if (va.epoch !== vb.epoch) return va.epoch < vb.epoch ? -1 : 1;
  return Math.sign(verrevcmp(va.upstream, vb.upstream) || verrevcmp(va.revision, vb.revision));
}

interface Parts {
  epoch: number;
  upstream: string;
  revision: string;
}

function split(v: string): Parts {
  let s = v.trim();
  let epoch = 0;
  const colon = s.indexOf(':');
  if (colon !== -1 && /^\d+$/.test(s.slice(0, colon))) {
    epoch = Number(s.slice(0, colon));
    s = s.slice(colon + 1);
  }
  const hyphen = s.lastIndexOf('-');
  // No hyphen: no revision, which compares like "" (so "1.0" equals "1.0-0", as in dpkg).
  return hyphen === -1 ? { epoch, upstream: s, revision: '' } : { epoch, upstream: s.slice(0, hyphen), revision: s.slice(hyphen + 1) };
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** dpkg's order(): '~' before everything, even the end of the part; then the end; then letters; then other characters. */
function order(c: number): number {
  if (Number.isNaN(c)) return 0; // end of string
  if (isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === 0x7e /* ~ */) return -1;
  return c + 256;
}

/** dpkg's verrevcmp: alternate non-digit runs (compared by order()) and digit runs (compared numerically). */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(a.charCodeAt(i));
      const bc = order(b.charCodeAt(j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 0x30) i++;
    while (b.charCodeAt(j) === 0x30) j++;
    while (isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a.charCodeAt(i))) return 1;
    if (isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}
