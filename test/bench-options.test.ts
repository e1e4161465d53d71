// The bench's command line (scripts/bench/options.ts) and the driver of --runs, --compare and
// --cli-packages (scripts/bench/multi.ts): what reaches a child bench, and how runs become medians;
// the pool-downloads target of issue 16 (scripts/bench/report.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseOptions } from '../scripts/bench/options.ts';
import { childArgs, median, medianResults } from '../scripts/bench/multi.ts';
import { computeTargets, poolRate, poolTarget, type BenchResults } from '../scripts/bench/report.ts';
import type { StepResult } from '../scripts/bench/service.ts';

const root = '/nonexistent-root';

describe('bench options', () => {
  test('a full run: one run, no comparison, the command-line figures at 20,000 packages', () => {
    const o = parseOptions([], root);
    assert.equal(o.runs, 1);
    assert.equal(o.compare, null);
    assert.equal(o.cliPackages, 20_000);
    assert.equal(o.packages, 60_000);
  });

  test('--quick leaves the command-line upstream out unless --cli-packages is given', () => {
    assert.equal(parseOptions(['--quick'], root).cliPackages, 0);
    assert.equal(parseOptions(['--quick', '--cli-packages', '2000'], root).cliPackages, 2000);
    assert.equal(parseOptions(['--cli-packages=0'], root).cliPackages, 0);
  });

  test('--runs takes a positive count', () => {
    assert.equal(parseOptions(['--runs', '3'], root).runs, 3);
    assert.throws(() => parseOptions(['--runs', '0'], root));
  });

  test('--compare refuses a directory without bin/aptfreeze.js', () => {
    assert.throws(() => parseOptions(['--compare', '/nonexistent-checkout'], root), /bin\/aptfreeze\.js/);
  });
});

describe('the driver of several measurements', () => {
  test('a child gets every option but the driver\'s own', () => {
    assert.deepEqual(childArgs(['--quick', '--runs', '2', '--compare=/x', '--cli-packages', '2000', '--seed', '7', '--out', 'o', '--pdiffs', '3']), ['--quick', '--seed', '7', '--pdiffs', '3']);
  });

  test('the median of an even count is the mean of the middle two; nothing gives null', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    assert.equal(median([]), null);
  });

  test('medianResults takes each number\'s median over the runs where its step succeeded', () => {
    const run = (wallMs: number, ok = true) =>
      ({ version: 2, startedAt: 's', options: {}, machine: {}, generation: {}, service: { api: { churn: { ok, wallMs, peakRssBytes: 1 } }, cli: {} }, aptly: {}, reprepro: {}, nginx: {}, targets: [], notes: [], errors: ok ? [] : ['boom'] }) as unknown as BenchResults;
    const m = medianResults([run(10), run(30), run(20), run(1000, false)]);
    assert.equal(m.service.api.churn?.wallMs, 20);
    assert.equal(m.service.api.churn?.ok, true);
    assert.deepEqual(m.errors, ['run 4: boom']);
  });
});

describe('the pool-downloads target (issue 16)', () => {
  const first = (poolFetched: number, poolMs: number | undefined, ok = true) =>
    ({ ok, wallMs: 9000, peakRssBytes: 1, diskAfterBytes: null, stats: { poolFetched }, steps: poolMs === undefined ? { parse: 10 } : { parse: 10, pool: poolMs } }) as StepResult;

  test('is the first snapshot\'s files over its pool step\'s time, judged at 10,000 files/s', () => {
    assert.deepEqual(poolRate(first(60_000, 5000)), { files: 60_000, ms: 5000, filesPerSec: 12_000 });
    assert.equal(poolTarget(first(60_000, 5000), 'daemon', undefined).verdict, 'met');
    assert.equal(poolTarget(first(60_000, 17_650), 'daemon', undefined).verdict, 'MISSED');
    assert.equal(poolTarget(first(60_000, 17_650), 'daemon', undefined).measured, '3399 files/s');
  });

  test('is n/a when the step was not timed, fetched nothing, or failed', () => {
    for (const s of [first(60_000, undefined), first(0, 5000), first(60_000, 5000, false), undefined]) {
      assert.equal(poolRate(s), null);
      assert.equal(poolTarget(s, 'daemon', undefined).verdict, 'n/a');
    }
  });

  test('is one of the single run\'s targets, on the daemon\'s first snapshot', () => {
    const r = { version: 2, startedAt: 's', options: {}, machine: {}, generation: {}, service: { api: { first: first(30_000, 2000) }, cli: {} }, aptly: {}, reprepro: {}, nginx: {}, targets: [], notes: [], errors: [] } as unknown as BenchResults;
    const t = computeTargets(r).find((x) => x.figure.startsWith('pool downloads of the first snapshot'));
    assert.ok(t, 'the target is listed');
    assert.equal(t.measured, '15000 files/s');
    assert.equal(t.verdict, 'met');
  });
});
