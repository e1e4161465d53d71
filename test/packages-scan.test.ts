// server/debian/packages-scan.ts against what it replaces: readStanzas (deb822.ts) + packagesRef
// (parse-index.ts) + Stanza.get of Version, Architecture and Source, as the snapshot reads a
// Packages index. Differential: for any input, chunking and options, the same entries (raw bytes
// included) in the same order, the same error code for the first bad stanza, and the entries
// before it. Inputs are Packages texts in odd but valid forms (field-name case, spaces and tabs,
// CRLF, comments, continuation lines, missing fields, blank-line variants, no final newline),
// with mutations, and hostile bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readStanzas } from '../server/debian/deb822.ts';
import { checkPoolPath } from '../server/snapshot/parse-index.ts';
import type { Stanza } from '../server/debian/deb822.ts';
import { scanPackages, scanPackagesBuffer, type PackageEntry, type ScanOptions } from '../server/debian/packages-scan.ts';
import { AptfreezeError } from '../server/errors.ts';
import { FuzzLedger, checkAsync, hostileBytes, hostileChar, runs } from './helpers/fuzz.ts';

const WHERE = 'bookworm/main/binary-amd64/Packages';

/** An entry as compared: raw as hex, for readable diffs. */
type Shown = Omit<PackageEntry, 'raw'> & { raw?: string };
interface Outcome {
  entries: Shown[];
  /** The error code the scan ended with, or null. */
  code: string | null;
}

function show(e: PackageEntry): Shown {
  const { raw, ...rest } = e;
  return raw === undefined ? rest : { ...rest, raw: raw.toString('hex') };
}

/** The code of an expected error; anything else (a TypeError, another code) fails the test. */
function codeOf(e: unknown): string {
  if (e instanceof AptfreezeError && (e.code === 'MALFORMED' || e.code === 'UNSAFE_PATH')) return e.code;
  throw e;
}

/** The pool file a Packages stanza names, checked: the snapshot's reading before the scanner (packagesRef, kept here as the reference). */
function packagesRef(s: Stanza, where: string): { path: string; sha256: string; size: number } {
  const filename = s.get('Filename');
  const sha256 = s.get('SHA256')?.toLowerCase();
  const sizeText = s.get('Size');
  const name = s.get('Package') ?? '?';
  if (!filename || !sha256 || !sizeText) throw new AptfreezeError('MALFORMED', `${where}: package ${name} lacks Filename, Size or SHA256`);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new AptfreezeError('MALFORMED', `${where}: package ${name} has a malformed SHA256`);
  if (!/^\d{1,15}$/.test(sizeText)) throw new AptfreezeError('MALFORMED', `${where}: package ${name} has a malformed Size`);
  return { path: checkPoolPath(filename, where), sha256, size: Number(sizeText) };
}

/** Today's reading of a Packages index (the loop of snapshot/run.ts). */
async function reference(chunks: AsyncIterable<Buffer | Uint8Array>, opts: ScanOptions): Promise<Outcome> {
  const entries: Shown[] = [];
  try {
    for await (const s of readStanzas(chunks, { maxStanzaBytes: opts.maxStanzaBytes })) {
      const name = s.get('Package') ?? '';
      if (opts.select && !opts.select(name)) continue;
      const r = packagesRef(s, WHERE);
      const e: PackageEntry = {
        package: name,
        version: s.get('Version') ?? '',
        architecture: s.get('Architecture') ?? '',
        source: (s.get('Source') ?? name).split(' ')[0]!,
        filename: r.path,
        size: r.size,
        sha256: r.sha256,
      };
      if (opts.keepRaw?.(name)) e.raw = s.raw;
      entries.push(show(e));
    }
  } catch (e) {
    return { entries, code: codeOf(e) };
  }
  return { entries, code: null };
}

async function scanned(chunks: AsyncIterable<Buffer | Uint8Array>, opts: ScanOptions): Promise<Outcome> {
  const entries: Shown[] = [];
  try {
    for await (const batch of scanPackages(chunks, WHERE, opts)) for (const e of batch) entries.push(show(e));
  } catch (e) {
    return { entries, code: codeOf(e) };
  }
  return { entries, code: null };
}

function scannedBuffer(data: Buffer, opts: ScanOptions): Outcome {
  try {
    return { entries: scanPackagesBuffer(data, WHERE, opts).map(show), code: null };
  } catch (e) {
    return { entries: [], code: codeOf(e) };
  }
}

type Chunking = 'whole' | 'bytes' | number[];

/** The input in chunks: whole, byte by byte, or cut at the given positions (mod its length); plain Uint8Arrays with `u8`. */
async function* chunksOf(input: Buffer, how: Chunking, u8 = false): AsyncGenerator<Buffer | Uint8Array> {
  const out = (b: Buffer) => (u8 ? new Uint8Array(b) : b);
  if (how === 'whole') {
    yield out(input);
    return;
  }
  if (how === 'bytes') {
    for (let i = 0; i < input.length; i++) yield out(input.subarray(i, i + 1));
    return;
  }
  let at = 0;
  for (const c of [...new Set(how.map((x) => (input.length ? x % input.length : 0)))].sort((a, b) => a - b)) {
    if (c <= at) continue;
    yield out(input.subarray(at, c));
    at = c;
  }
  yield out(input.subarray(at));
}

/** The same outcome from the streaming scan (same chunks) and from the buffer scan (one chunk, as readStanzas over [input]). */
async function assertSame(input: Buffer, opts: ScanOptions, how: Chunking, u8 = false): Promise<Outcome> {
  const want = await reference(chunksOf(input, how, u8), opts);
  assert.deepEqual(await scanned(chunksOf(input, how, u8), opts), want);
  const whole = how === 'whole' ? want : await reference(chunksOf(input, 'whole'), opts);
  assert.deepEqual(scannedBuffer(input, opts), whole.code === null ? whole : { entries: [], code: whole.code });
  return want;
}

interface OptionsSpec {
  keep: 'none' | 'all' | 'even';
  select: 'all' | 'a-m' | 'named';
  max: number | undefined;
}

function optionsOf(spec: OptionsSpec): ScanOptions {
  const opts: ScanOptions = {};
  if (spec.keep === 'all') opts.keepRaw = () => true;
  if (spec.keep === 'even') opts.keepRaw = (p) => p.length % 2 === 0;
  if (spec.select === 'a-m') opts.select = (p) => /^[a-m]/.test(p);
  if (spec.select === 'named') opts.select = (p) => p !== '';
  if (spec.max !== undefined) opts.maxStanzaBytes = spec.max;
  return opts;
}

const optionsSpec: fc.Arbitrary<OptionsSpec> = fc.record({
  keep: fc.constantFrom('none', 'all', 'even'),
  select: fc.constantFrom('all', 'all', 'a-m', 'named'),
  max: fc.constantFrom(undefined, undefined, undefined, undefined, undefined, 64, 160, 400),
});

const chunking: fc.Arbitrary<Chunking> = fc.oneof(
  { weight: 2, arbitrary: fc.constant('whole' as const) },
  { weight: 1, arbitrary: fc.constant('bytes' as const) },
  { weight: 6, arbitrary: fc.array(fc.nat(), { minLength: 1, maxLength: 10 }) },
);

// Texts are built as byte strings (one char per byte, latin1), so that invalid UTF-8 can be written.
const bytesOf = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

const caseOf = (name: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(name) },
    { weight: 1, arbitrary: fc.constantFrom(name.toLowerCase(), name.toUpperCase()) },
    {
      weight: 1,
      arbitrary: fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((up) => [...name].map((c, i) => (up[i] ? c.toUpperCase() : c.toLowerCase())).join('')),
    },
  );

const afterColon = fc.constantFrom('', ' ', ' ', ' ', '  ', '\t', ' \t ', '\v', '\f ');
const trailing = fc.oneof({ weight: 8, arbitrary: fc.constant('') }, { weight: 2, arbitrary: fc.constantFrom(' ', '\t', '  \t', '\v', '\f', '\r', ' \r') });
const eol = fc.oneof({ weight: 5, arbitrary: fc.constant('\n') }, { weight: 1, arbitrary: fc.constant('\r\n') });
const continuation = fc
  .tuple(
    fc.constantFrom(' ', '\t', '  ', ' \t'),
    fc.oneof(fc.constantFrom('.', 'more text', '  indented', bytesOf('ünïcödé'), '\xff\xfe', '\v', 'a: b', '#not a comment'), fc.stringMatching(/^[!-~][ -~]{0,20}$/)),
    trailing,
    eol,
  )
  .map(([indent, text, trail, end]) => `${indent}${text}${trail}${end}`);
const commentLine = fc.constantFrom('# a comment\n', '#\n', '#x\r\n', bytesOf('# ünï\n'));

/** A field line as written, with continuation lines (sometimes after a comment) now and then. */
const fieldText = (name: fc.Arbitrary<string>, value: fc.Arbitrary<string>, contWeight: number, plainWeight = 20): fc.Arbitrary<string> =>
  fc
    .record({
      name,
      sep: afterColon,
      value,
      trail: trailing,
      eol,
      comment: fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: commentLine }),
      conts: fc.oneof({ weight: plainWeight, arbitrary: fc.constant<string[]>([]) }, { weight: contWeight, arbitrary: fc.array(continuation, { minLength: 1, maxLength: 3 }) }),
    })
    .map((f) => `${f.name}:${f.sep}${f.value}${f.trail}${f.eol}${f.comment}${f.conts.join('')}`);

const pkgName = fc.oneof(
  { weight: 10, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9+.-]{0,14}$/) },
  { weight: 1, arbitrary: fc.constantFrom('', 'a b', bytesOf('pkgé'), '\xc3', '\xff', 'x\t y', bytesOf('\u00a0nbsp'), bytesOf('İ'), 'very-long-package-name-for-slices') },
);
const versionValue = fc.oneof(fc.stringMatching(/^([0-9]:)?[0-9][0-9a-z.+~-]{0,10}$/), fc.constantFrom('', '1.0 (odd)', bytesOf('1.0ü'), '\xe2\x80'));
const archValue = fc.constantFrom('amd64', 'amd64', 'all', 'all', 'arm64', '', 'any amd64', 'AMD64', bytesOf('amd64\u00a0'));
const sourceValue = fc.oneof(pkgName, fc.tuple(pkgName, versionValue).map(([n, v]) => `${n} (${v})`), fc.constantFrom('', 'a\tb (1)', 'a  b', 'x (1)'));
const segment = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._+~-]{0,10}$/);
const filenameValue = fc.oneof(
  { weight: 16, arbitrary: fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `pool/${s.join('/')}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '../etc/passwd',
      'pool/../../x.deb',
      '/abs/x.deb',
      'dists/x.deb',
      'project/trace',
      'proof.deb',
      'by-hash/x',
      'pool//x.deb',
      'pool/./x.deb',
      'pool/x.deb/',
      'pool\\x.deb',
      'pool/x\x7f.deb',
      'pool/x\x01.deb',
      'pool/.hidden.deb',
      'pool/a b.deb',
      bytesOf('pool/ünï.deb'),
      'pool/%2e%2e/x',
      'main/x.deb',
      'Pool/x.deb',
      'pool',
      'pool/',
      '.',
      'x',
      'pool/_x',
      'pool/~x',
      '\xff/x.deb',
      'pool/a\xc3.deb',
      bytesOf('pool/\u2024\u2024/x'),
    ),
  },
);
const sizeValue = fc.oneof(
  { weight: 32, arbitrary: fc.stringMatching(/^[0-9]{1,15}$/) },
  { weight: 1, arbitrary: fc.constantFrom('', '0', '000000000000001', '999999999999999', '9999999999999999', '1.5', '-1', '+1', '1e3', '0x10', '12 3', bytesOf('１'), bytesOf('٣')) },
);
const shaValue = fc.oneof(
  { weight: 24, arbitrary: fc.stringMatching(/^[0-9a-f]{64}$/) },
  { weight: 3, arbitrary: fc.stringMatching(/^[0-9a-fA-F]{64}$/) },
  { weight: 1, arbitrary: fc.oneof(fc.stringMatching(/^[0-9a-f]{63}$/), fc.stringMatching(/^[0-9a-f]{65}$/), fc.stringMatching(/^[0-9a-f]{30}[g-zG-Z ][0-9a-f]{33}$/), fc.constant('')) },
);
const otherValue = fc.oneof(fc.stringMatching(/^[ -~]{0,40}$/), fc.constantFrom('', bytesOf('Ünïcode Maintainer <m@example.org>'), '\xff\xfe bad utf-8', 'a, b (>= 1.0) | c'));
// Names that are not read but look like those that are: other lengths, other letters, names
// equal under a `| 0x20` fold ('X[' / 'X{', 'X@' / 'X`'), and names whose case-folded hash is
// that of "package" and "size" ("packai'", "si|'": 31·'g' + 'e' = 31·'i' + "'").
const otherName = fc.constantFrom(
  'Installed-Size',
  'Maintainer',
  'Depends',
  'Description',
  'Section',
  'Priority',
  'MD5sum',
  'Multi-Arch',
  'Homepage',
  'Description-md5',
  'Sizes',
  'Siz',
  'SHA2566',
  'SHA1',
  'Sourcey',
  'Packag',
  'Filenames',
  'Architectures',
  'Versio',
  'X[',
  'X{',
  'X@',
  'X`',
  '~',
  '!#$%',
  "packai'",
  "PACKAI'",
  "si|'",
  'Package-List',
);

const packageStanza: fc.Arbitrary<string> = fc
  .record({
    pkg: fc.option(fieldText(caseOf('Package'), pkgName, 1), { freq: 12, nil: '' }),
    source: fc.option(fieldText(caseOf('Source'), sourceValue, 1), { freq: 2, nil: '' }),
    version: fc.option(fieldText(caseOf('Version'), versionValue, 1), { freq: 8, nil: '' }),
    arch: fc.option(fieldText(caseOf('Architecture'), archValue, 1), { freq: 8, nil: '' }),
    filename: fc.option(fieldText(caseOf('Filename'), filenameValue, 1, 60), { freq: 60, nil: '' }),
    size: fc.option(fieldText(caseOf('Size'), sizeValue, 1, 60), { freq: 60, nil: '' }),
    sha: fc.option(fieldText(caseOf('SHA256'), shaValue, 1, 60), { freq: 60, nil: '' }),
    others: fc.uniqueArray(fc.tuple(otherName, otherValue), { maxLength: 5, selector: ([n]) => n.toLowerCase() }).chain((fs) =>
      fc.tuple(...fs.map(([n, v]) => fieldText(fc.constant(n), fc.constant(v), 5))),
    ),
    lead: fc.oneof({ weight: 8, arbitrary: fc.constant('') }, { weight: 1, arbitrary: commentLine }),
  })
  .chain((s) => {
    const fields = [s.pkg, s.source, s.version, s.arch, s.filename, s.size, s.sha, ...s.others].filter((f) => f !== '');
    return fc.shuffledSubarray(fields, { minLength: fields.length, maxLength: fields.length }).map((fs) => s.lead + fs.join(''));
  });
const commentsOnly = fc.array(commentLine, { minLength: 1, maxLength: 3 }).map((a) => a.join(''));
const blankLine = fc.constantFrom('\n', '\n', '\n', '\r\n', ' \n', '\t\n', ' \t \r\n', '\r\r\n', `${' '.repeat(70)}\n`);

/** A Packages text (as a byte string). */
const packagesText: fc.Arbitrary<string> = fc
  .record({
    lead: fc.array(blankLine, { maxLength: 2 }),
    stanzas: fc.array(fc.oneof({ weight: 12, arbitrary: packageStanza }, { weight: 1, arbitrary: commentsOnly }), { minLength: 1, maxLength: 4 }),
    seps: fc.array(fc.array(blankLine, { minLength: 1, maxLength: 3 }), { minLength: 4, maxLength: 4 }),
    dropLastNewline: fc.boolean(),
    end: fc.constantFrom('', '', '', '\n', '\n\n', ' ', ' \t', '\r', '\n \t', `\n${' '.repeat(70)}`),
  })
  .map((d) => {
    let text = d.lead.join('') + d.stanzas.map((s, i) => (i === 0 ? '' : d.seps[i - 1]!.join('')) + s).join('');
    if (d.dropLastNewline) text = text.replace(/\n$/, '');
    return text + d.end;
  });

const mutation = fc.oneof(
  fc.constantFrom('\0', '\n', '\n\n', ' x\n', '-X: 1\n', 'Package: dup\n', 'size: 5\n', `SHA256: ${'a'.repeat(64)}\n`, '\xff', ':', '#', 'NoColon\n', ' \n', '\r', bytesOf('Fïeld: x\n'), 'A B: c\n', '\v\n', '\tx', 'X\x7f: 1\n', '\rX: 1\n', '# c\n'),
  hostileChar.map(bytesOf),
);
/** A Packages text with up to three insertions of syntax and hostile characters, anywhere or at a line's start. */
const mutatedText = fc.tuple(packagesText, fc.array(fc.tuple(fc.nat(), mutation, fc.boolean()), { maxLength: 3 })).map(([text, muts]) => {
  let t = text;
  for (const [at, m, lineStart] of muts) {
    let p = at % (t.length + 1);
    if (lineStart) p = t.lastIndexOf('\n', p - 1) + 1;
    t = t.slice(0, p) + m + t.slice(p);
  }
  return t;
});

const sha = (c: string) => c.repeat(64);

/** A realistic stanza (about 700 bytes, as dak writes them). */
function realistic(i: number): string {
  const name = `lib${['foo', 'bar', 'baz', 'qux'][i % 4]}${i}`;
  return [
    `Package: ${name}`,
    ...(i % 3 === 0 ? [`Source: src${Math.floor(i / 3)} (1.${i}-1)`] : []),
    `Version: 1.${i}-1`,
    `Installed-Size: ${i * 7}`,
    `Maintainer: Debian Foo Maintainers <pkg-foo-maintainers@lists.alioth.debian.org>`,
    `Architecture: ${i % 5 === 0 ? 'all' : 'amd64'}`,
    `Depends: libc6 (>= 2.34), libfoo-common (= 1.${i}-1), zlib1g (>= 1:1.1.4)`,
    `Description: foo library, number ${i}`,
    ` This is a long description of the foo library, which does a great many things;`,
    ` it is here to make the stanza as long as the ones of Debian.`,
    ` .`,
    ` This package contains the shared library.`,
    `Section: libs`,
    `Priority: optional`,
    `Filename: pool/main/f/foo/${name}_1.${i}-1_amd64.deb`,
    `Size: ${1000 + i}`,
    `MD5sum: ${'0123456789abcdef'.repeat(2)}`,
    `SHA256: ${(i.toString(16).padStart(8, '0') + 'ABCDEF01').repeat(4)}`,
  ].join('\n');
}

describe('packages-scan: the same as readStanzas + packagesRef', () => {
  const ledger = new FuzzLedger();

  it('gives the same entries, raw bytes and error codes on generated Packages texts, however chunked', async () => {
    const tally = { ok: 0, MALFORMED: 0, UNSAFE_PATH: 0, entries: 0 };
    await checkAsync(ledger, 'valid-looking texts', runs(3_000), [packagesText, optionsSpec, chunking, fc.boolean()], async (text, spec, how, u8) => {
      const want = await assertSame(Buffer.from(text, 'latin1'), optionsOf(spec), how, u8);
      if (want.code === null) tally.ok++;
      else tally[want.code as 'MALFORMED' | 'UNSAFE_PATH']++;
      tally.entries += want.entries.length;
    });
    // The generator reaches every outcome, and mostly valid indices.
    const total = tally.ok + tally.MALFORMED + tally.UNSAFE_PATH;
    assert.ok(tally.ok > total * 0.4, JSON.stringify(tally));
    assert.ok(tally.MALFORMED > total * 0.05, JSON.stringify(tally));
    assert.ok(tally.UNSAFE_PATH > total * 0.02, JSON.stringify(tally));
    assert.ok(tally.entries > total * 0.8, JSON.stringify(tally));
  });

  it('gives the same outcome on mutated texts (syntax errors, NUL, invalid UTF-8, stray lines)', async () => {
    await checkAsync(ledger, 'mutated texts', runs(4_000), [mutatedText, optionsSpec, chunking, fc.boolean()], async (text, spec, how, u8) => {
      await assertSame(Buffer.from(text, 'latin1'), optionsOf(spec), how, u8);
    });
  });

  it('gives the same outcome on hostile bytes, alone or around a valid stanza', async () => {
    const valid = Buffer.from(`Package: p\nFilename: pool/p.deb\nSize: 1\nSHA256: ${sha('a')}\n`);
    await checkAsync(
      ledger,
      'hostile bytes',
      runs(3_000),
      [hostileBytes(100), fc.constantFrom('alone', 'before', 'after', 'inside'), optionsSpec, chunking],
      async (bytes, where, spec, how) => {
        const input =
          where === 'alone' ? bytes
          : where === 'before' ? Buffer.concat([bytes, Buffer.from('\n\n'), valid])
          : where === 'after' ? Buffer.concat([valid, bytes])
          : Buffer.concat([valid.subarray(0, 20), bytes, valid.subarray(20)]);
        await assertSame(input, optionsOf(spec), how);
      },
    );
  });

  it('agrees at every chunk boundary, and byte by byte', async () => {
    const text = [
      '\r\n \t\n# leading comment stanza\n',
      '\n',
      `pACKAGE:\tfoo \r\nSource: foo-src (1:2.0-1)\nVersion:  1:2.0-1\t\r\n# a comment\nDescription: short\n long\n# inside\n .\n\tmore \r\narchitecture: amd64\nFilename: pool/main/f/foo/foo_2.0-1_amd64.deb\nSize: 000123\nSHA256: ${sha('AbC1').slice(0, 64)}\n`,
      ' \t \n\n\r\n',
      `Package: bar\nVersion: 1\n\x20multi-line version\nArchitecture: all\nFilename: pool/b/bar.deb\nSize: 9\nsha256: ${sha('9')}`,
      '\n\n',
      `Package: ünï\nFilename: pool/u/x.deb\nSize: 1\nSHA256: ${sha('e')}\nX-Long: ${'z'.repeat(120)}\n`,
      `\n${' '.repeat(90)}\n`,
      `Package: last\nFilename: pool/l.deb\nSize: 2\nSHA256: ${sha('f')}`,
    ].join('');
    const input = Buffer.from(text, 'utf8');
    for (const max of [undefined, 100, 170, 400]) {
      const opts: ScanOptions = { keepRaw: () => true, maxStanzaBytes: max };
      for (let i = 0; i <= input.length; i++) await assertSame(input, opts, [i]);
      await assertSame(input, opts, 'bytes');
    }
    const all = await reference(chunksOf(input, 'whole'), { keepRaw: () => true });
    assert.equal(all.code, null);
    assert.deepEqual(
      all.entries.map((e) => [e.package, e.version, e.architecture, e.source, e.size]),
      [
        ['foo', '1:2.0-1', 'amd64', 'foo-src', 123],
        ['bar', '1\n multi-line version', 'all', 'bar', 9],
        ['ünï', '', '', 'ünï', 1],
        ['last', '', '', 'last', 2],
      ],
    );
    ledger.rows.push({ name: 'every chunk boundary', runs: 4 * (input.length + 2), ms: 0 });
  });

  it('has the stanza cap of deb822.ts, also on a long blank line split across chunks', async () => {
    const blank = ' '.repeat(300);
    const input = Buffer.from(`Package: a\nFilename: pool/a.deb\nSize: 1\nSHA256: ${sha('a')}\n${blank}\nPackage: b\nFilename: ../b\nSize: 1\nSHA256: ${sha('b')}\n`);
    const opts = { maxStanzaBytes: 150 };
    // Whole, the 300 spaces are a blank line like any other: the second stanza's path is refused.
    assert.equal((await assertSame(input, opts, 'whole')).code, 'UNSAFE_PATH');
    // Split 200 bytes into them, deb822.ts checks the partial line against the cap at the chunk's
    // end; the first stanza is not complete yet (its blank line is not), so nothing comes before.
    assert.deepEqual(await assertSame(input, opts, [input.indexOf(blank) + 200]), { entries: [], code: 'MALFORMED' });
    // A stanza over the cap.
    assert.equal((await assertSame(input, { maxStanzaBytes: 100 }, 'whole')).code, 'MALFORMED');
  });

  it('refuses a traversal or reserved Filename (UNSAFE_PATH) and a stanza without SHA256 (MALFORMED), lowers an upper-case SHA256', async () => {
    const stanza = (filename: string, hash: string | null) => Buffer.from(`Package: p\nVersion: 1\nArchitecture: amd64\nFilename: ${filename}\nSize: 10\n${hash === null ? '' : `SHA256: ${hash}\n`}`);
    for (const bad of ['../../etc/passwd', 'pool/../../../x.deb', '/etc/passwd', 'dists/bookworm/Release', 'pool//x.deb']) {
      assert.throws(() => scanPackagesBuffer(stanza(bad, sha('a')), WHERE), (e: unknown) => e instanceof AptfreezeError && e.code === 'UNSAFE_PATH', bad);
      assert.equal((await scanned(chunksOf(stanza(bad, sha('a')), 'bytes'), {})).code, 'UNSAFE_PATH');
    }
    assert.throws(() => scanPackagesBuffer(stanza('pool/p.deb', null), WHERE), (e: unknown) => e instanceof AptfreezeError && e.code === 'MALFORMED');
    assert.throws(() => scanPackagesBuffer(stanza('pool/p.deb', sha('a').slice(1)), WHERE), (e: unknown) => e instanceof AptfreezeError && e.code === 'MALFORMED');
    const [e] = scanPackagesBuffer(stanza('pool/p.deb', `${sha('AB').slice(0, 62)}Ff`), WHERE);
    assert.equal(e!.sha256, `${sha('ab').slice(0, 62)}ff`);
    assert.deepEqual(scanPackagesBuffer(stanza('pool/p.deb', sha('c')), WHERE), [
      { package: 'p', version: '1', architecture: 'amd64', source: 'p', filename: 'pool/p.deb', size: 10, sha256: sha('c') },
    ]);
  });

  it('with select, neither checks nor returns the stanzas it rejects (as the filtered snapshot loop)', async () => {
    const input = Buffer.from(`Package: skipped\nFilename: ../x\nSize: z\n\nPackage: kept\nFilename: pool/k.deb\nSize: 3\nSHA256: ${sha('d')}\n`);
    assert.throws(() => scanPackagesBuffer(input, WHERE), (e: unknown) => e instanceof AptfreezeError && e.code === 'MALFORMED');
    const got = scanPackagesBuffer(input, WHERE, { select: (p) => p === 'kept', keepRaw: () => true });
    assert.deepEqual(got.map((e) => [e.package, e.raw?.toString()]), [['kept', `Package: kept\nFilename: pool/k.deb\nSize: 3\nSHA256: ${sha('d')}\n`]]);
    // Syntax is still checked in rejected stanzas, as readStanzas does.
    assert.throws(() => scanPackagesBuffer(Buffer.from('Package: skipped\nno colon\n'), WHERE, { select: () => false }), (e: unknown) => e instanceof AptfreezeError && e.code === 'MALFORMED');
  });

  it('streams a realistic index in batches, the same for any chunk size; entries before a bad stanza come first', async () => {
    const n = 6_000;
    const good = Buffer.from(Array.from({ length: n }, (_, i) => realistic(i)).join('\n\n') + '\n');
    for (const size of [1_000, 4_096, 65_536, 1 << 20]) {
      const cuts = Array.from({ length: Math.ceil(good.length / size) }, (_, i) => (i + 1) * size);
      const want = await reference(chunksOf(good, cuts), { keepRaw: (p) => p.endsWith('7') });
      const batches: number[] = [];
      const entries: Shown[] = [];
      for await (const b of scanPackages(chunksOf(good, cuts), WHERE, { keepRaw: (p) => p.endsWith('7') })) {
        batches.push(b.length);
        entries.push(...b.map(show));
      }
      assert.deepEqual({ entries, code: null }, want);
      assert.equal(entries.length, n);
      assert.ok(batches.length >= 2, `${batches.length} batches`);
    }
    const bad = Buffer.concat([good, Buffer.from(`\nPackage: broken\nFilename: pool/x.deb\nSize: 1\n`)]);
    const got = await scanned(chunksOf(bad, Array.from({ length: 40 }, (_, i) => (i + 1) * 65_536)), {});
    assert.equal(got.code, 'MALFORMED');
    assert.equal(got.entries.length, n);
  });

  it('ran enough inputs', (t) => {
    for (const line of ledger.lines()) t.diagnostic(line);
    assert.ok(ledger.total >= runs(10_000) + 3_000, `${ledger.total} inputs`);
  });
});

describe('packages-scan: the readings of the verifier and the snapshot.debian.org indexer', () => {
  const sha = 'a'.repeat(64);
  const text = [
    `Package: good\nVersion: 1\nArchitecture: amd64\nSource: src (0.9)\nFilename: pool/main/g/good_1_amd64.deb\nSize: 10\nSHA256: ${sha}\n`,
    `Package: nohash\nVersion: 2\nArchitecture: all\nFilename: pool/main/n/nohash_2_all.deb\nSize: 10\n`,
    `Package: proof\nVersion: 3\nArchitecture: all\nFilename: proof.deb\nSize: 5\nSHA256: ${sha.toUpperCase()}\n`,
  ].join('\n');

  it('lenient: marks a stanza naming no usable file invalid instead of refusing the index; a deb822 error is still MALFORMED', () => {
    assert.throws(() => scanPackagesBuffer(Buffer.from(text), WHERE), (e: unknown) => e instanceof AptfreezeError && e.code === 'MALFORMED');
    const got = scanPackagesBuffer(Buffer.from(text), WHERE, { lenient: true });
    assert.deepEqual(
      got.map((e) => [e.package, e.invalid ?? false, e.filename, e.size, e.sha256]),
      [
        ['good', false, 'pool/main/g/good_1_amd64.deb', 10, sha],
        ['nohash', true, '', -1, ''],
        ['proof', true, '', -1, ''],
      ],
    );
    assert.throws(() => scanPackagesBuffer(Buffer.from(`${text}\nPackage: x\nPackage: x\n`), WHERE, { lenient: true }), (e: unknown) => e instanceof AptfreezeError && e.code === 'MALFORMED');
  });

  it('checkPaths false: takes a Filename as written (the aptfreeze-proof index lists proof.deb)', () => {
    assert.throws(() => scanPackagesBuffer(Buffer.from(text.split('\n\n')[2]!), WHERE), (e: unknown) => e instanceof AptfreezeError && e.code === 'UNSAFE_PATH');
    const got = scanPackagesBuffer(Buffer.from(text), WHERE, { lenient: true, checkPaths: false });
    assert.deepEqual(got.map((e) => [e.package, e.filename, e.sha256]), [['good', 'pool/main/g/good_1_amd64.deb', sha], ['nohash', '', ''], ['proof', 'proof.deb', sha]]);
  });

  it("sourceVersion: the source's version from `Source: name (version)`, else Version (Policy 5.6.1)", () => {
    const got = scanPackagesBuffer(Buffer.from(text), WHERE, { lenient: true, checkPaths: false, sourceVersion: true });
    assert.deepEqual(got.map((e) => [e.source, e.sourceVersion]), [['src', '0.9'], ['nohash', '2'], ['proof', '3']]);
    assert.equal(scanPackagesBuffer(Buffer.from(text), WHERE, { lenient: true })[0]!.sourceVersion, undefined);
  });
});
