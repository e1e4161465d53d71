// Issue 11 item 8: tests wait for events and clocks, never for time to pass; test helpers run
// programs through one helper (test/helpers/run.ts). This test keeps both true, and shows on
// planted text that its checks can fail.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const testDir = dirname(fileURLToPath(import.meta.url));
const helpersDir = join(testDir, 'helpers');

/**
 * Files allowed a sleep-shaped wait, with why. run.ts polls an external engine (Ceph, PostgreSQL)
 * that gives no event when it is ready, and a daemon's pid that is not its child when stopping it.
 */
const SLEEP_ALLOWED = new Set(['helpers/run.ts']);

/**
 * Helpers that still spawn programs themselves, to be moved onto run.ts (issue 11 item 8). The list
 * only shrinks: a file on it that no longer imports node:child_process fails this test until it
 * is taken off.
 */
const SPAWN_PENDING = new Set<string>();

/** Preloads run inside the program under test, not by a test helper. */
const isPreload = (name: string) => name.endsWith('.mjs');

/** Sleep-shaped waits in source text: `new Promise(r => setTimeout(r, N))`, or a call of a `sleep` helper. */
export function sleepWaits(text: string): string[] {
  const found: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (/new Promise\s*(?:<[^>]*>)?\(\s*\(?\s*(\w+)\s*\)?\s*=>\s*setTimeout\(\s*\1\s*[,)]/.test(line) || /(?<![\w.])sleep(?:Until)?\s*\(/.test(line)) {
      found.push(`${i + 1}: ${line.trim()}`);
    }
  });
  return found;
}

/** Whether source text imports node:child_process (statically or dynamically). */
export function importsChildProcess(text: string): boolean {
  return /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"](?:node:)?child_process['"]/.test(text);
}

const sources = (dir: string, prefix = '') =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.ts'))
    .map((n) => ({ name: `${prefix}${n}`, text: readFileSync(join(dir, n), 'utf8') }));

describe('the checks themselves', () => {
  it('find a planted sleep and a planted child_process import', () => {
    const planted = [
      'const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));',
      'await sleep(1100);',
      'await new Promise((resolve) => setTimeout(resolve, 50));',
      'await new Promise<void>(r => setTimeout(r));',
    ].join('\n');
    assert.equal(sleepWaits(planted).length, 4, sleepWaits(planted).join('\n'));
    assert.ok(importsChildProcess("import { spawn } from 'node:child_process';"));
    assert.ok(importsChildProcess("const cp = await import('child_process');"));
  });

  it('leave hang guards, socket-destroy delays and other code alone', () => {
    const fine = [
      "const t = setTimeout(() => reject(new Error('no listening line')), 30_000);",
      'setTimeout(() => res.socket?.destroy(), 20);',
      'const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);',
      'await new Promise((r) => setImmediate(r));',
      'server.sleepiness(3);',
    ].join('\n');
    assert.deepEqual(sleepWaits(fine), []);
    assert.equal(importsChildProcess("import { runOk } from './run.ts';"), false);
  });
});

describe('the test tree', () => {
  it('has no sleep-shaped wait outside the allowed files', () => {
    const files = [...sources(testDir), ...sources(helpersDir, 'helpers/')].filter((f) => f.name !== 'test-hygiene.test.ts');
    const offenders = files.filter((f) => !SLEEP_ALLOWED.has(f.name)).flatMap((f) => sleepWaits(f.text).map((w) => `${f.name}:${w}`));
    assert.deepEqual(offenders, [], 'wait for an event or move a clock (the services take a `now`; subprocesses APTFREEZE_TEST_NOW)');
  });

  it('runs programs from test helpers only through run.ts', () => {
    const helpers = sources(helpersDir).filter((f) => !isPreload(f.name) && f.name !== 'run.ts');
    const spawning = helpers.filter((f) => importsChildProcess(f.text)).map((f) => f.name);
    assert.deepEqual(spawning.filter((n) => !SPAWN_PENDING.has(n)), [], 'use test/helpers/run.ts');
    assert.deepEqual([...SPAWN_PENDING].filter((n) => !spawning.includes(n)), [], 'moved onto run.ts: take it off SPAWN_PENDING');
  });
});
