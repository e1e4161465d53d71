import { AptfreezeError } from '../errors.ts';
import { checkRelativePath } from './paths.ts';

/**
 * tar as dpkg-deb writes it (GNU tar --format=gnu): 512-byte headers with the
 * "ustar  \0" magic, owner root/root 0/0, names "./usr/...", directories with a
 * trailing slash, and a '././@LongLink' 'L' header before a name over 100 bytes.
 * Not pax: dpkg -i refuses pax headers (dpkg-deb accepts them).
 */

export interface TarWriteEntry {
  /** Relative path ("usr/share/x"); a leading "./" is accepted; "." or "" is the root directory "./". */
  path: string;
  type: 'file' | 'dir';
  data?: Buffer;
  /** Permission bits; default 0644 for files, 0755 for directories. */
  mode?: number;
}

export interface TarReadEntry {
  /** Without the leading "./" and a directory's trailing "/"; the root directory is ".". */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  /** A view into the input buffer (empty for all but files). */
  data: Buffer;
  /** Permission bits (mode & 07777). */
  mode: number;
  /** The target of a symlink or hard link. */
  linkTarget?: string;
}

const BLOCK = 512;
const NAME_LEN = 100;
const GNU_MAGIC = 'ustar  \0'; // magic "ustar " + version " \0", GNU tar's own format
const MAX_OCTAL_11 = 0o77777777777; // what an 11-digit octal size field holds (8 GiB - 1)

/** Writes a tar archive; entries are written in the order given, stamped with `mtime` (seconds). */
export function writeTar(entries: TarWriteEntry[], mtime: number): Buffer {
  return Buffer.concat(writeTarParts(entries, mtime));
}

/** The same archive as a list of buffers: file contents are not copied (a proof package holds 10 MB indices). */
export function writeTarParts(entries: TarWriteEntry[], mtime: number): Buffer[] {
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > MAX_OCTAL_11) throw new AptfreezeError('INTERNAL', `writeTar: bad mtime ${mtime}`);
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const name = tarName(e.path, e.type);
    const data = e.type === 'file' ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    if (e.type === 'dir' && e.data !== undefined && e.data.length > 0) throw new AptfreezeError('INTERNAL', `writeTar: directory ${name} with data`);
    if (data.length > MAX_OCTAL_11) throw new AptfreezeError('INTERNAL', `writeTar: ${name} is too large for a tar header`);
    const mode = (e.mode ?? (e.type === 'dir' ? 0o755 : 0o644)) & 0o7777;
    const nameBytes = Buffer.from(name, 'utf8');
    if (nameBytes.length > NAME_LEN) {
      // GNU long name: a pseudo-entry whose data is the full name plus NUL.
      const longData = Buffer.concat([nameBytes, Buffer.alloc(1)]);
      blocks.push(header({ name: Buffer.from('././@LongLink'), mode: 0o644, size: longData.length, mtime: 0, type: 'L' }));
      blocks.push(...padded(longData));
    }
    blocks.push(header({ name: nameBytes.subarray(0, NAME_LEN), mode, size: data.length, mtime, type: e.type === 'dir' ? '5' : '0' }));
    if (data.length > 0) blocks.push(...padded(data));
  }
  blocks.push(Buffer.alloc(2 * BLOCK));
  return blocks;
}

function tarName(path: string, type: 'file' | 'dir'): string {
  let p = path.startsWith('./') ? path.slice(2) : path;
  if (type === 'dir' && p.endsWith('/')) p = p.slice(0, -1);
  if (p === '' || p === '.') {
    if (type !== 'dir') throw new AptfreezeError('UNSAFE_PATH', 'tar entry: a file cannot be the root');
    return './';
  }
  checkRelativePath(p, 'tar entry');
  return type === 'dir' ? `./${p}/` : `./${p}`;
}

function padded(data: Buffer): Buffer[] {
  const rem = data.length % BLOCK;
  return rem === 0 ? [data] : [data, Buffer.alloc(BLOCK - rem)];
}

function octal(value: number, digits: number): string {
  return value.toString(8).padStart(digits, '0') + '\0';
}

function header(h: { name: Buffer; mode: number; size: number; mtime: number; type: string }): Buffer {
  const b = Buffer.alloc(BLOCK);
  h.name.copy(b, 0);
  b.write(octal(h.mode, 7), 100, 'ascii');
  b.write(octal(0, 7), 108, 'ascii'); // uid
  b.write(octal(0, 7), 116, 'ascii'); // gid
  b.write(octal(h.size, 11), 124, 'ascii');
  b.write(octal(h.mtime, 11), 136, 'ascii');
  b.write(' '.repeat(8), 148, 'ascii'); // checksum counts as spaces while summing
  b.write(h.type, 156, 'ascii');
  b.write(GNU_MAGIC, 257, 'ascii');
  b.write('root', 265, 'ascii'); // uname
  b.write('root', 297, 'ascii'); // gname
  b.write(octal(checksum(b), 6) + ' ', 148, 'ascii');
  return b;
}

function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

function malformed(what: string, offset: number): AptfreezeError {
  return new AptfreezeError('MALFORMED', `tar: ${what} at offset ${offset}`, { details: { offset } });
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return (nul === -1 ? b : b.subarray(0, nul)).toString('utf8');
}

function parseNumber(field: Buffer, offset: number): number {
  if (field[0]! & 0x80) {
    // GNU base-256: big-endian, first byte's high bit set (a negative value is refused).
    if (field[0]! & 0x40) throw malformed('negative number', offset);
    let v = field[0]! & 0x3f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i]!;
    if (!Number.isSafeInteger(v)) throw malformed('number too large', offset);
    return v;
  }
  const text = field.toString('ascii').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw malformed(`bad octal number ${JSON.stringify(text)}`, offset);
  return parseInt(text, 8);
}

/** Parses pax extended header records ("<len> key=value\n") for the keys we honour. */
function parsePax(data: Buffer, offset: number): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) throw malformed('bad pax record', offset);
    const len = Number(data.subarray(pos, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= space - pos || pos + len > data.length) throw malformed('bad pax record length', offset);
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

function normalizeReadPath(raw: string, offset: number): string {
  let p = raw;
  while (p.startsWith('./')) p = p.slice(2);
  while (p.endsWith('/')) p = p.slice(0, -1);
  if (p === '' || p === '.') return '.';
  try {
    return checkRelativePath(p, 'tar member');
  } catch (e) {
    throw new AptfreezeError('UNSAFE_PATH', `tar member at offset ${offset}: ${(e as Error).message}`, { cause: e, details: { offset, path: raw } });
  }
}

/**
 * Reads a tar archive (ustar, GNU long names 'L'/'K', pax 'x' path/linkpath/size).
 * Outside data: a bad checksum, a truncated member or a bad number is MALFORMED,
 * an absolute or traversing member path UNSAFE_PATH.
 */
export function readTar(buf: Buffer): TarReadEntry[] {
  const out: TarReadEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Map<string, string> | undefined;
  while (off + BLOCK <= buf.length) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break; // end of archive (one zero block is enough to stop)
    const stored = parseNumber(h.subarray(148, 156), off);
    if (stored !== checksum(h)) throw malformed('bad header checksum', off);
    let size = parseNumber(h.subarray(124, 136), off);
    const type = String.fromCharCode(h[156]!);
    if (pax?.has('size') && type !== 'x' && type !== 'g') {
      size = Number(pax.get('size'));
      if (!Number.isSafeInteger(size) || size < 0) throw malformed('bad pax size', off);
    }
    const dataStart = off + BLOCK;
    if (dataStart + size > buf.length) throw malformed('member runs past the end', off);
    const data = buf.subarray(dataStart, dataStart + size);
    const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'L' || type === 'K') {
      const value = cString(data);
      if (type === 'L') longName = value;
      else longLink = value;
      off = next;
      continue;
    }
    if (type === 'x' || type === 'g') {
      if (type === 'x') pax = parsePax(data, off);
      off = next;
      continue;
    }

    let name = longName ?? pax?.get('path');
    if (name === undefined) {
      name = cString(h.subarray(0, 100));
      // POSIX ustar splits long names into prefix/name; GNU format uses that space otherwise.
      const posixMagic = h.subarray(257, 263).toString('latin1') === 'ustar\0';
      const prefix = cString(h.subarray(345, 500));
      if (posixMagic && prefix !== '') name = `${prefix}/${name}`;
    }
    const linkTarget = longLink ?? pax?.get('linkpath') ?? cString(h.subarray(157, 257));
    longName = longLink = pax = undefined;

    const kind: TarReadEntry['type'] =
      type === '0' || type === '\0' || type === '7' ? 'file' : type === '5' ? 'dir' : type === '2' ? 'symlink' : type === '1' ? 'hardlink' : 'other';
    const entry: TarReadEntry = {
      path: normalizeReadPath(name, off),
      type: kind,
      data: kind === 'file' ? data : Buffer.alloc(0),
      mode: parseNumber(h.subarray(100, 108), off) & 0o7777,
    };
    if (kind === 'symlink' || kind === 'hardlink') entry.linkTarget = linkTarget;
    out.push(entry);
    off = next;
  }
  if (off + BLOCK > buf.length && off !== buf.length) throw malformed('truncated header', off);
  return out;
}
