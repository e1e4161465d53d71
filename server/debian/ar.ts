import { AptfreezeError } from '../errors.ts';

/**
 * The ar archive a .deb is (deb(5)): "!<arch>\n", then per member a 60-byte
 * header (name 16, mtime 12, uid 6, gid 6, octal mode 8, size 10, "`\n"), the
 * data, and a "\n" pad to an even offset. Names are written as dpkg-deb does,
 * without GNU ar's trailing "/".
 */

export interface ArMember {
  name: string;
  data: Buffer;
}

const MAGIC = '!<arch>\n';
const HEADER = 60;

export function writeAr(members: ArMember[], mtime: number): Buffer {
  return Buffer.concat(writeArParts(members.map((m) => ({ name: m.name, parts: [m.data] })), mtime));
}

/** The same archive as a list of buffers, members given as lists of buffers (nothing is copied). */
export function writeArParts(members: Array<{ name: string; parts: Buffer[] }>, mtime: number): Buffer[] {
  if (!Number.isInteger(mtime) || mtime < 0 || String(mtime).length > 12) throw new AptfreezeError('INTERNAL', `writeAr: bad mtime ${mtime}`);
  const parts: Buffer[] = [Buffer.from(MAGIC, 'ascii')];
  for (const m of members) {
    if (!/^[\x21-\x7e]{1,16}$/.test(m.name) || m.name.includes('/')) throw new AptfreezeError('INTERNAL', `writeAr: bad member name ${JSON.stringify(m.name)}`);
    const size = m.parts.reduce((n, b) => n + b.length, 0);
    if (String(size).length > 10) throw new AptfreezeError('INTERNAL', `writeAr: ${m.name} is too large`);
    const h =
      m.name.padEnd(16) +
      String(mtime).padEnd(12) +
      '0'.padEnd(6) +
      '0'.padEnd(6) +
      '100644'.padEnd(8) +
      String(size).padEnd(10) +
      '`\n';
    parts.push(Buffer.from(h, 'ascii'), ...m.parts);
    if (size % 2 === 1) parts.push(Buffer.from('\n'));
  }
  return parts;
}

/** Reads an ar archive. Outside data: anything that does not parse is MALFORMED. Member data are views into `buf`. */
export function readAr(buf: Buffer): ArMember[] {
  if (buf.length < MAGIC.length || buf.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) {
    throw new AptfreezeError('MALFORMED', 'not an ar archive (no "!<arch>" magic)');
  }
  const out: ArMember[] = [];
  let off = MAGIC.length;
  while (off < buf.length) {
    if (off + HEADER > buf.length) throw new AptfreezeError('MALFORMED', `ar: truncated header at offset ${off}`);
    const h = buf.subarray(off, off + HEADER).toString('latin1');
    if (h.slice(58, 60) !== '`\n') throw new AptfreezeError('MALFORMED', `ar: bad header terminator at offset ${off}`);
    let name = h.slice(0, 16).trimEnd();
    // GNU ar ends names with "/"; "/" and "//" themselves are its symbol and long-name tables.
    if (name.endsWith('/') && name !== '/' && name !== '//') name = name.slice(0, -1);
    const sizeText = h.slice(48, 58).trim();
    if (!/^\d+$/.test(sizeText)) throw new AptfreezeError('MALFORMED', `ar: bad size ${JSON.stringify(sizeText)} at offset ${off}`);
    const size = Number(sizeText);
    const start = off + HEADER;
    if (start + size > buf.length) throw new AptfreezeError('MALFORMED', `ar: member ${JSON.stringify(name)} runs past the end`);
    out.push({ name, data: buf.subarray(start, start + size) });
    off = start + size + (size % 2);
  }
  return out;
}
