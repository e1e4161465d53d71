import { createHash } from 'node:crypto';
import { AptfreezeError } from '../errors.ts';
import { parseStanzas, type Stanza } from '../debian/deb822.ts';
import { readPackagesText } from '../snapshot/packages-reader.ts';
import { compressionOf, type Compression } from '../debian/compress.ts';

/**
 * Reading index files held in memory, synchronously: the verifier's view of an
 * index. A Packages text is read by the one Packages reader
 * (snapshot/packages-reader.ts readPackagesText, the byte scanner with its stanza
 * cap); a Sources text by the deb822 reader (sourcesStanzasOf). Decompression is
 * handed in (the verifier does no I/O; the CLI's inflater may run xz or lz4).
 */

/** Decompresses a whole buffer; more than maxBytes of output, or corrupt input, throws an AptfreezeError. */
export type Inflate = (kind: Compression, data: Buffer, maxBytes: number) => Buffer;

/** Default cap on a decompressed index (a bomb costs at most this): Debian main's Packages is ~50 MB. */
export const DEFAULT_MAX_INDEX_BYTES = 256 * 1024 * 1024;

/** The plain text of an index file named by its path (its compression is its extension). */
export function plainIndex(path: string, data: Buffer, inflate: Inflate, maxBytes = DEFAULT_MAX_INDEX_BYTES): Buffer {
  const kind = compressionOf(path);
  if (kind === 'none') return data;
  try {
    return inflate(kind, data, maxBytes);
  } catch (e) {
    if (e instanceof AptfreezeError) throw new AptfreezeError(e.code, `${path}: ${e.message}`, { cause: e });
    throw new AptfreezeError('MALFORMED', `${path}: ${(e as Error).message}`, { cause: e });
  }
}

const CHUNK = 1 << 20;

/**
 * Every stanza of a Sources text (never a Packages one: packageEntries), parsed a
 * slice at a time (slices end at a blank line), so a big index is never held as
 * parsed stanzas at once. Malformed text is MALFORMED.
 */
export function* sourcesStanzasOf(text: Buffer): Generator<Stanza> {
  let start = 0;
  while (start < text.length) {
    let end = text.length;
    if (start + CHUNK < text.length) {
      const blank = text.indexOf('\n\n', start + CHUNK);
      // Cut after the line's own newline: the next slice starts with the blank line.
      if (blank !== -1) end = blank + 1;
    }
    yield* parseStanzas(text.subarray(start, end));
    start = end;
  }
}

/**
 * A stanza's identity for "byte-identical" checks: the sha256 of its bytes,
 * ending with one newline (the last stanza of a file may lack it; that is the
 * file's end, not a difference in the stanza).
 */
export function stanzaKey(raw: Buffer): string {
  const h = createHash('sha256').update(raw);
  if (raw[raw.length - 1] !== 0x0a) h.update('\n');
  return h.digest('hex');
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What a Packages stanza says about its .deb. */
export interface PackageEntry {
  package: string;
  version: string;
  architecture: string;
  filename: string;
  size: number;
  sha256: string;
  /** The stanza's identity (stanzaKey); '' when not asked for. */
  key: string;
  /** The stanza lists no usable file (filename '', size -1, sha256 ''). */
  invalid?: true;
}

/**
 * Every stanza of a Packages text (or of a slice of one cut at blank lines), in order, as the
 * auditor reads it: by the one Packages reader, leniently (a stanza without a usable Filename,
 * Size or SHA256 is `invalid` and lists no file; a Filename is taken as written, never opened).
 * With `keys`, each entry's `key` is its stanza's identity (stanzaKey), else ''. A deb822 syntax
 * error, or a stanza over the reader's cap, is MALFORMED.
 */
export function packageEntries(text: Buffer, where: string, keys = true): PackageEntry[] {
  return readPackagesText(text, where, { lenient: true, checkPaths: false, ...(keys ? { keepRaw: () => true } : {}) }).map((e) => ({
    package: e.package,
    version: e.version,
    architecture: e.architecture,
    filename: e.filename,
    size: e.size,
    sha256: e.sha256,
    key: e.raw ? stanzaKey(e.raw) : '',
    ...(e.invalid ? { invalid: true as const } : {}),
  }));
}

/** Whether an index path (relative to dists/<suite>/) is a binary Packages index. */
export function isPackagesIndex(path: string): boolean {
  return /(^|\/)binary-[^/]+\/Packages(\.[a-z0-9]+)?$/.test(path);
}

/** Whether an index path is a Sources index. */
export function isSourcesIndex(path: string): boolean {
  return /(^|\/)source\/Sources(\.[a-z0-9]+)?$/.test(path);
}
