// Issue 6 acceptance 4: property tests of the deb822 reader (server/debian/deb822.ts) on hostile
// input: malformed stanzas, huge fields, NULs, CR/CRLF, invalid UTF-8, Unicode tricks. Every
// input gives either well-formed stanzas or AptfreezeError('MALFORMED'), never another exception;
// the streaming reader agrees with the one-shot one however the input is chunked; generated
// well-formed stanzas read back exactly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseStanzas, readStanzas, type Stanza } from '../server/debian/deb822.ts';
import { FuzzLedger, check, checkAsync, hostileBytes, hostileText, runs, typed, typedAsync } from './helpers/fuzz.ts';

const FIELD_NAME = /^[!-9;-~]+$/;

/** What every stanza read from any input must satisfy. */
function assertWellFormed(stanzas: Stanza[], input: Buffer, maxStanzaBytes: number): void {
  for (const s of stanzas) {
    assert.ok(s.fields.length > 0, 'no empty stanza');
    assert.ok(s.raw.length <= maxStanzaBytes, 'within the stanza cap');
    assert.ok(!s.raw.includes(0), 'no NUL');
    assert.ok(input.includes(s.raw), 'raw is a piece of the input, byte for byte');
    const seen = new Set<string>();
    for (const [name, value] of s.fields) {
      assert.match(name, FIELD_NAME);
      assert.ok(!name.startsWith('-') && !name.startsWith('#'));
      assert.ok(!seen.has(name.toLowerCase()), 'no duplicate field');
      seen.add(name.toLowerCase());
      assert.equal(s.get(name), value);
      assert.equal(s.get(name.toUpperCase()), s.get(name.toLowerCase()) ?? s.get(name.toUpperCase()));
      for (const cont of value.split('\n').slice(1)) assert.match(cont, /^[ \t]/, 'continuation lines keep their indent');
      assert.ok(!value.includes('\r\n') && !/\r$/.test(value), 'no CR line ends in values');
    }
    // A stanza never spans a blank line.
    assert.ok(!/\n[ \t\r]*\n/.test(s.raw.toString('latin1').replace(/\n$/, '')), 'no blank line inside a stanza');
  }
}

function summary(r: { ok: true; value: Stanza[] } | { ok: false; error: { code: string } }) {
  return r.ok ? { ok: true, stanzas: r.value.map((s) => ({ raw: s.raw.toString('hex'), fields: s.fields })) } : { ok: false, code: r.error.code };
}

async function* chunked(input: Buffer, cuts: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (const c of [...new Set(cuts.map((x) => (input.length ? x % input.length : 0)))].sort((a, b) => a - b)) {
    if (c <= at) continue;
    yield input.subarray(at, c);
    at = c;
  }
  yield input.subarray(at);
}

async function readAll(chunks: AsyncIterable<Buffer>, maxStanzaBytes: number): Promise<Stanza[]> {
  const out: Stanza[] = [];
  for await (const s of readStanzas(chunks, { maxStanzaBytes })) out.push(s);
  return out;
}

/** A field name as policy allows, and a value as the reader returns it, with the text that gives it. */
const fieldArb = fc
  .tuple(
    fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,15}$/),
    fc.oneof(fc.constant(''), fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/)),
    fc.array(fc.tuple(fc.constantFrom(' ', '\t', '  '), fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/)), { maxLength: 4 }),
    fc.boolean(),
  )
  .map(([name, first, conts, crlf]) => {
    const eol = crlf ? '\r\n' : '\n';
    const text = `${name}:${first ? ` ${first}` : ''}${eol}${conts.map(([ind, t]) => `${ind}${t}${eol}`).join('')}`;
    const value = first + conts.map(([ind, t]) => `\n${ind}${t}`).join('');
    return { name, value, text };
  });

const stanzaArb = fc.uniqueArray(fieldArb, { minLength: 1, maxLength: 8, selector: (f) => f.name.toLowerCase() });

describe('the deb822 reader on hostile input', () => {
  const ledger = new FuzzLedger();

  it('gives well-formed stanzas or MALFORMED for hostile text', () => {
    check(ledger, 'hostile text', runs(25_000), [hostileText(80)], (text) => {
      const input = Buffer.from(text, 'utf8');
      const r = typed(['MALFORMED'], () => parseStanzas(text));
      if (r.ok) assertWellFormed(r.value, input, 1 << 20);
    });
  });

  it('gives well-formed stanzas or MALFORMED for arbitrary bytes (invalid UTF-8, NUL)', () => {
    check(ledger, 'hostile bytes', runs(15_000), [hostileBytes(80)], (input) => {
      const r = typed(['MALFORMED'], () => parseStanzas(input));
      if (r.ok) assertWellFormed(r.value, input, 1 << 20);
    });
    check(ledger, 'random bytes', runs(5_000), [fc.uint8Array({ maxLength: 200 })], (bytes) => {
      const input = Buffer.from(bytes);
      const r = typed(['MALFORMED'], () => parseStanzas(input));
      if (r.ok) assertWellFormed(r.value, input, 1 << 20);
    });
  });

  it('enforces the stanza cap on huge fields, whatever the chunking', async () => {
    await checkAsync(
      ledger,
      'stanza cap, chunked',
      runs(5_000),
      [hostileText(40), fc.nat({ max: 400 }), fc.array(fc.nat(), { maxLength: 6 }), fc.integer({ min: 16, max: 256 })],
      async (text, pad, cuts, cap) => {
        const input = Buffer.from(`${text}X-Long: ${'y'.repeat(pad)}\n${text}`, 'utf8');
        const r = await typedAsync(['MALFORMED'], () => readAll(chunked(input, cuts), cap));
        if (r.ok) assertWellFormed(r.value, input, cap);
      },
    );
  });

  it('reads the same stanzas, or fails with the same code, however the input is chunked', async () => {
    await checkAsync(ledger, 'streaming = one-shot', runs(10_000), [hostileBytes(80), fc.array(fc.nat(), { maxLength: 8 })], async (input, cuts) => {
      const whole = typed(['MALFORMED'], () => parseStanzas(input, { maxStanzaBytes: 64 }));
      const streamed = await typedAsync(['MALFORMED'], () => readAll(chunked(input, cuts), 64));
      assert.deepEqual(summary(streamed), summary(whole));
    });
  });

  it('reads generated well-formed stanzas back exactly (LF or CRLF, comments, blank-line variants)', () => {
    check(
      ledger,
      'round trip',
      runs(15_000),
      [fc.array(stanzaArb, { minLength: 1, maxLength: 4 }), fc.constantFrom('\n', '\n\n', ' \n', '\t\r\n', '\r\n'), fc.boolean()],
      (stanzas, sep, comment) => {
        const texts = stanzas.map((fs) => (comment ? '# a comment\n' : '') + fs.map((f) => f.text).join(''));
        const input = texts.join(sep);
        const got = parseStanzas(input);
        assert.equal(got.length, stanzas.length);
        got.forEach((s, i) => {
          assert.deepEqual(
            s.fields.map(([k, v]) => [k, v]),
            stanzas[i]!.map((f) => [f.name, f.value]),
          );
          assert.equal(s.raw.toString('utf8').replace(/\r?\n$/, ''), texts[i]!.replace(/\r?\n$/, ''));
        });
      },
    );
  });

  it('ran enough inputs', (t) => {
    for (const line of ledger.lines()) t.diagnostic(line);
    assert.ok(ledger.total >= runs(70_000), `${ledger.total} inputs`);
  });
});
