import { AptfreezeError } from '../errors.ts';
import { checkPoolPath } from '../snapshot/parse-index.ts';

/**
 * A single-purpose reader of binary Packages indices, beside the general deb822
 * reader (deb822.ts). A snapshot needs little of a Packages index: per stanza its
 * pool file (Filename, Size, SHA256) and provenance key (Package, Version,
 * Architecture), and for a filtered archive the Source name and the raw stanza.
 * readStanzas + Stanza.get decode every stanza into a string and every field into
 * a [name, value] pair, and the values they give are slices of the stanza's string,
 * so each kept value keeps its whole stanza alive: on a 50,000-stanza index about
 * five times the time of this scan and three times the heap left behind. This one
 * scans bytes: indexOf for line ends, a few byte tests per line, and only the seven
 * fields above decoded, each into a string of its own.
 *
 * It replaced readStanzas + packagesRef (parse-index.ts; kept as the reference in
 * test/packages-scan.test.ts) + the Version, Architecture and Source reads of the
 * snapshot, and is read through snapshot/packages-reader.ts only (the one Packages
 * reader; the verifier reads it leniently): the same stanza splitting (blank
 * and whitespace-only lines, CR, comments, continuation lines), the same deb822
 * checks (field names, duplicates, NUL, the stanza cap, including where the reader
 * applies it per chunk), the same values (ASCII trim, UTF-8 decoding), and the same
 * error code for the same first bad stanza: MALFORMED, then UNSAFE_PATH from
 * checkPoolPath. test/packages-scan.test.ts checks all that differentially.
 *
 * One piece though over 400 lines: the scanner's line handling and its deb822
 * checks must agree byte for byte with deb822.ts, and they share one carry-over
 * buffer and one stanza state; split, the halves would drift apart.
 */

export interface PackageEntry {
  /** The Package field; '' when the stanza has none. */
  package: string;
  /** The Version field; '' when absent. */
  version: string;
  /** The Architecture field; '' when absent. */
  architecture: string;
  /** `(Source ?? Package).split(' ')[0]`, as the snapshot computes it: "glibc" for "Source: glibc (2.36-9)". */
  source: string;
  /** Filename, checked by checkPoolPath. */
  filename: string;
  size: number;
  /** Lower-case hex. */
  sha256: string;
  /** The stanza's bytes exactly as Stanza.raw has them; only when keepRaw(package) returned true. */
  raw?: Buffer;
  /** With `sourceVersion`: the source's version, `Source: name (version)` or else Version (Policy 5.6.1). */
  sourceVersion?: string;
  /**
   * With `lenient`: the stanza names no usable file (Filename, Size or SHA256 absent or malformed,
   * or an unsafe Filename); filename, size and sha256 are then '', -1 and ''.
   */
  invalid?: true;
}

export interface ScanOptions {
  /** Whose raw stanza bytes to keep (called with the Package value). Default: none. */
  keepRaw?: (pkg: string) => boolean;
  /**
   * Which stanzas to check and return (called with the Package value, '' when absent). A stanza
   * it rejects still has to be valid deb822, but its Filename, Size and SHA256 are not looked at:
   * this is how the snapshot's filtered loop behaved (it skipped unselected packages before
   * checking their pool file). Default: all.
   */
  select?: (pkg: string) => boolean;
  /** A stanza (all its lines, no blank separators) larger than this is MALFORMED. Bytes; default 1 MiB, as deb822.ts. */
  maxStanzaBytes?: number;
  /**
   * The auditor's reading: a selected stanza without a usable Filename, Size or SHA256 is returned
   * marked `invalid` instead of being MALFORMED / UNSAFE_PATH (it then lists no file, and a check
   * relying on it fails; a syntax error of deb822 is still MALFORMED). Default: false.
   */
  lenient?: boolean;
  /**
   * Whether Filename must pass checkPoolPath (UNSAFE_PATH, or `invalid` when lenient). The
   * auditor's verifier, which reports a Filename and never opens it, takes it as written (the
   * aptfreeze-proof index lists `Filename: proof.deb`, one of our own names). Default: true.
   */
  checkPaths?: boolean;
  /** Also fill `sourceVersion` (the snapshot.debian.org indexer's). Default: false. */
  sourceVersion?: boolean;
}

const DEFAULT_MAX_STANZA_BYTES = 1024 * 1024;
/** Entries per yielded batch (roughly: a chunk is scanned whole). */
const BATCH_SIZE = 4096;
/** A blank line between stanzas, as it usually is. */
const LF_LF = Buffer.from('\n\n');
/** The smallest carry-over buffer allocated. */
const MIN_CARRY = 64 * 1024;

/** Streams batches of entries out of decompressed Packages chunks. On an error, the entries of the stanzas before the bad one are yielded first. */
export async function* scanPackages(chunks: AsyncIterable<Buffer | Uint8Array>, where: string, opts: ScanOptions = {}): AsyncGenerator<PackageEntry[]> {
  const scanner = new PackagesScanner(where, opts);
  let batch: PackageEntry[] = [];
  let failed = false;
  let failure: unknown;
  try {
    for await (const chunk of chunks) {
      scanner.push(toBuffer(chunk), batch);
      if (batch.length >= BATCH_SIZE) {
        const full = batch;
        batch = [];
        yield full;
      }
    }
    scanner.end(batch);
  } catch (e) {
    failed = true;
    failure = e;
  }
  if (batch.length > 0) yield batch;
  if (failed) throw failure;
}

/** Synchronous form for a buffer already in memory (the same as scanPackages over one chunk). */
export function scanPackagesBuffer(data: Buffer, where: string, opts: ScanOptions = {}): PackageEntry[] {
  const scanner = new PackagesScanner(where, opts);
  const out: PackageEntry[] = [];
  scanner.push(data, out);
  scanner.end(out);
  return out;
}

function toBuffer(chunk: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

const NL = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;
const VT = 0x0b;
const FF = 0x0c;
const HASH = 0x23;
const COLON = 0x3a;
const DASH = 0x2d;

/** The fields read, by index. */
const PACKAGE = 0;
const VERSION = 1;
const ARCHITECTURE = 2;
const SOURCE = 3;
const FILENAME = 4;
const SIZE = 5;
const SHA256 = 6;
const WANTED = ['package', 'version', 'architecture', 'source', 'filename', 'size', 'sha256'].map((n) => Buffer.from(n, 'latin1'));

/** The hash field() computes over a name's bytes, case-folded by `| 0x20` (a filter only: names are compared after). */
function nameHash(name: Buffer): number {
  let h = 0;
  for (const b of name) h = (Math.imul(h, 31) + (b | 0x20)) | 0;
  return h;
}
const WANTED_HASH = Int32Array.from(WANTED, nameHash);
/** The bucket bit of a name hash (for duplicates and for the wanted names). */
function hashBit(hash: number): number {
  return 1 << ((hash ^ (hash >>> 13)) & 31);
}
const WANTED_BITS = WANTED_HASH.reduce((bits, h) => bits | hashBit(h), 0);

/** `cur` before the stanza's first field line (a continuation line there is MALFORMED). */
const NO_FIELD = -2;
/** `cur` while in a field this scanner does not read. */
const OTHER_FIELD = -1;

/** Bytes a field name may hold: printable US-ASCII but the colon (deb822(5)). */
const NAME_BYTE = new Uint8Array(256);
for (let b = 0x21; b <= 0x7e; b++) if (b !== COLON) NAME_BYTE[b] = 1;

/**
 * A Filename of the usual form: "pool", then segments of [A-Za-z0-9][A-Za-z0-9._+~-]*. Every
 * such path passes checkPoolPath unchanged: relative, no empty, "." or ".." segment, no
 * control character or backslash, and a first segment that is none of our own names.
 */
const PLAIN_POOL_PATH = /^pool(?:\/[A-Za-z0-9][A-Za-z0-9._+~-]*)+$/;
/** Hex digits: 1 for 0-9a-f, 2 for A-F. */
const HEX_BYTE = new Uint8Array(256);
for (const c of '0123456789abcdef') HEX_BYTE[c.charCodeAt(0)] = 1;
for (const c of 'ABCDEF') HEX_BYTE[c.charCodeAt(0)] = 2;

/** ASCII whitespace as deb822.ts trims it from values ([ \t\v\f\r]). */
function isTrimmed(b: number): boolean {
  return b === SP || b === TAB || b === CR || b === VT || b === FF;
}

/**
 * The scanner proper. Bytes not yet consumed (the current stanza's lines and a
 * partial line) are carried in `carry` to the next chunk; parsing state of the
 * current stanza is kept, so no line is scanned twice. Positions below are
 * offsets into the buffer being scanned (the carry, then the next chunk).
 */
class PackagesScanner {
  private readonly where: string;
  private readonly max: number;
  private readonly keepRaw: ((pkg: string) => boolean) | undefined;
  private readonly select: ((pkg: string) => boolean) | undefined;
  private readonly lenient: boolean;
  private readonly checkPaths: boolean;
  private readonly wantSourceVersion: boolean;

  /** carry[0, carryLen): unconsumed bytes from earlier chunks. */
  private carry: Buffer = Buffer.alloc(0);
  private carryLen = 0;
  /** Where scanning resumes: the start of the first line not yet seen whole. */
  private resume = 0;
  /** The 1-based line number of the line at `resume`. */
  private line = 1;

  // The stanza in progress (start === -1: none).
  private start = -1;
  private startLine = 0;
  /** The field the last field line opened: an index into WANTED, OTHER_FIELD or NO_FIELD. */
  private cur = NO_FIELD;
  /** The line of the stanza's first syntax error (0: none so far) and what it is. */
  private badLine = 0;
  private badWhat = '';
  /** Field names seen in the stanza (for duplicates): start and length, and a bit per bucket (see field()). */
  private nFields = 0;
  private nameBits = 0;
  private readonly nameAt: number[] = [];
  private readonly nameLen: number[] = [];
  /** The first-line value of each wanted field, trimmed: [valStart, valEnd); valStart -1 when absent. */
  private readonly valStart = new Int32Array(WANTED.length);
  private readonly valEnd = new Int32Array(WANTED.length);
  /** Continuation lines of a wanted field, as [start, end) pairs (end before trailing whitespace). */
  private readonly conts: Array<number[] | undefined> = new Array<number[] | undefined>(WANTED.length).fill(undefined);
  private hasConts = false;
  /** The pool file of the stanza being finished (poolFile). */
  private fileName = '';
  private fileSize = -1;
  private fileSha256 = '';
  /** The last two Architecture values (an index has one or two: "amd64" and "all"), shared by the entries. */
  private arch1 = '';
  private arch2 = '';

  constructor(where: string, opts: ScanOptions) {
    this.where = where;
    this.max = opts.maxStanzaBytes ?? DEFAULT_MAX_STANZA_BYTES;
    this.keepRaw = opts.keepRaw;
    this.select = opts.select;
    this.lenient = opts.lenient ?? false;
    this.checkPaths = opts.checkPaths ?? true;
    this.wantSourceVersion = opts.sourceVersion ?? false;
  }

  /** Scans one chunk: entries of the stanzas it completes go to `out`. */
  push(chunk: Buffer, out: PackageEntry[]): void {
    let buf = chunk;
    let stop: number;
    if (this.carryLen === 0) {
      stop = this.scan(buf, false, out);
    } else {
      // The carried stanza usually ends at the chunk's first "\n\n": only that much is copied
      // after it, and the rest of the chunk is scanned where it is.
      const sep = chunk.indexOf(LF_LF);
      const cut = sep === -1 ? chunk.length : sep + 2;
      buf = this.append(chunk, 0, cut);
      stop = this.scan(buf, false, out);
      if (cut < chunk.length) {
        if (this.start === -1 && stop === buf.length) {
          this.carryLen = 0;
          buf = chunk;
          this.resume = cut;
        } else {
          this.resume = stop;
          buf = this.append(chunk, cut, chunk.length);
        }
        stop = this.scan(buf, false, out);
      }
    }
    // deb822.ts checks the cap as lines arrive and, at the end of every chunk, on the partial line
    // alone (even one that turns out blank): the same checks here, at the same points.
    if (this.start !== -1 && stop - this.start > this.max) throw this.overCap(this.startLine);
    if (buf.length - stop > this.max) throw this.overCap(this.start !== -1 ? this.startLine : this.line);
    this.keep(buf, buf === chunk, stop);
  }

  /** Appends chunk[a, b) to the carry; returns the carry's bytes. Positions into the carry stay valid. */
  private append(chunk: Buffer, a: number, b: number): Buffer {
    const need = this.carryLen + (b - a);
    if (this.carry.length < need) {
      const bigger = Buffer.allocUnsafe(Math.max(need, 2 * this.carry.length, MIN_CARRY));
      this.carry.copy(bigger, 0, 0, this.carryLen);
      this.carry = bigger;
    }
    chunk.copy(this.carry, this.carryLen, a, b);
    this.carryLen = need;
    return this.carry.subarray(0, need);
  }

  /** The end of the input: the last line (without a newline) and the last stanza. */
  end(out: PackageEntry[]): void {
    const buf = this.carry.subarray(0, this.carryLen);
    this.scan(buf, true, out);
    this.carry = Buffer.alloc(0);
    this.carryLen = 0;
  }

  /** Carries buf[from..] (the current stanza, or the partial line) over to the next chunk, shifting positions. */
  private keep(buf: Buffer, isChunk: boolean, stop: number): void {
    const from = this.start !== -1 ? this.start : stop;
    const len = buf.length - from;
    // A copy: the caller's chunk is not kept; nor is a carry grown for a big chunk once its tail is small.
    const oversized = this.carry.length > 4 * Math.max(len, MIN_CARRY);
    if (isChunk || oversized) {
      const dst = oversized || this.carry.length < len ? Buffer.allocUnsafe(Math.max(len, MIN_CARRY)) : this.carry;
      buf.copy(dst, 0, from);
      this.carry = dst;
    } else if (from > 0) {
      this.carry.copyWithin(0, from, buf.length);
    }
    this.carryLen = len;
    this.resume = stop - from;
    if (from === 0 || this.start === -1) return;
    this.start -= from;
    for (let i = 0; i < this.nFields; i++) this.nameAt[i] -= from;
    for (let k = 0; k < WANTED.length; k++) {
      if (this.valStart[k] === -1) continue;
      this.valStart[k] -= from;
      this.valEnd[k] -= from;
      const c = this.conts[k];
      if (c) for (let i = 0; i < c.length; i++) c[i] -= from;
    }
  }

  /**
   * Scans whole lines from `resume`; returns where the partial last line starts (buf.length if
   * none). With `final`, a last line without a newline counts as a line and the stanza in
   * progress is finished.
   */
  private scan(buf: Buffer, final: boolean, out: PackageEntry[]): number {
    const n = buf.length;
    let pos = this.resume;
    let line = this.line;
    let nul = buf.indexOf(0, pos);
    while (pos < n) {
      let nl = buf.indexOf(NL, pos);
      if (nl === -1) {
        if (!final) break;
        nl = n;
      }
      // The line is buf[pos, nl), then its newline (if nl < n).
      const c = buf[pos]!;
      if (c === NL || c === SP || c === TAB || c === CR) {
        // A line of spaces, tabs and CRs only is blank: it ends the stanza (deb822(5)).
        let j = pos + 1;
        while (j < nl) {
          const b = buf[j]!;
          if (b !== SP && b !== TAB && b !== CR) break;
          j++;
        }
        if (j >= nl) {
          if (this.start !== -1) this.finish(buf, pos, out);
          pos = nl + 1;
          line++;
          continue;
        }
      }
      if (this.start === -1) this.begin(pos, line);
      if (nul !== -1 && nul < nl) {
        this.fail(line, 'NUL byte');
        nul = buf.indexOf(0, nl);
      }
      if (this.badLine === 0) {
        if (c === HASH) {
          // A comment: part of raw, not a field; the field before it continues after it.
        } else if (c === SP || c === TAB) {
          this.continuation(buf, pos, nl, line);
        } else {
          this.field(buf, pos, nl, line);
        }
      }
      pos = nl + 1;
      line++;
    }
    this.line = line;
    if (!final) return pos;
    if (this.start !== -1) this.finish(buf, n, out);
    return n;
  }

  private begin(pos: number, line: number): void {
    this.start = pos;
    this.startLine = line;
    this.cur = NO_FIELD;
    this.badLine = 0;
    this.nFields = 0;
    this.nameBits = 0;
    for (let k = 0; k < WANTED.length; k++) this.valStart[k] = -1;
    if (this.hasConts) {
      this.conts.fill(undefined);
      this.hasConts = false;
    }
  }

  private fail(line: number, what: string): void {
    if (this.badLine === 0) {
      this.badLine = line;
      this.badWhat = what;
    }
  }

  /** A line starting with a space or tab: part of the field before it. */
  private continuation(buf: Buffer, pos: number, nl: number, line: number): void {
    const k = this.cur;
    if (k === NO_FIELD) return this.fail(line, 'continuation line without a field');
    if (k === OTHER_FIELD) return;
    let end = nl;
    while (end > pos && isTrimmed(buf[end - 1]!)) end--;
    const c = (this.conts[k] ??= []);
    c.push(pos, end);
    this.hasConts = true;
  }

  /** A line that must be `Name: value`. */
  private field(buf: Buffer, pos: number, nl: number, line: number): void {
    // A name: printable US-ASCII but no colon, not starting with '-' ('#' is a comment).
    let j = pos;
    let b = 0;
    let hash = 0;
    while (j < nl && NAME_BYTE[(b = buf[j]!)] === 1) {
      hash = (Math.imul(hash, 31) + (b | 0x20)) | 0;
      j++;
    }
    if (j === nl || b !== COLON || j === pos || buf[pos] === DASH) return this.fail(line, 'neither a field, a continuation nor a comment');
    const len = j - pos;
    const n = this.nFields;
    // Duplicates (names compared case-insensitively): a bit per hash bucket first, names compared
    // only when the bucket was seen before.
    const bit = hashBit(hash);
    if ((this.nameBits & bit) !== 0) {
      for (let i = 0; i < n; i++) {
        if (this.nameLen[i] === len && sameName(buf, this.nameAt[i]!, pos, len)) return this.fail(line, 'duplicate field');
      }
    }
    this.nameBits |= bit;
    this.nameAt[n] = pos;
    this.nameLen[n] = len;
    this.nFields = n + 1;
    let k = OTHER_FIELD;
    if ((WANTED_BITS & bit) !== 0) {
      for (let i = 0; i < WANTED_HASH.length; i++) {
        if (WANTED_HASH[i] === hash && WANTED[i]!.length === len && eqFold(buf, pos, i)) {
          k = i;
          break;
        }
      }
    }
    this.cur = k;
    if (k === OTHER_FIELD) return;
    let a = j + 1;
    let e = nl;
    while (a < e && isTrimmed(buf[a]!)) a++;
    while (e > a && isTrimmed(buf[e - 1]!)) e--;
    this.valStart[k] = a;
    this.valEnd[k] = e;
  }

  /** The stanza in progress ends at `end` (a blank line or the end of input). */
  private finish(buf: Buffer, end: number, out: PackageEntry[]): void {
    const start = this.start;
    this.start = -1;
    if (end - start > this.max) throw this.overCap(this.startLine);
    if (this.badLine !== 0) throw this.malformed(`line ${this.badLine}: ${this.badWhat}`, this.badLine);
    // A paragraph of comments only carries no data (deb822.ts skips it).
    if (this.nFields === 0) return;

    const pkg = this.text(buf, PACKAGE) ?? '';
    if (this.select !== undefined && !this.select(pkg)) return;
    let valid = true;
    if (!this.lenient) this.poolFile(buf, pkg);
    else {
      try {
        this.poolFile(buf, pkg);
      } catch {
        valid = false;
      }
    }
    const entry: PackageEntry = {
      package: pkg,
      version: this.text(buf, VERSION) ?? '',
      architecture: this.architecture(buf),
      source: this.source(buf, pkg),
      filename: valid ? this.fileName : '',
      size: valid ? this.fileSize : -1,
      sha256: valid ? this.fileSha256 : '',
    };
    if (!valid) entry.invalid = true;
    if (this.wantSourceVersion) entry.sourceVersion = this.sourceVersionOf(buf, entry.version);
    if (this.keepRaw !== undefined && this.keepRaw(pkg)) entry.raw = Buffer.from(buf.subarray(start, end));
    out.push(entry);
  }

  /** The pool file the stanza names, checked (the snapshot's checks, in their order: MALFORMED, then UNSAFE_PATH), into fileName, fileSize, fileSha256. */
  private poolFile(buf: Buffer, pkg: string): void {
    const name = this.valStart[PACKAGE] === -1 ? '?' : pkg;
    if (this.isEmpty(FILENAME) || this.isEmpty(SHA256) || this.isEmpty(SIZE)) throw this.malformed(`package ${name} lacks Filename, Size or SHA256`, this.startLine);
    const sha256 = this.hex64(buf);
    if (sha256 === undefined) throw this.malformed(`package ${name} has a malformed SHA256`, this.startLine);
    const size = this.size(buf);
    if (size === -1) throw this.malformed(`package ${name} has a malformed Size`, this.startLine);
    const path = this.text(buf, FILENAME)!;
    // The usual "pool/…" of plain segments is a subset of what checkPoolPath accepts (and returns
    // unchanged); it is recognized by a regex, since checkPoolPath's splits cost a fifth of the scan.
    this.fileName = !this.checkPaths || PLAIN_POOL_PATH.test(path) ? path : checkPoolPath(path, this.where);
    this.fileSize = size;
    this.fileSha256 = sha256;
  }

  /** Policy 5.6.1: `Source: name (version)` when the source's version differs from Version; else Version. */
  private sourceVersionOf(buf: Buffer, version: string): string {
    const m = /^\S+\s+\((\S+)\)$/.exec(this.text(buf, SOURCE) ?? '');
    return m ? m[1]! : version;
  }

  /** A wanted field's value as deb822.ts gives it (first line, then "\n" + each continuation line), or undefined. */
  private text(buf: Buffer, k: number): string | undefined {
    const a = this.valStart[k]!;
    if (a === -1) return undefined;
    // UTF-8 decoding of a piece bounded by ASCII bytes is that piece of the whole stanza's decoding.
    let s = utf8(buf, a, this.valEnd[k]!);
    const c = this.conts[k];
    if (c) for (let i = 0; i < c.length; i += 2) s += '\n' + utf8(buf, c[i]!, c[i + 1]!);
    return s;
  }

  /** Absent or the empty string (a value with continuation lines is never empty). */
  private isEmpty(k: number): boolean {
    return this.valStart[k] === -1 || (this.valStart[k] === this.valEnd[k] && this.conts[k] === undefined);
  }

  /** SHA256 lower-cased if it is 64 hex digits, else undefined. (No non-ASCII character lower-cases to [0-9a-f], so bytes decide.) */
  private hex64(buf: Buffer): string | undefined {
    const a = this.valStart[SHA256]!;
    const b = this.valEnd[SHA256]!;
    if (b - a !== 64 || this.conts[SHA256] !== undefined) return undefined;
    let kinds = 0;
    for (let i = a; i < b; i++) {
      const h = HEX_BYTE[buf[i]!]!;
      if (h === 0) return undefined;
      kinds |= h;
    }
    const s = utf8(buf, a, b);
    return kinds & 2 ? s.toLowerCase() : s;
  }

  /** Size as a number if it is 1 to 15 ASCII digits, else -1. */
  private size(buf: Buffer): number {
    const a = this.valStart[SIZE]!;
    const b = this.valEnd[SIZE]!;
    if (b - a < 1 || b - a > 15 || this.conts[SIZE] !== undefined) return -1;
    let v = 0;
    for (let i = a; i < b; i++) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d > 9) return -1;
      v = v * 10 + d;
    }
    return v;
  }

  /** Architecture ('' if absent): the same string for all entries of one architecture (it saves a decoding and memory). */
  private architecture(buf: Buffer): string {
    const a = this.valStart[ARCHITECTURE]!;
    if (a === -1) return '';
    const b = this.valEnd[ARCHITECTURE]!;
    if (this.conts[ARCHITECTURE] === undefined) {
      if (sameAscii(this.arch1, buf, a, b)) return this.arch1;
      if (sameAscii(this.arch2, buf, a, b)) {
        [this.arch1, this.arch2] = [this.arch2, this.arch1];
        return this.arch1;
      }
    }
    const s = this.text(buf, ARCHITECTURE)!;
    this.arch2 = this.arch1;
    this.arch1 = s;
    return s;
  }

  /** `(Source ?? Package).split(' ')[0]`, as the snapshot has it. */
  private source(buf: Buffer, pkg: string): string {
    const a = this.valStart[SOURCE]!;
    if (a !== -1 && this.conts[SOURCE] === undefined) {
      const b = this.valEnd[SOURCE]!;
      let i = a;
      while (i < b && buf[i] !== SP) i++;
      return utf8(buf, a, i);
    }
    const s = a === -1 ? pkg : this.text(buf, SOURCE)!;
    const sp = s.indexOf(' ');
    return sp === -1 ? s : s.slice(0, sp);
  }

  private overCap(line: number): AptfreezeError {
    return this.malformed(`stanza starting at line ${line} is over ${this.max} bytes`, line);
  }

  private malformed(what: string, line: number): AptfreezeError {
    return new AptfreezeError('MALFORMED', `${this.where}: ${what}`, { details: { line } });
  }
}

/**
 * buf[a, b) decoded as UTF-8 (as deb822.ts decodes), into a string of its own. The
 * encoding is left undefined on purpose: Buffer#toString then goes straight to its
 * UTF-8 decoder, without the encoding-name lookup that costs as much as decoding
 * a short value.
 */
function utf8(buf: Buffer, a: number, b: number): string {
  return buf.toString(undefined, a, b);
}

/** Whether buf[a, b) is the bytes of s, an ASCII string (so that bytes and characters correspond). */
function sameAscii(s: string, buf: Buffer, a: number, b: number): boolean {
  if (s.length !== b - a) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c !== buf[a + i]) return false;
  }
  return true;
}

/** Two valid field names of the same length, compared case-insensitively (ASCII). */
function sameName(buf: Buffer, a: number, b: number, len: number): boolean {
  for (let i = 0; i < len; i++) {
    let x = buf[a + i]!;
    let y = buf[b + i]!;
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

/**
 * Whether the (valid) name at pos is WANTED[k], case-insensitively. `| 0x20` is enough to
 * fold case here: on a name byte (0x21-0x7e) it gives a lower-case letter only for that
 * letter in either case, and the digits of "sha256" only for themselves.
 */
function eqFold(buf: Buffer, pos: number, k: number): boolean {
  const w = WANTED[k]!;
  for (let i = 0; i < w.length; i++) if ((buf[pos + i]! | 0x20) !== w[i]) return false;
  return true;
}
