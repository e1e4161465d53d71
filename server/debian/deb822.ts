import { AptfreezeError } from '../errors.ts';

/**
 * deb822 control data: Packages, Sources, Release and DEBIAN/control files
 * (Debian policy 5.1, deb822(5)). Everything read here is outside data, so every
 * problem becomes an AptfreezeError('MALFORMED') naming the line, never a crash.
 *
 * Field values follow the convention of python-debian's Deb822 and of apt's
 * `Find()`: the first line's text with surrounding whitespace stripped, then
 * for every continuation line "\n" plus that line as written (its leading space
 * or tab kept, trailing whitespace and a CR dropped). So a Description reads
 * "short\n long line\n .\n more", and a hash list (whose first line is empty)
 * reads "\n <hash> <size> <path>\n ...". Writing `Name: ` + value (or `Name:` +
 * value when it starts with "\n") gives the field back.
 */

const DEFAULT_MAX_STANZA_BYTES = 1024 * 1024;

const NL = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

export interface ReadStanzasOptions {
  /** A stanza (all its lines, without blank separators) larger than this is MALFORMED. Bytes; default 1 MiB. */
  maxStanzaBytes?: number;
}

export class Stanza {
  /** The stanza's bytes exactly as in the input: every line incl. the final newline of the last one (if the input had it); no blank separator lines. */
  readonly raw: Buffer;
  /** Fields in input order: [name as written, value per the convention above]. Comments are not fields. */
  readonly fields: ReadonlyArray<[string, string]>;

  constructor(raw: Buffer, fields: ReadonlyArray<[string, string]>) {
    this.raw = raw;
    this.fields = fields;
  }

  /** The value of a field, names compared case-insensitively (policy 5.1). */
  get(name: string): string | undefined {
    const fields = this.fields;
    const len = name.length;
    let lower: string | undefined;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (f[0].length !== len) continue;
      if (f[0] === name) return f[1];
      lower ??= name.toLowerCase();
      if (f[0].toLowerCase() === lower) return f[1];
    }
    return undefined;
  }
}

/**
 * Streams stanzas out of chunks of deb822 text. Holds at most the current
 * stanza plus the chunk being read (a stanza's bytes are copied out of the
 * chunk when it completes), so a 50 MB Packages file never sits in memory.
 */
export async function* readStanzas(
  chunks: AsyncIterable<Buffer | Uint8Array | string>,
  opts: ReadStanzasOptions = {},
): AsyncGenerator<Stanza> {
  const splitter = new StanzaSplitter(opts.maxStanzaBytes ?? DEFAULT_MAX_STANZA_BYTES);
  for await (const chunk of chunks) {
    yield* splitter.push(toBuffer(chunk));
  }
  yield* splitter.end();
}

/** The synchronous form of readStanzas, for text already in memory. */
export function parseStanzas(input: string | Buffer, opts: ReadStanzasOptions = {}): Stanza[] {
  const splitter = new StanzaSplitter(opts.maxStanzaBytes ?? DEFAULT_MAX_STANZA_BYTES);
  const out: Stanza[] = [];
  for (const s of splitter.push(toBuffer(input))) out.push(s);
  for (const s of splitter.end()) out.push(s);
  return out;
}

function toBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Finds stanza boundaries in bytes, line by line. A line is blank when it holds
 * only spaces, tabs and a CR (deb822(5): such lines separate paragraphs).
 */
class StanzaSplitter {
  private readonly max: number;
  /** Pieces of a line that has not seen its newline yet. */
  private lineParts: Buffer[] = [];
  private linePartsLen = 0;
  /** Complete lines of the current stanza, as slices (copied out when it completes). */
  private stanzaParts: Buffer[] = [];
  private stanzaLen = 0;
  private stanzaStartLine = 0;
  /** Number of the next line to complete, 1-based over the whole input. */
  private lineNo = 1;

  constructor(max: number) {
    this.max = max;
  }

  *push(chunk: Buffer): Generator<Stanza> {
    const n = chunk.length;
    let pos = 0;
    // The current stanza's run of lines inside this chunk: [runStart, pos).
    let runStart = -1;
    while (pos < n) {
      const nl = chunk.indexOf(NL, pos);
      if (nl === -1) {
        // Copies, so that no earlier chunk stays referenced while the next is read.
        if (runStart !== -1) this.addPart(Buffer.from(chunk.subarray(runStart, pos)));
        else if (this.stanzaLen === 0) this.stanzaStartLine = this.lineNo;
        runStart = -1;
        this.lineParts.push(Buffer.from(chunk.subarray(pos)));
        this.linePartsLen += n - pos;
        this.checkCap(this.linePartsLen);
        return;
      }
      if (this.lineParts.length > 0) {
        // A line that began in an earlier chunk: handle it on its own buffer.
        this.lineParts.push(chunk.subarray(pos, nl + 1));
        const line = Buffer.concat(this.lineParts, this.linePartsLen + nl + 1 - pos);
        this.lineParts = [];
        this.linePartsLen = 0;
        pos = nl + 1;
        const done = this.takeLine(line, 0, line.length);
        if (done) yield done;
        else if (!isBlank(line, 0, line.length)) this.addPart(line);
        continue;
      }
      if (isBlank(chunk, pos, nl + 1)) {
        if (runStart !== -1) this.addPart(chunk.subarray(runStart, pos));
        runStart = -1;
        this.lineNo++;
        const done = this.finish();
        if (done) yield done;
      } else {
        if (this.stanzaLen === 0 && runStart === -1) this.stanzaStartLine = this.lineNo;
        if (runStart === -1) runStart = pos;
        this.lineNo++;
        this.checkCap(this.stanzaLen + (nl + 1 - runStart));
      }
      pos = nl + 1;
    }
    if (runStart !== -1) this.addPart(Buffer.from(chunk.subarray(runStart, pos)));
  }

  *end(): Generator<Stanza> {
    if (this.lineParts.length > 0) {
      const line = Buffer.concat(this.lineParts, this.linePartsLen);
      this.lineParts = [];
      this.linePartsLen = 0;
      if (!isBlank(line, 0, line.length)) {
        if (this.stanzaLen === 0) this.stanzaStartLine = this.lineNo;
        this.addPart(line);
      }
      this.lineNo++;
    }
    const done = this.finish();
    if (done) yield done;
  }

  /** For a line assembled from several chunks: a blank one ends the stanza (returned); else the caller adds it. */
  private takeLine(buf: Buffer, start: number, end: number): Stanza | undefined {
    if (isBlank(buf, start, end)) {
      this.lineNo++;
      return this.finish();
    }
    if (this.stanzaLen === 0) this.stanzaStartLine = this.lineNo;
    this.lineNo++;
    return undefined;
  }

  private addPart(part: Buffer): void {
    this.stanzaParts.push(part);
    this.stanzaLen += part.length;
    this.checkCap(this.stanzaLen);
  }

  private checkCap(len: number): void {
    if (len > this.max) {
      throw new AptfreezeError('MALFORMED', `stanza starting at line ${this.stanzaStartLine || this.lineNo} is over ${this.max} bytes`, {
        details: { line: this.stanzaStartLine || this.lineNo },
      });
    }
  }

  private finish(): Stanza | undefined {
    if (this.stanzaLen === 0) return undefined;
    const raw = Buffer.concat(this.stanzaParts, this.stanzaLen);
    this.stanzaParts = [];
    this.stanzaLen = 0;
    const fields = parseFields(raw, this.stanzaStartLine);
    // A paragraph of comments only carries no data (apt skips it too).
    return fields.length === 0 ? undefined : new Stanza(raw, fields);
  }
}

function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b !== NL && b !== CR && b !== SPACE && b !== TAB) return false;
  }
  return true;
}

// Whitespace as apt and dpkg strip it around values: ASCII only (C isspace). JavaScript's trim()
// would also strip U+00A0, U+2028, U+FEFF…, so that we and apt would read different values.
const asciiSpaceStart = /^[ \t\v\f\r]+/;
const asciiSpaceEnd = /[ \t\v\f\r]+$/;

export function asciiTrim(s: string): string {
  return s.replace(asciiSpaceStart, '').replace(asciiSpaceEnd, '');
}

// A field name: printable US-ASCII but no colon, not starting with '#' or '-' (deb822(5)).
const FIELD_NAME = /^[!-9;-~]+$/;

function malformed(line: number, what: string): AptfreezeError {
  return new AptfreezeError('MALFORMED', `line ${line}: ${what}`, { details: { line } });
}

/** Parses one stanza's lines (no blank lines among them) into fields. */
function parseFields(raw: Buffer, firstLine: number): Array<[string, string]> {
  const nul = raw.indexOf(0);
  if (nul !== -1) throw malformed(firstLine + countNewlines(raw, nul), 'NUL byte');
  const text = raw.toString('utf8');
  const fields: Array<[string, string]> = [];
  const seen = new Set<string>();
  let current: [string, string] | undefined;
  let lineNo = firstLine;
  let pos = 0;
  const n = text.length;
  while (pos < n) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = n;
    let end = nl;
    if (end > pos && text.charCodeAt(end - 1) === CR) end--;
    const c = text.charCodeAt(pos);
    if (c === 0x23 /* # */) {
      // A comment: kept in raw, not a field (deb822(5)).
    } else if (c === SPACE || c === TAB) {
      if (current === undefined) throw malformed(lineNo, 'continuation line without a field');
      current[1] += '\n' + text.slice(pos, end).replace(asciiSpaceEnd, '');
    } else {
      const colon = text.indexOf(':', pos);
      if (colon === -1 || colon >= end || colon === pos) throw malformed(lineNo, 'neither a field, a continuation nor a comment');
      const name = text.slice(pos, colon);
      if (!FIELD_NAME.test(name) || c === 0x2d /* - */) throw malformed(lineNo, `bad field name ${JSON.stringify(name)}`);
      const lower = name.toLowerCase();
      if (seen.has(lower)) throw malformed(lineNo, `duplicate field ${name}`);
      seen.add(lower);
      current = [name, asciiTrim(text.slice(colon + 1, end))];
      fields.push(current);
    }
    lineNo++;
    pos = nl + 1;
  }
  return fields;
}

function countNewlines(buf: Buffer, upTo: number): number {
  let count = 0;
  for (let i = buf.indexOf(NL); i !== -1 && i < upTo; i = buf.indexOf(NL, i + 1)) count++;
  return count;
}
