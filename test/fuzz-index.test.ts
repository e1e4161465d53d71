// Issue 6 acceptance 4 and 5: property tests of the index reader (server/snapshot/parse-index.ts):
// Packages and Sources stanzas with hostile Filename / Directory / checksum fields, and index
// blobs of hostile bytes in every compression. Every input gives pool references whose paths stay
// inside the snapshot (relative, no `..`, no backslash or control character, not our own names)
// or a typed AptfreezeError, never another exception.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { posix, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import zstd from 'zstd-napi';
import { parseStanzas } from '../server/debian/deb822.ts';
import { checkPoolPath, sourcesRefs, stanzasOfBlob, type PoolRef } from '../server/snapshot/parse-index.ts';
import { readPackagesText } from '../server/snapshot/packages-reader.ts';
import type { BlobStore } from '../server/store/store.ts';
import { FuzzLedger, check, checkAsync, hostileBytes, hostileText, runs, trickyChars, typed, typedAsync } from './helpers/fuzz.ts';

const root = resolve('/srv/aptfreeze/public/debian/2026112701');

function assertSafePath(p: string): void {
  assert.ok(p.length > 0 && !p.startsWith('/'), 'relative');
  assert.equal(posix.normalize(p), p, 'already normal');
  assert.ok(!p.split('/').some((s) => s === '..' || s === '.' || s === ''), 'no dot or empty segment');
  assert.ok(!/[\u0000-\u001f\u007f\\]/.test(p), 'no control character or backslash');
  assert.ok(!['dists', 'project', 'proof.deb', 'by-hash'].includes(p.split('/')[0]!), 'not one of our own names');
  const abs = resolve(root, p);
  assert.ok(abs.startsWith(root + sep), `inside the serial: ${abs}`);
}

function assertRef(r: PoolRef): void {
  assertSafePath(r.path);
  assert.match(r.sha256, /^[0-9a-f]{64}$/);
  assert.ok(Number.isSafeInteger(r.size) && r.size >= 0);
}

/** Pool paths an upstream index could hold: sane, traversal in every spelling, tricky Unicode. */
const poolPath = fc.oneof(
  fc.constantFrom(
    'pool/main/h/hello/hello_2.10-3_amd64.deb',
    '../../x',
    '../../etc/passwd',
    'pool/../../../x',
    '/etc/passwd',
    'pool/main/./x',
    'pool//x',
    'pool/x/',
    'pool\\..\\..\\x',
    'pool/%2e%2e/%2e%2e/x',
    'pool/..%2f..%2fx',
    'dists/bookworm/InRelease',
    'by-hash/x',
    'proof.deb',
    'project/trace/debian',
    'pool/\u2024\u2024/x',
    'pool/\uFF0E\uFF0E/x',
    'pool/x\u0000.deb',
    'C:\\Windows\\x',
    '~/x',
  ),
  fc.array(fc.oneof(fc.constantFrom('..', '.', '', 'pool', 'main', '%2e%2e', '\\..', '..\\'), fc.string({ unit: 'grapheme-ascii', maxLength: 6 }), fc.constantFrom(...trickyChars)), { minLength: 1, maxLength: 6 }).map((a) => a.join('/')),
  hostileText(12),
);
const hex = fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{64}$/), hostileText(3));
const size = fc.oneof(fc.nat().map(String), fc.constantFrom('-1', '1e9', '0x10', '9999999999999999', '1234567890123456789', '', ' 12'));

/** A fake store holding one blob: the index bytes under test. */
function storeOf(data: Buffer, chunk = 4096): BlobStore {
  return {
    has: () => true,
    size: () => data.length,
    async *readStream() {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    },
  } as unknown as BlobStore;
}

describe('the index reader on hostile upstream indices', () => {
  const ledger = new FuzzLedger();
  const codes = ['MALFORMED', 'UNSAFE_PATH'] as const;

  it('checks pool paths: a safe path inside the serial, or UNSAFE_PATH', () => {
    let refused = 0;
    check(ledger, 'checkPoolPath', runs(25_000), [poolPath], (p) => {
      const r = typed(['UNSAFE_PATH'], () => checkPoolPath(p, 'fuzz'));
      if (r.ok) {
        assert.equal(r.value, p);
        assertSafePath(r.value);
      } else refused++;
    });
    assert.ok(refused > 0);
  });

  it('reads Packages stanzas into safe pool references or a typed error', () => {
    check(ledger, 'packages-reader', runs(20_000), [poolPath, hex, size, fc.boolean()], (filename, sha, sz, crlf) => {
      const eol = crlf ? '\r\n' : '\n';
      const text = ['Package: hello', 'Version: 1', `Filename: ${filename}`, `Size: ${sz}`, `SHA256: ${sha}`, ''].join(eol);
      const r = typed(codes, () => readPackagesText(Buffer.from(text), 'fuzz').map((e) => ({ path: e.filename, sha256: e.sha256, size: e.size })));
      if (r.ok) r.value.forEach(assertRef);
    });
  });

  it('reads Sources stanzas into safe pool references or a typed error', () => {
    check(
      ledger,
      'sourcesRefs',
      runs(15_000),
      [poolPath, fc.array(fc.tuple(hex, size, poolPath), { maxLength: 4 }), fc.boolean()],
      (dir, files, crlf) => {
        const eol = crlf ? '\r\n' : '\n';
        const text = ['Package: hello', `Directory: ${dir}`, 'Checksums-Sha256:', ...files.map(([h, s, f]) => ` ${h} ${s} ${f}`), ''].join(eol);
        const r = typed(codes, () => parseStanzas(text).flatMap((s) => sourcesRefs(s, 'fuzz')));
        if (r.ok) r.value.forEach(assertRef);
      },
    );
  });

  it('reads hostile index blobs (plain, gzip, zstd, corrupt or truncated) into stanzas or a typed error', async () => {
    const body = fc.oneof(hostileBytes(120), fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)));
    const blob = fc.oneof(
      fc.tuple(fc.constant('Packages'), body),
      fc.tuple(fc.constant('Packages.gz'), body.map((b) => gzipSync(b))),
      fc.tuple(fc.constant('Packages.zst'), body.map((b) => zstd.compress(b))),
      // Corrupt: a compressed stream with bytes flipped, cut short, or garbage under a compressed name.
      fc.tuple(fc.constantFrom('Packages.gz', 'Packages.zst'), fc.tuple(body, fc.nat(), fc.nat({ max: 255 }), fc.boolean()).map(([b, at, x, cut]) => {
        const c = Buffer.from(at % 2 ? gzipSync(b) : zstd.compress(b));
        if (cut) return c.subarray(0, at % (c.length + 1));
        c[at % c.length] ^= x || 1;
        return c;
      })),
      fc.tuple(fc.constantFrom('Packages.gz', 'Packages.zst'), body),
    );
    await checkAsync(ledger, 'stanzasOfBlob (none, gz, zst)', runs(8_000), [blob, fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 64 })], async ([name, data], maxBytes, chunk) => {
      const r = await typedAsync(['MALFORMED', 'UPSTREAM_TOO_LARGE'], async () => {
        let n = 0;
        for await (const s of stanzasOfBlob(storeOf(data, chunk), 'a'.repeat(64), `main/binary-amd64/${name}`, maxBytes)) {
          assert.ok(s.fields.length > 0);
          n++;
        }
        return n;
      });
      if (r.ok) assert.ok(r.value >= 0);
    });
  });

  it('reads hostile xz, bzip2 and lz4 blobs through their programs into stanzas or a typed error', async () => {
    // Each input runs a child process (xz, bzip2, lz4): fewer inputs, same rule.
    await checkAsync(
      ledger,
      'stanzasOfBlob (xz, bz2, lz4)',
      runs(150),
      [fc.constantFrom('Packages.xz', 'Packages.bz2', 'Packages.lz4'), hostileBytes(80), fc.integer({ min: 1, max: 256 })],
      async (name, data, maxBytes) => {
        await typedAsync(['MALFORMED', 'UPSTREAM_TOO_LARGE'], async () => {
          for await (const s of stanzasOfBlob(storeOf(data), 'a'.repeat(64), `main/binary-amd64/${name}`, maxBytes)) assert.ok(s.fields.length > 0);
        });
      },
    );
  });

  it('ran enough inputs', (t) => {
    for (const line of ledger.lines()) t.diagnostic(line);
    assert.ok(ledger.total >= runs(60_000), `${ledger.total} inputs`);
  });
});
