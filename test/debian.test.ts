import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import zstd from 'zstd-napi';
import { compressBuffer, compressionOf, decompressStream, stripCompression, type Compression } from '../server/debian/compress.ts';
import { parseStanzas, readStanzas, type Stanza } from '../server/debian/deb822.ts';
import { checkRelativePath } from '../server/debian/paths.ts';
import { emitRelease, formatDebianDate, formatHashList, parseRelease } from '../server/debian/release.ts';
import { compareVersions } from '../server/debian/version.ts';
import { AptfreezeError } from '../server/errors.ts';

const LISTS = '/var/lib/apt/lists';

function code(expected: string, extra?: (e: AptfreezeError) => void) {
  return (e: unknown) => {
    assert.ok(e instanceof AptfreezeError, `expected an AptfreezeError, got ${String(e)}`);
    assert.equal(e.code, expected);
    extra?.(e);
    return true;
  };
}

async function* chunked(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const n = sizes[i++ % sizes.length]!;
    yield data.subarray(off, off + n);
    off += n;
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function concat(it: AsyncIterable<Buffer>): Promise<Buffer> {
  return Buffer.concat(await collect(it));
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

/** The signed text of a clearsigned file (RFC 4880 7.1), dash-escaping undone. */
function clearsignedText(armored: string): string {
  const lines = armored.split('\n');
  let i = lines.indexOf('-----BEGIN PGP SIGNED MESSAGE-----');
  assert.notEqual(i, -1);
  while (lines[i] !== '') i++;
  const end = lines.indexOf('-----BEGIN PGP SIGNATURE-----', i);
  return lines
    .slice(i + 1, end)
    .map((l) => (l.startsWith('- ') ? l.slice(2) : l))
    .join('\n') + '\n';
}

/** Names of this process's children, leaving out tsx's esbuild service and ps itself. */
function childrenOfThisProcess(): string {
  const r = spawnSync('ps', ['--ppid', String(process.pid), '-o', 'comm='], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== 'esbuild' && l !== 'ps')
    .join(' ');
}

describe('deb822 stanzas', () => {
  const text =
    'Package: hello\n' +
    'Version: 2.10-3\n' +
    'Description: example package\n' +
    ' A longer description\n' +
    ' .\n' +
    ' with a paragraph.\n' +
    '\n' +
    '\n' +
    'Package: world\n' +
    '# a comment\n' +
    'version:   1.0   \n' +
    ' \t \n' +
    'Package: third\n';

  it('splits on blank and whitespace-only lines and keeps field order and names as written', () => {
    const s = parseStanzas(text);
    assert.equal(s.length, 3);
    assert.deepEqual(s[0]!.fields, [
      ['Package', 'hello'],
      ['Version', '2.10-3'],
      ['Description', 'example package\n A longer description\n .\n with a paragraph.'],
    ]);
    assert.deepEqual(s[1]!.fields, [
      ['Package', 'world'],
      ['version', '1.0'],
    ]);
    assert.equal(s[2]!.get('package'), 'third');
  });

  it('keeps each stanza byte for byte in raw, comments included, blank lines not', () => {
    const s = parseStanzas(text);
    assert.equal(s[0]!.raw.toString(), text.slice(0, text.indexOf('\n\n') + 1));
    assert.equal(s[1]!.raw.toString(), 'Package: world\n# a comment\nversion:   1.0   \n');
    assert.equal(s[2]!.raw.toString(), 'Package: third\n');
  });

  it('looks fields up case-insensitively', () => {
    const [s] = parseStanzas('Package: a\nMD5sum: x\n');
    assert.equal(s!.get('md5SUM'), 'x');
    assert.equal(s!.get('PACKAGE'), 'a');
    assert.equal(s!.get('SHA256'), undefined);
  });

  it('tolerates CRLF: values lose the CR, raw keeps it', () => {
    const crlf = 'A: 1\r\nB: two\r\n words\r\n\r\nC: 3\r\n';
    const s = parseStanzas(crlf);
    assert.equal(s.length, 2);
    assert.deepEqual(s[0]!.fields, [
      ['A', '1'],
      ['B', 'two\n words'],
    ]);
    assert.equal(s[0]!.raw.toString(), 'A: 1\r\nB: two\r\n words\r\n');
    assert.equal(s[1]!.raw.toString(), 'C: 3\r\n');
  });

  it('keeps a last stanza that lacks its final newline', () => {
    const s = parseStanzas('\n\nA: 1\n\nB: 2');
    assert.equal(s.length, 2);
    assert.equal(s[1]!.raw.toString(), 'B: 2');
    assert.equal(s[1]!.get('B'), '2');
  });

  it('skips a paragraph of comments only', () => {
    const s = parseStanzas('# header\n\nA: 1\n');
    assert.equal(s.length, 1);
    assert.equal(s[0]!.get('A'), '1');
  });

  it('refuses a line that is neither a field, a continuation nor a comment, naming its line', () => {
    assert.throws(() => parseStanzas('A: 1\n\nB: 2\nnot a field\n'), code('MALFORMED', (e) => assert.equal(e.details?.line, 4)));
  });

  it('refuses a continuation line with no field before it', () => {
    assert.throws(() => parseStanzas(' orphan\nA: 1\n'), code('MALFORMED', (e) => assert.equal(e.details?.line, 1)));
  });

  it('refuses NUL bytes', () => {
    assert.throws(() => parseStanzas('A: 1\nB: x\0y\n'), code('MALFORMED', (e) => assert.equal(e.details?.line, 2)));
  });

  it('refuses a field given twice in one stanza, whatever its case', () => {
    assert.throws(() => parseStanzas('Package: a\npackage: b\n'), code('MALFORMED'));
    assert.equal(parseStanzas('Package: a\n\nPackage: b\n').length, 2);
  });

  it('refuses a field name that starts with a dash or is empty', () => {
    assert.throws(() => parseStanzas('-Foo: a\n'), code('MALFORMED'));
    assert.throws(() => parseStanzas(': a\n'), code('MALFORMED'));
  });

  it('refuses a stanza over the size cap, in both forms', async () => {
    const big = 'A: ' + 'x'.repeat(2000) + '\n';
    assert.throws(() => parseStanzas(big, { maxStanzaBytes: 1000 }), code('MALFORMED'));
    await assert.rejects(collect(readStanzas(chunked(Buffer.from(big), [7]), { maxStanzaBytes: 1000 })), code('MALFORMED'));
    // A single line without a newline is capped while it is still arriving.
    await assert.rejects(collect(readStanzas(chunked(Buffer.from('A: ' + 'x'.repeat(5000)), [100]), { maxStanzaBytes: 1000 })), code('MALFORMED'));
    assert.equal(parseStanzas(big, { maxStanzaBytes: 3000 }).length, 1);
  });

  it('gives the same stanzas however the stream is chunked', async () => {
    const input = Buffer.from(text.replace(/\n/g, '\r\n') + '\n\n' + text + 'Tail: end');
    const expected = parseStanzas(input);
    for (const sizes of [[1], [2, 3], [5, 1, 17], [64], [input.length]]) {
      const got = await collect(readStanzas(chunked(input, sizes)));
      assert.deepEqual(
        got.map((s) => [s.raw.toString(), s.fields]),
        expected.map((s) => [s.raw.toString(), s.fields]),
        `chunk sizes ${sizes.join(',')}`,
      );
    }
    const fromStrings = await collect(readStanzas((async function* () { yield 'A: é\n'; yield '\nB: 2\n'; })()));
    assert.equal(fromStrings[0]!.get('A'), 'é');
  });

  it('reports line numbers across chunk boundaries', async () => {
    const input = Buffer.from('A: 1\n\nB: 2\nC: 3\nbroken\n');
    await assert.rejects(collect(readStanzas(chunked(input, [3]))), code('MALFORMED', (e) => assert.equal(e.details?.line, 5)));
  });

  it('streams 63,000 generated stanzas (about 54 MB) and prints the time', async () => {
    const template = (i: number) =>
      `Package: pkg-${i}\nVersion: 1.${i}-1\nInstalled-Size: ${i}\nMaintainer: Someone <someone@example.org>\nArchitecture: amd64\n` +
      `Depends: libc6 (>= 2.34), libfoo${i % 97} (>= 1.0), libbar (<< 3)\nDescription: package number ${i}\n` +
      ` ${'A long description line that goes on for a while. '.repeat(4)}\n .\n ${'More text. '.repeat(20)}\n` +
      `Section: misc\nPriority: optional\nFilename: pool/main/p/pkg-${i}/pkg-${i}_1.${i}-1_amd64.deb\nSize: ${1000 + i}\n` +
      `MD5sum: ${'0'.repeat(32)}\nSHA256: ${createHash('sha256').update(String(i)).digest('hex')}\n`;
    const N = 63_000;
    async function* generate(): AsyncGenerator<Buffer> {
      let batch = '';
      for (let i = 0; i < N; i++) {
        batch += template(i) + '\n';
        if (batch.length > 64 * 1024) {
          yield Buffer.from(batch);
          batch = '';
        }
      }
      yield Buffer.from(batch);
    }
    // Generate first, so the timing is of the parse alone.
    const chunks = await collect(generate());
    const bytes = chunks.reduce((n, c) => n + c.length, 0);
    const t0 = performance.now();
    let count = 0;
    let last: Stanza | undefined;
    for await (const s of readStanzas((async function* () { yield* chunks; })())) {
      count++;
      last = s;
      s.get('Package');
    }
    const ms = performance.now() - t0;
    console.log(`# deb822: ${count} stanzas, ${(bytes / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms (${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s)`);
    assert.equal(count, N);
    assert.equal(last!.get('Package'), `pkg-${N - 1}`);
  });

  it('reads the real bookworm Packages (if present) with raw bytes that rebuild the signed file', { skip: !existsSync(`${LISTS}/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4`) && 'no Packages.lz4 in /var/lib/apt/lists' }, async () => {
    const release = parseRelease(clearsignedText(readFileSync(`${LISTS}/deb.debian.org_debian_dists_bookworm_InRelease`, 'utf8')));
    const entry = release.sha256.find((e) => e.path === 'main/binary-amd64/Packages')!;
    const hash = createHash('sha256');
    let count = 0;
    let bytes = 0;
    const t0 = performance.now();
    const input = createReadStream(`${LISTS}/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4`);
    // Debian writes each stanza followed by one blank line.
    for await (const s of readStanzas(decompressStream('lz4', input, { maxBytes: 200e6 }))) {
      hash.update(s.raw).update('\n');
      bytes += s.raw.length + 1;
      count++;
    }
    console.log(`# real Packages: ${count} stanzas, lz4 + parse in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(bytes, entry.size);
    assert.equal(hash.digest('hex'), entry.hash);
  });
});

const FIXTURE_RELEASE =
  'Origin: Debian\n' +
  'Label: Debian\n' +
  'Suite: stable\n' +
  'Version: 12.0\n' +
  'Codename: bookworm\n' +
  'Changelogs: https://metadata.ftp-master.debian.org/changelogs/@CHANGEPATH@_changelog\n' +
  'Date: Sat, 10 Jun 2023 08:49:30 UTC\n' +
  'Acquire-By-Hash: yes\n' +
  'No-Support-for-Architecture-all: Packages\n' +
  'Architectures: all amd64 arm64\n' +
  'Components: main contrib non-free-firmware non-free\n' +
  'Description: Debian 12.0 Released 10 June 2023\n' +
  'MD5Sum:\n' +
  ' 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all\n' +
  ' d41d8cd98f00b204e9800998ecf8427e        0 contrib/Contents-udeb-all\n' +
  'SHA256:\n' +
  ' 515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f 50060337 main/binary-amd64/Packages\n' +
  ' 9e0b5aabb2465b3d2e7a7fe27f9913846277833f7a2826e7767acccff5b588c5  8790396 main/binary-amd64/Packages.xz\n' +
  ' e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 contrib/Contents-udeb-all\n';

describe('Release files', () => {
  it('reads the fields apt relies on', () => {
    const r = parseRelease(FIXTURE_RELEASE);
    assert.equal(r.suite, 'stable');
    assert.equal(r.codename, 'bookworm');
    assert.equal(r.date?.toISOString(), '2023-06-10T08:49:30.000Z');
    assert.equal(r.validUntil, undefined);
    assert.deepEqual(r.components, ['main', 'contrib', 'non-free-firmware', 'non-free']);
    assert.deepEqual(r.architectures, ['all', 'amd64', 'arm64']);
    assert.equal(r.acquireByHash, true);
    assert.equal(r.get('no-support-for-architecture-all'), 'Packages');
    assert.deepEqual(r.sha256[1], {
      hash: '9e0b5aabb2465b3d2e7a7fe27f9913846277833f7a2826e7767acccff5b588c5',
      size: 8790396,
      path: 'main/binary-amd64/Packages.xz',
    });
    assert.equal(r.sha256.length, 3);
  });

  it('writes the same text back (fixture)', () => {
    assert.equal(emitRelease(parseRelease(FIXTURE_RELEASE).fields), FIXTURE_RELEASE);
  });

  const inReleases = existsSync(LISTS) ? readdirSync(LISTS).filter((f) => f.endsWith('_InRelease')) : [];
  it('writes genuine Debian InRelease texts back byte for byte', { skip: inReleases.length === 0 && 'no InRelease in /var/lib/apt/lists' }, () => {
    for (const f of inReleases) {
      const text = clearsignedText(readFileSync(join(LISTS, f), 'utf8'));
      const parsed = parseRelease(text);
      assert.ok(parsed.sha256.length > 0, f);
      assert.equal(emitRelease(parsed.fields), text, f);
    }
  });

  it('puts fields in dak order, others after in their given order, hash lists last', () => {
    const out = emitRelease([
      ['SHA256', formatHashList([{ hash: 'a'.repeat(64), size: 12, path: 'main/x' }])],
      ['X-Custom', 'one'],
      ['Components', 'main'],
      ['MD5Sum', formatHashList([{ hash: 'b'.repeat(32), size: 123456789, path: 'main/x' }])],
      ['Origin', 'Test'],
      ['Valid-Until', 'Sun, 29 Nov 2026 07:00:00 UTC'],
      ['Date', 'Sat, 28 Nov 2026 07:00:00 UTC'],
      ['Another', 'two'],
    ]);
    assert.equal(
      out,
      'Origin: Test\n' +
        'Date: Sat, 28 Nov 2026 07:00:00 UTC\n' +
        'Valid-Until: Sun, 29 Nov 2026 07:00:00 UTC\n' +
        'Components: main\n' +
        'X-Custom: one\n' +
        'Another: two\n' +
        'MD5Sum:\n' +
        ` ${'b'.repeat(32)} 123456789 main/x\n` +
        'SHA256:\n' +
        ` ${'a'.repeat(64)}       12 main/x\n`,
    );
  });

  it('refuses to write a duplicate field or a value that would end the stanza', () => {
    assert.throws(() => emitRelease([['Suite', 'a'], ['suite', 'b'], ['SHA256', '']]), code('MALFORMED'));
    assert.throws(() => emitRelease([['Description', 'a\n\n b']]), code('MALFORMED'));
    assert.throws(() => emitRelease([['Description', 'a\nb']]), code('MALFORMED'));
  });

  it('writes dates as dak does', () => {
    assert.equal(formatDebianDate(new Date('2026-11-28T07:00:00Z')), 'Sat, 28 Nov 2026 07:00:00 UTC');
    assert.equal(formatDebianDate(new Date('2023-06-03T08:09:05.999Z')), 'Sat, 03 Jun 2023 08:09:05 UTC');
  });

  it('reads numeric zones and Valid-Until', () => {
    const r = parseRelease('Date: Sat, 10 Jun 2023 10:49:30 +0200\nValid-Until: Sat, 17 Jun 2023 08:49:30 +0000\nSHA256:\n');
    assert.equal(r.date?.toISOString(), '2023-06-10T08:49:30.000Z');
    assert.equal(r.validUntil?.toISOString(), '2023-06-17T08:49:30.000Z');
    assert.deepEqual(r.sha256, []);
  });

  it('refuses a Release without SHA256, with two stanzas, or with a bad entry', () => {
    const base = 'Suite: x\nDate: Sat, 10 Jun 2023 08:49:30 UTC\n';
    assert.throws(() => parseRelease(base), code('MALFORMED'));
    assert.throws(() => parseRelease(`${base}SHA256:\n\nSuite: y\n`), code('MALFORMED'));
    assert.throws(() => parseRelease(`${base}SHA256:\n ${'a'.repeat(63)} 1 main/x\n`), code('MALFORMED'));
    assert.throws(() => parseRelease(`${base}SHA256:\n ${'g'.repeat(64)} 1 main/x\n`), code('MALFORMED'));
    assert.throws(() => parseRelease(`${base}SHA256:\n ${'a'.repeat(64)} 1.5 main/x\n`), code('MALFORMED'));
    assert.throws(() => parseRelease(`${base}SHA256:\n ${'a'.repeat(64)} 1\n`), code('MALFORMED'));
  });

  it('refuses entry paths that traverse or are absolute', () => {
    const base = 'Suite: x\nSHA256:\n';
    assert.throws(() => parseRelease(`${base} ${'a'.repeat(64)} 1 main/../../etc/passwd\n`), code('UNSAFE_PATH'));
    assert.throws(() => parseRelease(`${base} ${'a'.repeat(64)} 1 /etc/passwd\n`), code('UNSAFE_PATH'));
  });

  it('refuses dates it cannot read', () => {
    for (const d of ['yesterday', 'Sat, 31 Feb 2023 08:49:30 UTC', 'Sat, 10 Jun 2023 25:49:30 UTC', '2023-06-10T08:49:30Z', 'Sat, 10 Jun 2023 08:49:30 CEST']) {
      assert.throws(() => parseRelease(`Date: ${d}\nSHA256:\n`), code('MALFORMED'), d);
    }
    assert.throws(() => parseRelease('Valid-Until: soon\nSHA256:\n'), code('MALFORMED'));
  });
});

describe('version comparison', () => {
  const table: Array<[string, '<' | '=' | '>', string]> = [
    ['1.0~rc1', '<', '1.0'],
    ['1:0.1', '>', '2.0'],
    ['1.0-1', '<', '1.0-1+b1'],
    ['1.0', '=', '1.0'],
    ['1.0', '=', '0:1.0'],
    ['1.0', '=', '1.0-0'],
    ['1.0~~', '<', '1.0~'],
    ['1.0~', '<', '1.0'],
    ['1.0', '<', '1.0a'],
    ['1.0a', '<', '1.0+'],
    ['1.0', '<', '1.0.1'],
    ['1.9', '<', '1.10'],
    ['1.001', '=', '1.1'],
    ['2.10-3', '>', '2.10-2'],
    ['2.10-3', '<', '2.10-10'],
    ['1.2-3-4', '>', '1.2-3'],
    ['1:1.0', '<', '2:0.1'],
    ['10:1', '>', '9:1'],
    ['1.0+dfsg-1', '>', '1.0-1'],
    ['0.0.26-3', '<', '0.0.26-3+deb12u1'],
    ['7.88.1-10+deb12u5', '<', '7.88.1-10+deb12u12'],
    ['a', '<', 'b'],
    ['1.0-1~bpo12+1', '<', '1.0-1'],
  ];
  for (const [a, op, b] of table) {
    it(`orders ${a} ${op} ${b}`, () => {
      const want = op === '<' ? -1 : op === '=' ? 0 : 1;
      assert.equal(compareVersions(a, b), want);
      assert.equal(compareVersions(b, a), want === 0 ? 0 : -want);
    });
  }

  it('agrees with dpkg --compare-versions on the table', { skip: spawnSync('dpkg', ['--version']).status !== 0 && 'no dpkg' }, () => {
    for (const [a, op, b] of table) {
      const r = spawnSync('dpkg', ['--compare-versions', a, op === '<' ? 'lt' : op === '=' ? 'eq' : 'gt', b]);
      assert.equal(r.status, 0, `dpkg disagrees: ${a} ${op} ${b}`);
    }
  });
});

describe('relative paths', () => {
  it('accepts plain relative paths and returns them', () => {
    for (const p of ['a', 'main/binary-amd64/Packages.xz', 'pool/main/h/hello/hello_2.10-3_amd64.deb', '%2e%2e/x', 'a..b/.hidden', 'updates/main']) {
      assert.equal(checkRelativePath(p, 'test'), p);
    }
  });

  it('refuses empty, absolute, dot segments, empty segments, backslashes and control characters', () => {
    for (const p of ['', '/etc/passwd', '..', 'a/../b', './a', 'a/.', 'a//b', 'a/', 'a\\b', 'a\0b', 'a\nb', 'a\x7fb', 'a\tb']) {
      assert.throws(() => checkRelativePath(p, 'test'), code('UNSAFE_PATH'), JSON.stringify(p));
    }
  });
});

describe('compression', () => {
  it('names compressions by extension', () => {
    const table: Array<[string, Compression, string]> = [
      ['main/binary-amd64/Packages', 'none', 'main/binary-amd64/Packages'],
      ['main/binary-amd64/Packages.gz', 'gz', 'main/binary-amd64/Packages'],
      ['main/binary-amd64/Packages.xz', 'xz', 'main/binary-amd64/Packages'],
      ['Packages.bz2', 'bz2', 'Packages'],
      ['Packages.zst', 'zst', 'Packages'],
      ['Packages.lz4', 'lz4', 'Packages'],
      ['Release.gpg', 'none', 'Release.gpg'],
    ];
    for (const [path, kind, stripped] of table) {
      assert.equal(compressionOf(path), kind, path);
      assert.equal(stripCompression(path), stripped, path);
    }
  });

  const payload = Buffer.from(Array.from({ length: 20000 }, (_, i) => `Package: p${i}\nVersion: ${i}\n\n`).join(''));
  const programs: Record<Exclude<Compression, 'none' | 'gz' | 'zst'>, string> = { xz: 'xz', bz2: 'bzip2', lz4: 'lz4' };
  function compressWith(kind: Compression, data: Buffer): Buffer {
    if (kind === 'none') return data;
    if (kind === 'gz') return zlib.gzipSync(data, { level: 1 });
    if (kind === 'zst') return zstd.compress(data, { compressionLevel: 1 });
    const r = spawnSync(programs[kind], ['-c', '-1'], { input: data, maxBuffer: 1 << 30 });
    assert.equal(r.status, 0);
    return r.stdout;
  }
  const kinds: Compression[] = ['none', 'gz', 'xz', 'bz2', 'zst', 'lz4'];

  for (const kind of kinds) {
    it(`decompresses ${kind} as it streams, whatever the chunking`, async () => {
      const packed = compressWith(kind, payload);
      assert.ok(payload.equals(await concat(decompressStream(kind, chunked(packed, [1000, 7, 65536]), { maxBytes: payload.length }))));
    });
  }

  it('reads from a Node stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aptfreeze-compress-'));
    try {
      writeFileSync(join(dir, 'p.xz'), compressWith('xz', payload));
      assert.ok(payload.equals(await concat(decompressStream('xz', createReadStream(join(dir, 'p.xz')), { maxBytes: 1e9 }))));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const zeros = Buffer.alloc(64 * 1024 * 1024);
  for (const kind of kinds) {
    it(`stops a ${kind} bomb at maxBytes and leaves no process behind`, async () => {
      const bomb = compressWith(kind, zeros);
      let seen = 0;
      await assert.rejects(
        (async () => {
          for await (const chunk of decompressStream(kind, chunked(bomb, [1 << 20]), { maxBytes: 1 << 20 })) seen += chunk.length;
        })(),
        code('UPSTREAM_TOO_LARGE'),
      );
      assert.ok(seen <= 1 << 20);
      assert.equal(childrenOfThisProcess(), '');
    });
  }

  for (const kind of kinds.filter((k) => k !== 'none')) {
    it(`calls corrupt or truncated ${kind} input MALFORMED`, async () => {
      const packed = compressWith(kind, payload);
      const truncated = packed.subarray(0, Math.floor(packed.length / 2));
      await assert.rejects(concat(decompressStream(kind, once(truncated), { maxBytes: 1e9 })), code('MALFORMED'));
      const garbage = Buffer.from('this is not compressed at all, not even a little bit\n'.repeat(10));
      await assert.rejects(concat(decompressStream(kind, once(garbage), { maxBytes: 1e9 })), code('MALFORMED'));
      if (kind !== 'lz4') await assert.rejects(concat(decompressStream(kind, once(Buffer.alloc(0)), { maxBytes: 1e9 })), code('MALFORMED'));
      assert.equal(childrenOfThisProcess(), '');
    });
  }

  for (const kind of ['gz', 'xz', 'zst'] as const) {
    it(`passes on an error of the ${kind} input itself, not MALFORMED`, async () => {
      const packed = compressWith(kind, payload);
      const boom = new Error('connection reset');
      async function* failing(): AsyncGenerator<Buffer> {
        yield packed.subarray(0, 100);
        throw boom;
      }
      await assert.rejects(concat(decompressStream(kind, failing(), { maxBytes: 1e9 })), (e) => e === boom);
      assert.equal(childrenOfThisProcess(), '');
    });
  }

  it('kills the child when the reader stops early', async () => {
    for (const kind of ['xz', 'bz2', 'lz4'] as const) {
      for await (const chunk of decompressStream(kind, once(compressWith(kind, zeros)), { maxBytes: 1e9 })) {
        assert.ok(chunk.length > 0);
        break;
      }
      assert.equal(childrenOfThisProcess(), '', kind);
    }
  });

  for (const kind of ['gz', 'xz', 'zst'] as const) {
    it(`compresses ${kind} deterministically and readably`, async () => {
      const a = await compressBuffer(kind, payload);
      const b = await compressBuffer(kind, Buffer.from(payload));
      assert.ok(a.equals(b));
      assert.ok(a.length < payload.length / 5);
      assert.ok(payload.equals(await concat(decompressStream(kind, once(a), { maxBytes: payload.length }))));
    });
  }

  it('writes gzip with no file name and mtime 0', async () => {
    const gz = await compressBuffer('gz', payload);
    assert.equal(gz[3]! & 0x08, 0); // FNAME flag
    assert.equal(gz.readUInt32LE(4), 0); // MTIME
    const r = spawnSync('gzip', ['-dc'], { input: gz, maxBuffer: 1 << 30 });
    assert.ok(payload.equals(r.stdout));
  });
});
