// Shared by the fuzz tests (issue 6): run budgets, the "typed error or valid result" rule, and
// arbitraries for hostile text (deb822 punctuation, CR, NUL, odd Unicode, invalid UTF-8).
//
// Budgets: each property runs `runs(n)` inputs: n in CI, n × APTFREEZE_FUZZ_RUNS when that is
// set (APTFREEZE_FUZZ_RUNS=20 for a long run). APTFREEZE_FUZZ_SEED replays one seed (fast-check
// prints the seed and the shrunk counterexample of any failure).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AptfreezeError, type ErrorCode } from '../../server/errors.ts';

const factor = Number(process.env['APTFREEZE_FUZZ_RUNS'] ?? '1');
const seed = process.env['APTFREEZE_FUZZ_SEED'] === undefined ? undefined : Number(process.env['APTFREEZE_FUZZ_SEED']);

export function runs(n: number): number {
  return Math.max(1, Math.round(n * (Number.isFinite(factor) && factor > 0 ? factor : 1)));
}

/** Counts the inputs a test file ran, and how fast. */
export class FuzzLedger {
  readonly rows: Array<{ name: string; runs: number; ms: number }> = [];
  get total(): number {
    return this.rows.reduce((n, r) => n + r.runs, 0);
  }
  lines(): string[] {
    return [
      ...this.rows.map((r) => `${r.name}: ${r.runs} inputs in ${r.ms} ms (${Math.round((r.runs / Math.max(1, r.ms)) * 1000)}/s)`),
      `total: ${this.total} inputs`,
    ];
  }
}

/** Runs a synchronous property `numRuns` times; fails the test with fast-check's report (seed, counterexample). */
export function check<Ts extends [unknown, ...unknown[]]>(ledger: FuzzLedger, name: string, numRuns: number, arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> }, predicate: (...args: Ts) => void): void {
  const t0 = Date.now();
  const details = fc.check(fc.property(...arbs, predicate), { numRuns, seed, endOnFailure: false });
  ledger.rows.push({ name, runs: details.numRuns, ms: Date.now() - t0 });
  if (details.failed) assert.fail(`${fc.defaultReportMessage(details) ?? `${name} failed`}\n${(details.errorInstance as Error)?.message ?? ''}`);
}

export async function checkAsync<Ts extends [unknown, ...unknown[]]>(
  ledger: FuzzLedger,
  name: string,
  numRuns: number,
  arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => Promise<void>,
): Promise<void> {
  const t0 = Date.now();
  const details = await fc.check(fc.asyncProperty(...arbs, predicate), { numRuns, seed, endOnFailure: false });
  ledger.rows.push({ name, runs: details.numRuns, ms: Date.now() - t0 });
  if (details.failed) assert.fail(`${fc.defaultReportMessage(details) ?? `${name} failed`}\n${(details.errorInstance as Error)?.message ?? ''}`);
}

/**
 * The rule for outside data: a call either returns (and the caller checks the result is valid)
 * or throws an AptfreezeError with one of `codes`. Anything else (a TypeError, a RangeError, a
 * plain Error) fails the property.
 */
export function typed<T>(codes: readonly ErrorCode[], fn: () => T): { ok: true; value: T } | { ok: false; error: AptfreezeError } {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (!(e instanceof AptfreezeError)) throw new Error(`not an AptfreezeError: ${(e as Error)?.stack ?? String(e)}`);
    if (!codes.includes(e.code)) throw new Error(`unexpected code ${e.code}: ${e.message}`);
    return { ok: false, error: e };
  }
}

export async function typedAsync<T>(codes: readonly ErrorCode[], fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: AptfreezeError }> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    if (!(e instanceof AptfreezeError)) throw new Error(`not an AptfreezeError: ${(e as Error)?.stack ?? String(e)}`);
    if (!codes.includes(e.code)) throw new Error(`unexpected code ${e.code}: ${e.message}`);
    return { ok: false, error: e };
  }
}

/** Unicode that has fooled parsers: BOM, zero-width, bidi overrides, line/paragraph separators, lookalike dots and slashes, combining marks, a lone surrogate. */
export const trickyChars = [
  '\uFEFF', '\u200B', '\u200D', '\u202E', '\u2066', '\u2028', '\u2029', '\u0085', '\u00A0', '\u3000',
  '\u2024', '\uFF0E', '\u2215', '\u2044', '\uFF0F', '\u29F8', '\uFE68', '\u0301', '\u0338', '\uD800', '\uDFFF', '\u{1F600}', 'ſ', 'K', 'İ',
];

/** Characters that matter to deb822 and paths, plus controls and tricky Unicode. */
export const hostileChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(':', ' ', '\t', '\n', '\n', '\r', '\r\n', '#', '-', '.', '/', '\\', '%', '\0', '\x1b', '\x7f', ',', '|') },
  { weight: 6, arbitrary: fc.constantFrom('Package', 'Version', 'Filename', 'SHA256', 'Size', 'Date', 'Valid-Until', 'Components', 'Architectures', 'Directory', 'Checksums-Sha256', '..', 'pool', 'dists', 'main') },
  { weight: 3, arbitrary: fc.constantFrom(...trickyChars) },
  { weight: 8, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) },
  { weight: 2, arbitrary: fc.stringMatching(/^[0-9a-f]{64}$/) },
  { weight: 2, arbitrary: fc.nat().map(String) },
);

/** Text made of hostile pieces. */
export const hostileText = (maxLength = 60): fc.Arbitrary<string> => fc.array(hostileChar, { maxLength }).map((a) => a.join(''));

/** Bytes: hostile text, sometimes with invalid UTF-8 spliced in. */
export const hostileBytes = (maxLength = 60): fc.Arbitrary<Buffer> =>
  fc.tuple(hostileText(maxLength), fc.array(fc.tuple(fc.nat(), fc.constantFrom(0x80, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf8, 0xff, 0xfe)), { maxLength: 3 })).map(([text, bad]) => {
    const b = Buffer.from(text, 'utf8');
    const parts: Buffer[] = [];
    let at = 0;
    for (const [pos, byte] of bad.sort((x, y) => x[0] - y[0])) {
      const p = b.length ? pos % b.length : 0;
      if (p < at) continue;
      parts.push(b.subarray(at, p), Buffer.from([byte]));
      at = p;
    }
    parts.push(b.subarray(at));
    return Buffer.concat(parts);
  });
