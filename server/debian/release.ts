import { AptfreezeError } from '../errors.ts';
import { asciiTrim, parseStanzas } from './deb822.ts';
import { checkRelativePath } from './paths.ts';

/**
 * Release files (https://wiki.debian.org/DebianRepository/Format#A.22Release.22_files):
 * parsing an upstream one, and writing our own in the field order dak uses.
 */

export interface ReleaseFileEntry {
  /** lower-case hex */
  hash: string;
  /** bytes */
  size: number;
  /** relative to dists/<suite>/, checked by checkRelativePath */
  path: string;
}

export interface ParsedRelease {
  /** Every field as read, in order (values per the deb822.ts convention). */
  fields: Array<[string, string]>;
  /** A field's value, names compared case-insensitively. */
  get(name: string): string | undefined;
  date?: Date;
  validUntil?: Date;
  suite?: string;
  codename?: string;
  components: string[];
  architectures: string[];
  /** `Acquire-By-Hash: yes` */
  acquireByHash: boolean;
  sha256: ReleaseFileEntry[];
}

/**
 * Parses the text of a Release file (or the signed text of an InRelease, its
 * armor already removed). Exactly one stanza; a SHA256 list is required since
 * it is the only hash apt trusts (MD5Sum and SHA1 are kept as fields only).
 */
export function parseRelease(text: string): ParsedRelease {
  const stanzas = parseStanzas(text);
  if (stanzas.length !== 1) {
    throw new AptfreezeError('MALFORMED', `a Release file holds one stanza, found ${stanzas.length}`);
  }
  const stanza = stanzas[0]!;
  const fields = stanza.fields.map(([k, v]): [string, string] => [k, v]);
  const get = (name: string) => stanza.get(name);

  const sha256Text = get('SHA256');
  if (sha256Text === undefined) throw new AptfreezeError('MALFORMED', 'the Release file has no SHA256 field');

  const dateText = get('Date');
  const validUntilText = get('Valid-Until');
  return {
    fields,
    get,
    date: dateText === undefined ? undefined : parseDebianDate(dateText, 'Date'),
    validUntil: validUntilText === undefined ? undefined : parseDebianDate(validUntilText, 'Valid-Until'),
    suite: get('Suite'),
    codename: get('Codename'),
    components: words(get('Components')),
    architectures: words(get('Architectures')),
    acquireByHash: get('Acquire-By-Hash')?.toLowerCase() === 'yes',
    sha256: parseHashList(sha256Text, 64, 'SHA256'),
  };
}

function words(value: string | undefined): string[] {
  // ASCII whitespace only, as apt splits them: a U+00A0 inside a word keeps it one (unknown) word.
  return value === undefined ? [] : value.split(/[ \t\n\v\f\r]+/).filter((w) => w !== '');
}

/** Parses the lines of a hash field: " <hex> <size> <path>". */
export function parseHashList(value: string, hexLength: number, field: string): ReleaseFileEntry[] {
  const hashRe = new RegExp(`^[0-9a-fA-F]{${hexLength}}$`);
  const entries: ReleaseFileEntry[] = [];
  for (const line of value.split('\n')) {
    const parts = asciiTrim(line).split(/[ \t]+/);
    if (parts.length === 1 && parts[0] === '') continue;
    if (parts.length !== 3) throw new AptfreezeError('MALFORMED', `${field}: expected "<hash> <size> <path>", got ${JSON.stringify(line)}`);
    const [hash, sizeText, path] = parts as [string, string, string];
    if (!hashRe.test(hash)) throw new AptfreezeError('MALFORMED', `${field}: not a ${hexLength}-digit hex hash: ${JSON.stringify(hash)}`);
    const size = Number(sizeText);
    if (!/^\d+$/.test(sizeText) || !Number.isSafeInteger(size)) {
      throw new AptfreezeError('MALFORMED', `${field}: not a size: ${JSON.stringify(sizeText)}`);
    }
    entries.push({ hash: hash.toLowerCase(), size, path: checkRelativePath(path, `${field} entry`) });
  }
  return entries;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// RFC 2822 as Debian archives write it: "Sat, 10 Jun 2023 08:49:30 UTC", or with a
// numeric zone "+0000". apt (RFC1123StrToTime) also takes "GMT" and "Z"; the
// weekday is optional and, like apt, not checked against the date.
const DATE_RE =
  /^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),[ \t]*)?(\d{1,2})[ \t]+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[ \t]+(\d{4})[ \t]+(\d{2}):(\d{2})(?::(\d{2}))?[ \t]+(UTC|GMT|UT|Z|[+-]\d{4})$/;

/** Parses a Release date; MALFORMED when it is not one. */
export function parseDebianDate(text: string, field = 'Date'): Date {
  const m = DATE_RE.exec(asciiTrim(text));
  if (!m) throw new AptfreezeError('MALFORMED', `${field} is not an RFC 2822 date: ${JSON.stringify(text)}`);
  const [, dd, mon, yyyy, hh, mi, ss, zone] = m as unknown as [string, string, string, string, string, string, string | undefined, string];
  const day = Number(dd);
  const month = MONTHS.indexOf(mon);
  const year = Number(yyyy);
  const hour = Number(hh);
  const minute = Number(mi);
  const second = ss === undefined ? 0 : Number(ss);
  let ms = Date.UTC(year, month, day, hour, minute, second);
  const check = new Date(ms);
  // Date.UTC rolls "31 Feb" over into March; refuse instead. Second 60 (a leap second) is refused too.
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month || hour > 23 || minute > 59 || second > 59) {
    throw new AptfreezeError('MALFORMED', `${field} is not a valid date: ${JSON.stringify(text)}`);
  }
  if (zone.startsWith('+') || zone.startsWith('-')) {
    const zh = Number(zone.slice(1, 3));
    const zm = Number(zone.slice(3, 5));
    if (zm > 59) throw new AptfreezeError('MALFORMED', `${field} has a bad zone: ${JSON.stringify(text)}`);
    const offset = (zh * 60 + zm) * 60_000;
    ms -= zone.startsWith('+') ? offset : -offset;
  }
  return new Date(ms);
}

/** "Sat, 28 Nov 2026 07:00:00 UTC", as dak writes it (strftime "%a, %d %b %Y %H:%M:%S UTC"). */
export function formatDebianDate(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new AptfreezeError('INTERNAL', 'formatDebianDate: invalid Date');
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} UTC`
  );
}

/**
 * The value of a hash field as dak writes it: one line per file,
 * " <hash> <size right-aligned to 8> <path>" (Python's " %s %8d %s"), so the
 * value starts with "\n" (the field's first line is empty).
 */
export function formatHashList(entries: ReleaseFileEntry[]): string {
  let out = '';
  for (const e of entries) out += `\n ${e.hash} ${String(e.size).padStart(8)} ${e.path}`;
  return out;
}

// dak's order (dak/generate_releases.py), then any other field, then the hash lists.
const HEAD_ORDER = [
  'Origin',
  'Label',
  'Suite',
  'Version',
  'Codename',
  'Changelogs',
  'Date',
  'Valid-Until',
  'NotAutomatic',
  'ButAutomaticUpgrades',
  'Acquire-By-Hash',
  'No-Support-for-Architecture-all',
  'Architectures',
  'Components',
  'Description',
];
const TAIL_ORDER = ['MD5Sum', 'SHA1', 'SHA256', 'SHA512'];

/**
 * Writes a Release file: the fields in canonical order, names as given, values
 * per the deb822.ts convention. Ends with exactly one newline. A duplicate
 * field or a value that would break the format is refused (MALFORMED).
 */
export function emitRelease(fields: Array<[string, string]>): string {
  const rank = (name: string): number => {
    const lower = name.toLowerCase();
    const head = HEAD_ORDER.findIndex((f) => f.toLowerCase() === lower);
    if (head !== -1) return head;
    const tail = TAIL_ORDER.findIndex((f) => f.toLowerCase() === lower);
    if (tail !== -1) return HEAD_ORDER.length + 1 + tail;
    return HEAD_ORDER.length;
  };
  const seen = new Set<string>();
  for (const [name] of fields) {
    if (!/^[!-9;-~]+$/.test(name) || name.startsWith('#') || name.startsWith('-')) {
      throw new AptfreezeError('MALFORMED', `not a field name: ${JSON.stringify(name)}`);
    }
    const lower = name.toLowerCase();
    if (seen.has(lower)) throw new AptfreezeError('MALFORMED', `duplicate field ${name}`);
    seen.add(lower);
  }
  // Array.prototype.sort is stable, so "other" fields keep their given order.
  const ordered = fields.map((f, i) => ({ f, r: rank(f[0]), i })).sort((a, b) => a.r - b.r || a.i - b.i);
  let out = '';
  for (const { f: [name, value] } of ordered) out += formatField(name, value);
  return out;
}

function formatField(name: string, value: string): string {
  const lines = value.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    // A continuation line starts with a space or tab and is not blank (a blank one would end the stanza).
    if (!/^[ \t]/.test(line) || line.trim() === '') {
      throw new AptfreezeError('MALFORMED', `field ${name}: bad continuation line ${JSON.stringify(line)}`);
    }
  }
  if (/[\r\0]/.test(value)) throw new AptfreezeError('MALFORMED', `field ${name}: CR or NUL in value`);
  const first = lines[0]!;
  return first === '' ? `${name}:${value}\n` : `${name}: ${value}\n`;
}
