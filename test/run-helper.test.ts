// test/helpers/run.ts's long-running process handle: it waits for a line, stops a program with
// SIGTERM, and with SIGKILL when SIGTERM is ignored past the bound.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startProcess } from './helpers/run.ts';

const node = process.execPath;

describe('a long-running process started through run.ts', { timeout: 30_000 }, () => {
  it('waits for its line, then stops it with SIGTERM', async () => {
    const p = startProcess(node, ['-e', "console.log('listening on 1234'); setInterval(() => {}, 1000);"]);
    assert.equal(await p.waitForLine(/^listening on \d+$/), 'listening on 1234');
    assert.equal(await p.stop(5_000), 128);
    assert.match(p.output().stdout, /listening/);
  });

  it('kills it with SIGKILL when it ignores SIGTERM past the bound', async () => {
    const p = startProcess(node, ['-e', "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000);"]);
    await p.waitForLine(/^up$/);
    assert.equal(await p.stop(200), 128);
  });

  it('rejects the wait for a line when it exits first', async () => {
    const p = startProcess(node, ['-e', "console.error('bad config'); process.exit(3);"]);
    await assert.rejects(p.waitForLine(/listening/), /exited 3/);
    assert.equal(await p.exited, 3);
    assert.match(p.output().stderr, /bad config/);
  });
});
