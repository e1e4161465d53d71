// Issue 10: human log lines on a terminal, JSON lines anywhere else; one line a snapshot with its
// serial, counts and time. The terminal is a real pty (util-linux `script`).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './helpers/service.ts';

const event = { archive: 'debian', serial: '2026120501', suites: 3, indexFiles: 12, indexFetched: 4, poolFiles: 120, poolFetched: 7, bytesFetched: 2_500_000, requests: 15, retries: 0, ms: 4200 };
const program = `import { createLogger } from ${JSON.stringify(join(repoRoot, 'server', 'log.ts'))};
const log = createLogger();
log.info(${JSON.stringify(event)}, 'snapshot published');
log.warn('something to read');`;

function runLogger(env: Record<string, string>, pty: boolean): string {
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', program];
  const quoted = node.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // Under `script` the child's stdout and stderr are the pty; without it, stderr is a pipe.
  const r = pty
    ? spawnSync('script', ['-qec', `${quoted} 2>&1`, '/dev/null'], { cwd: repoRoot, env: { ...process.env, ...env }, encoding: 'utf8' })
    : spawnSync(node[0]!, node.slice(1), { cwd: repoRoot, env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return pty ? r.stdout : r.stderr;
}

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '');

describe('log lines', () => {
  it('are human on a terminal: one line a snapshot, with its serial, counts and time', () => {
    const out = strip(runLogger({ APTFREEZE_LOG: 'info', APTFREEZE_LOG_FORMAT: '' }, true));
    const lines = out.split('\n').filter(Boolean);
    assert.equal(lines.length, 2, out);
    assert.match(lines[0]!, /INFO.*debian 2026120501 published: 3 suite\(s\), 4\/12 index files and 7\/120 pool files fetched, 2\.5 MB in 4\.2 s/);
    assert.match(lines[1]!, /WARN.*something to read/);
    assert.throws(() => JSON.parse(lines[0]!));
  });

  it('are JSON when stderr is not a terminal', () => {
    const lines = runLogger({ APTFREEZE_LOG: 'info', APTFREEZE_LOG_FORMAT: '' }, false).split('\n').filter(Boolean);
    assert.equal(lines.length, 2);
    const first = JSON.parse(lines[0]!);
    assert.equal(first.msg, 'snapshot published');
    assert.equal(first.serial, '2026120501');
    assert.equal(first.poolFetched, 7);
  });

  it('follow APTFREEZE_LOG_FORMAT over the terminal test', () => {
    assert.doesNotThrow(() => JSON.parse(strip(runLogger({ APTFREEZE_LOG: 'info', APTFREEZE_LOG_FORMAT: 'json' }, true)).split('\n')[0]!));
    assert.match(runLogger({ APTFREEZE_LOG: 'info', APTFREEZE_LOG_FORMAT: 'pretty' }, false), /debian 2026120501 published/);
  });
});
