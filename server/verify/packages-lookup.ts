import { packageEntries, type PackageEntry } from './indices.ts';

/**
 * Finding packages in a decompressed Packages text without parsing all of it.
 *
 * An auditor checks a few packages against an index of 63,000 stanzas: parsing
 * every stanza (and hashing each one's bytes) cost ~4 s and most of it in the
 * garbage collector. Instead, one pass notes where each `SHA256:` field line
 * is (a `Buffer.indexOf` over the bytes, no strings but the 64-character
 * hashes), and only the stanzas whose hash is asked for are cut out and
 * read by the one Packages reader (packageEntries), so each stanza the chain
 * relies on is read exactly as a full read would read it.
 *
 * A stanza whose field is spelled otherwise (`sha256:`, legal in deb822) is
 * not found by the scan: its package then fails to verify, never the
 * reverse. Nothing found here is trusted before the full parse of its stanza
 * agrees (the reader's SHA256 equals the one asked for).
 */
export class PackagesLookup {
  private map: Map<string, number[]> | null = null;
  private counted: number | null = null;
  private queries = 0;
  private names: Map<string, number[]> | null = null;
  private nameQueries = 0;

  /** `where` names the index in errors (`<where>: line N: ...`). */
  constructor(
    readonly text: Buffer,
    readonly where = 'Packages',
  ) {}

  /** Stanzas with a SHA256 field line (for "N packages" in a report). */
  get count(): number {
    if (this.counted === null) {
      let n = this.text.subarray(0, FIELD.length - 1).equals(FIELD.subarray(1)) ? 1 : 0;
      for (let i = this.text.indexOf(FIELD); i !== -1; i = this.text.indexOf(FIELD, i + FIELD.length)) n++;
      this.counted = n;
    }
    return this.counted;
  }

  /**
   * Where the hash may be listed. The first few queries search the text for the hash itself (a
   * 64-byte needle: Boyer-Moore skips most of the text; a few ms for 50 MB); past them, one pass
   * maps every SHA256 field line, which a thousand packages amortise.
   */
  offsetsOf(sha256: string): number[] {
    if (this.map) return this.map.get(sha256) ?? [];
    if (++this.queries > DIRECT_QUERIES) {
      this.map = mapHashes(this.text);
      return this.map.get(sha256) ?? [];
    }
    const out: number[] = [];
    const needle = Buffer.from(sha256, 'latin1');
    for (let i = this.text.indexOf(needle); i !== -1; i = this.text.indexOf(needle, i + needle.length)) out.push(i);
    return out;
  }

  /** Where a Filename ending in `/<base>` may be (only for messages about a package not found): as offsetsOf. */
  offsetsOfName(base: string): number[] {
    if (!this.names && ++this.nameQueries > DIRECT_QUERIES) this.names = mapNames(this.text);
    if (this.names) return this.names.get(base) ?? [];
    const out: number[] = [];
    const needle = Buffer.from(`/${base}\n`);
    for (let i = this.text.indexOf(needle); i !== -1; i = this.text.indexOf(needle, i + needle.length)) out.push(i);
    return out;
  }
}

const FILENAME = Buffer.from('\nFilename:');

/** File name (the last segment of Filename) -> offsets of the Filename field lines. */
function mapNames(text: Buffer): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (let i = text.indexOf(FILENAME); i !== -1; i = text.indexOf(FILENAME, i + FILENAME.length)) {
    let end = text.indexOf(0x0a, i + FILENAME.length);
    if (end === -1) end = text.length;
    const slash = text.lastIndexOf(0x2f, end);
    const name = text.toString('utf8', Math.max(slash + 1, i + FILENAME.length), end).trim();
    const list = out.get(name);
    if (list) list.push(i + 1);
    else out.set(name, [i + 1]);
  }
  return out;
}

const FIELD = Buffer.from('\nSHA256:');
const DIRECT_QUERIES = 16;

/** sha256 (lowercase hex) -> offsets of the SHA256 field lines naming it. */
function mapHashes(text: Buffer): Map<string, number[]> {
  const offsets = new Map<string, number[]>();
  const note = (fieldEnd: number) => {
    let p = fieldEnd;
    while (text[p] === 0x20 || text[p] === 0x09) p++;
    if (p + 64 > text.length) return;
    for (let k = p; k < p + 64; k++) {
      const c = text[k]!;
      // Lowercase hex only, as Debian writes it; anything else is found (or not) by the direct search.
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return;
    }
    const sha = text.toString('latin1', p, p + 64);
    const list = offsets.get(sha);
    if (list) list.push(p);
    else offsets.set(sha, [p]);
  };
  if (text.subarray(0, FIELD.length - 1).equals(FIELD.subarray(1))) note(FIELD.length - 1);
  for (let i = text.indexOf(FIELD); i !== -1; i = text.indexOf(FIELD, i + FIELD.length)) note(i + FIELD.length);
  return offsets;
}

/**
 * The package entries listing a file of this sha256: the stanzas around each
 * place the hash appears, read, whose SHA256 field is that hash. The slice cut
 * for each runs from the blank line before to the blank line after: a line of
 * only spaces (also blank in deb822) inside it makes the reader return several
 * stanzas, of which the matching ones count.
 */
export function entriesAt(lookup: PackagesLookup, sha256: string): PackageEntry[] {
  const { text } = lookup;
  const out: PackageEntry[] = [];
  let last = -1;
  for (const off of lookup.offsetsOf(sha256)) {
    const before = text.lastIndexOf('\n\n', off);
    const start = before === -1 ? 0 : before + 2;
    const after = text.indexOf('\n\n', off + 1);
    const end = after === -1 ? text.length : after + 1;
    // The hash twice in one stanza (a field and a Description, say): that stanza once.
    if (start === last) continue;
    last = start;
    for (const e of packageEntries(text.subarray(start, end), lookup.where)) if (!e.invalid && e.sha256 === sha256) out.push(e);
  }
  return out;
}

/** The package entries whose Filename's last segment is `base` (for "same name, other bytes" messages). */
export function entriesNamed(lookup: PackagesLookup, base: string): PackageEntry[] {
  const { text } = lookup;
  const out: PackageEntry[] = [];
  for (const off of lookup.offsetsOfName(base)) {
    const before = text.lastIndexOf('\n\n', off);
    const start = before === -1 ? 0 : before + 2;
    const after = text.indexOf('\n\n', off);
    const end = after === -1 ? text.length : after + 1;
    try {
      for (const e of packageEntries(text.subarray(start, end), lookup.where, false)) if (!e.invalid && e.filename.split('/').pop() === base) out.push(e);
    } catch {
      // Only a message depends on it: a malformed stanza is reported where the chain needs it.
    }
  }
  return out;
}
