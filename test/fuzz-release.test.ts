// Issue 6 acceptance 4: property tests of the Release parser and writer (server/debian/release.ts)
// and of the upstream signature check (server/pgp/verify.ts) on hostile input. Every input gives a
// valid ParsedRelease (hashes, sizes, safe paths, real dates) or a typed AptfreezeError, never
// another exception; a mutated signed InRelease never verifies with a text other than the signed one.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { emitRelease, formatDebianDate, formatHashList, parseDebianDate, parseRelease, type ParsedRelease } from '../server/debian/release.ts';
import { checkRelativePath } from '../server/debian/paths.ts';
import { verifyDetached, verifyInRelease } from '../server/pgp/verify.ts';
import { FuzzLedger, check, checkAsync, hostileChar, hostileText, runs, trickyChars, typed, typedAsync } from './helpers/fuzz.ts';

function assertValidRelease(r: ParsedRelease): void {
  for (const e of r.sha256) {
    assert.match(e.hash, /^[0-9a-f]{64}$/);
    assert.ok(Number.isSafeInteger(e.size) && e.size >= 0);
    assert.equal(checkRelativePath(e.path, 'entry'), e.path, 'a safe relative path');
  }
  if (r.date) assert.ok(!Number.isNaN(r.date.getTime()));
  if (r.validUntil) assert.ok(!Number.isNaN(r.validUntil.getTime()));
  for (const w of [...r.components, ...r.architectures]) assert.match(w, /^[^ \t\n\v\f\r]+$/, 'words split on ASCII blanks, as apt splits them');
}

const hex64 = fc.stringMatching(/^[0-9a-fA-F]{64}$/);
/** Paths an upstream could list: sane ones and every traversal trick. */
const pathArb = fc.oneof(
  fc.constantFrom('main/binary-amd64/Packages', 'main/binary-amd64/Packages.xz', 'main/i18n/Translation-en.bz2', '../../etc/passwd', '/etc/passwd', 'main/../../x', 'main//x', './x', 'main/./x', 'x/..', '%2e%2e/x', 'main\\..\\x', 'C:\\x', '\u2024\u2024/x', '\uFF0E\uFF0E/x'),
  fc.array(fc.oneof(fc.constantFrom('..', '.', '', 'main', 'binary-amd64', 'Packages', '%2e', '%2f'), fc.string({ unit: 'grapheme-ascii', maxLength: 5 }), fc.constantFrom(...trickyChars)), { minLength: 1, maxLength: 5 }).map((a) => a.join('/')),
);
const dateText = fc.oneof(
  fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }).map(formatDebianDate),
  fc.constantFrom('Sat, 28 Nov 2026 07:00:00 UTC', '28 Nov 2026 07:00 +0130', 'Mon, 31 Feb 2026 00:00:00 UTC', 'Sat, 28 Nov 2026 24:00:00 UTC', 'Sat, 28 Nov 2026 07:00:60 UTC', '28 Nov 99999 00:00:00 UTC', '28 Nov 2026 07:00:00 +9999', 'yesterday', ''),
  hostileText(12),
);

/** A Release-shaped text: known fields with hostile values, a hash list with hostile lines. */
const releaseText = fc
  .tuple(
    dateText,
    fc.option(dateText),
    fc.array(fc.tuple(fc.oneof(hex64, hostileText(4)), fc.oneof(fc.nat().map(String), fc.constantFrom('-1', '1e3', '99999999999999999999', '0x10', '')), pathArb), { maxLength: 5 }),
    hostileText(10),
    fc.constantFrom('\n', '\r\n'),
  )
  .map(([date, validUntil, entries, extra, eol]) =>
    [
      'Origin: Debian',
      `Suite: ${extra}`,
      `Date: ${date}`,
      ...(validUntil === null ? [] : [`Valid-Until: ${validUntil}`]),
      'Architectures: amd64 all',
      'Components: main contrib',
      'SHA256:',
      ...entries.map(([h, s, p]) => ` ${h} ${s} ${p}`),
      '',
    ].join(eol),
  );

/** Edits of a text: insert a hostile piece, delete a range, duplicate a line. */
const mutations = fc.array(
  fc.oneof(
    fc.tuple(fc.constant('insert' as const), fc.nat(), hostileChar),
    fc.tuple(fc.constant('delete' as const), fc.nat(), fc.integer({ min: 1, max: 40 })),
    fc.tuple(fc.constant('dupline' as const), fc.nat(), fc.constant('')),
    fc.tuple(fc.constant('flip' as const), fc.nat(), fc.constant('')),
  ),
  { minLength: 1, maxLength: 4 },
);

function mutate(text: string, ops: Array<['insert' | 'delete' | 'dupline' | 'flip', number, string | number]>): string {
  let t = text;
  for (const [op, at, arg] of ops) {
    const i = t.length ? at % t.length : 0;
    if (op === 'insert') t = t.slice(0, i) + String(arg) + t.slice(i);
    else if (op === 'delete') t = t.slice(0, i) + t.slice(i + Number(arg));
    else if (op === 'flip') t = t.slice(0, i) + String.fromCharCode(t.charCodeAt(i) ^ 1) + t.slice(i + 1);
    else {
      const lines = t.split('\n');
      const j = at % lines.length;
      lines.splice(j, 0, lines[j]!);
      t = lines.join('\n');
    }
  }
  return t;
}

const sampleRelease = emitRelease([
  ['Origin', 'Debian'],
  ['Label', 'Debian'],
  ['Suite', 'stable'],
  ['Codename', 'bookworm'],
  ['Date', 'Sat, 10 Jun 2023 08:49:30 UTC'],
  ['Valid-Until', 'Sat, 17 Jun 2023 08:49:30 UTC'],
  ['Acquire-By-Hash', 'yes'],
  ['Architectures', 'all amd64 arm64'],
  ['Components', 'main contrib non-free-firmware'],
  ['Description', 'Debian 12.0 Released 10 June 2023'],
  [
    'SHA256',
    formatHashList([
      { hash: 'a'.repeat(64), size: 1234, path: 'main/binary-amd64/Packages' },
      { hash: 'b'.repeat(64), size: 99, path: 'main/binary-amd64/Packages.xz' },
      { hash: 'c'.repeat(64), size: 7, path: 'main/i18n/Translation-en' },
    ]),
  ],
]);

describe('the Release parser, writer and signature check on hostile input', () => {
  const ledger = new FuzzLedger();
  const codes = ['MALFORMED', 'UNSAFE_PATH'] as const;

  it('parses hostile text into a valid Release or a typed error', () => {
    check(ledger, 'hostile text', runs(10_000), [hostileText(80)], (text) => {
      const r = typed(codes, () => parseRelease(text));
      if (r.ok) assertValidRelease(r.value);
    });
  });

  it('parses Release-shaped text with hostile dates, hash lines and paths into a valid Release or a typed error', () => {
    let accepted = 0;
    check(ledger, 'Release-shaped text', runs(15_000), [releaseText], (text) => {
      const r = typed(codes, () => parseRelease(text));
      if (r.ok) {
        accepted++;
        assertValidRelease(r.value);
      }
    });
    assert.ok(accepted > 0, 'some inputs are valid Releases (the generator reaches the success path)');
  });

  it('parses mutations of a genuine Release into a valid Release or a typed error', () => {
    check(ledger, 'mutated Release', runs(10_000), [mutations], (ops) => {
      const r = typed(codes, () => parseRelease(mutate(sampleRelease, ops)));
      if (r.ok) assertValidRelease(r.value);
    });
  });

  it('reads Debian dates or refuses them (MALFORMED), and reads back every date it writes', () => {
    check(ledger, 'dates', runs(10_000), [dateText], (text) => {
      const r = typed(['MALFORMED'], () => parseDebianDate(text));
      if (r.ok) assert.ok(!Number.isNaN(r.value.getTime()));
    });
    check(ledger, 'date round trip', runs(5_000), [fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })], (d) => {
      const s = Math.floor(d.getTime() / 1000) * 1000;
      assert.equal(parseDebianDate(formatDebianDate(d)).getTime(), s);
    });
  });

  it('writes only Release text it reads back to the same fields', () => {
    const field = fc.tuple(
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/),
      // Well-formed Unicode: a lone surrogate cannot be written as UTF-8 at all.
      fc.oneof(hostileText(20), fc.stringMatching(/^[!-~]([ -~]{0,20}[!-~])?$/)).filter((v) => Buffer.from(v, 'utf8').toString('utf8') === v),
    );
    check(ledger, 'emit/parse round trip', runs(10_000), [fc.uniqueArray(field, { maxLength: 8, selector: ([k]) => k.toLowerCase() })], (fields) => {
      const all: Array<[string, string]> = [...fields.filter(([k]) => k.toLowerCase() !== 'sha256'), ['SHA256', formatHashList([{ hash: 'd'.repeat(64), size: 1, path: 'main/x' }])]];
      const text = typed(['MALFORMED'], () => emitRelease(all));
      if (!text.ok) return;
      const back = typed([...codes], () => parseRelease(text.value));
      if (!back.ok) {
        // The writer refused nothing the reader then refuses, except a value the reader judges (a bad Date).
        assert.ok(/Date|Valid-Until/i.test(back.error.message), back.error.message);
        return;
      }
      // What apt reads back: ASCII blanks stripped around the first line and after continuation lines; nothing else.
      const want = new Map(all.map(([k, v]) => [k.toLowerCase(), v.replace(/^[ \t\v\f]+/, '').split('\n').map((l) => l.replace(/[ \t\v\f]+$/, '')).join('\n')]));
      for (const [k, v] of back.value.fields) assert.equal(v, want.get(k.toLowerCase()), `field ${k}: read ${JSON.stringify(v)}, wrote ${JSON.stringify(all)}`);
      assert.equal(back.value.fields.length, all.length);
    });
  });

  describe('signatures', () => {
    let keys: openpgp.PublicKey[];
    let inRelease: string;
    let releaseGpg: string;
    const policy = { now: new Date(), requireValidNow: true };

    before(async () => {
      const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'fuzz' }], date: new Date(Date.now() - 3600_000), format: 'object' });
      keys = [privateKey.toPublic()];
      const message = await openpgp.createCleartextMessage({ text: sampleRelease.replace(/\n$/, '') });
      inRelease = (await openpgp.sign({ message, signingKeys: privateKey })).replace(/\r\n/g, '\n');
      releaseGpg = await openpgp.sign({ message: await openpgp.createMessage({ binary: Buffer.from(sampleRelease) }), signingKeys: privateKey, detached: true });
      assert.equal((await verifyInRelease(inRelease, keys, policy)).text, sampleRelease);
    });

    const sigCodes = ['MALFORMED', 'UPSTREAM_UNSIGNED', 'UPSTREAM_BAD_SIGNATURE', 'UPSTREAM_UNKNOWN_KEY', 'UPSTREAM_KEY_EXPIRED'] as const;

    it('never verifies a mutated InRelease with any text but the signed one', async () => {
      const seen = new Set<string>();
      await checkAsync(ledger, 'mutated InRelease', runs(400), [mutations], async (ops) => {
        const r = await typedAsync(sigCodes, () => verifyInRelease(mutate(inRelease, ops), keys, policy));
        seen.add(r.ok ? 'ok' : r.error.code);
        if (r.ok) assert.equal(r.value.text, sampleRelease, 'only the genuine text verifies');
      });
      assert.ok(seen.has('UPSTREAM_BAD_SIGNATURE'), `mutations reach the signature check (${[...seen].join(', ')})`);
    });

    it('never verifies a mutated Release against its detached signature, nor a mutated signature', async () => {
      await checkAsync(ledger, 'mutated Release / Release.gpg', runs(400), [mutations, fc.boolean()], async (ops, sigSide) => {
        const rel = sigSide ? sampleRelease : mutate(sampleRelease, ops);
        const sig = sigSide ? mutate(releaseGpg, ops) : releaseGpg;
        const r = await typedAsync(sigCodes, () => verifyDetached(rel, sig, keys, policy));
        if (r.ok) assert.equal(r.value.text, sampleRelease);
      });
    });
  });

  it('ran enough inputs', (t) => {
    for (const line of ledger.lines()) t.diagnostic(line);
    assert.ok(ledger.total >= runs(60_000), `${ledger.total} inputs`);
  });
});
