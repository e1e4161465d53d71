// Issue 11: the CLI run beside a daemon on the same data directory hands its mutation to the
// daemon (the daemon's operations log shows it, run by the daemon's process) and prints what it
// printed before; with no daemon it runs the operation itself, recorded the same way.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages } from './helpers/upstream.ts';
import { setUp, suite, type Fixture } from './helpers/release.ts';

let f: Fixture;

/** The newest operation as the database records it, with the process whose runner ran it. */
function lastOperation(): { id: number; kind: string; actor: string; state: string; pid: number } {
  return f.h.services.db.prepare('SELECT id, kind, actor, state, pid FROM operations ORDER BY id DESC LIMIT 1').get() as { id: number; kind: string; actor: string; state: string; pid: number };
}

// What `aptfreeze snapshot` printed before operations existed (the daemon's own tests, README).
const snapshotLine = /^debian (\d{10}) valid until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(\d+ pool files and \d+ index files fetched, \d+ bytes, \d+ ms\)\n$/;
const freezeLine = /^debian\/(\d{10}) frozen until 2099-01-01T00:00:00\.000Z by cli:[^:]+: release 2 \(1 suite re-signed in \d+ ms\)\n$/;

before(async () => {
  f = await setUp(await tmpDir('af-ops-cli'), [suite(makePackages(4))]);
});

after(async () => {
  await f?.close();
});

describe('the CLI beside a running daemon', () => {
  it('has a control socket to talk to, readable and writable by its owner only', () => {
    const st = statSync(join(f.h.dataDir, 'control.sock'));
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('snapshot: executed by the daemon, recorded in its operations log, printed as before', async () => {
    const r = await f.h.cli(['snapshot', 'debian']);
    assert.equal(r.code, 0, r.stderr);
    const m = snapshotLine.exec(r.stdout);
    assert.ok(m, r.stdout);
    const op = lastOperation();
    assert.equal(op.kind, 'snapshot');
    assert.equal(op.state, 'succeeded');
    assert.match(op.actor, /^cli:/);
    assert.equal(op.pid, process.pid, "run by the daemon's runner (this process), not by the CLI's");
    assert.equal(f.h.services.repo.latestSerial('debian'), m[1]);
  });

  it('freeze: the same, and a refusal prints one CODE line', async () => {
    const serial = f.h.services.repo.latestSerial('debian')!;
    const r = await f.h.cli(['freeze', 'debian', serial, '--until', '2099-01-01', '--reason', 'release 2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, freezeLine);
    const op = lastOperation();
    assert.deepEqual([op.kind, op.state, op.pid], ['freeze', 'succeeded', process.pid]);
    const bad = await f.h.cli(['thaw', 'debian', '2001010101']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^aptfreeze: NOT_FOUND: /m);
    assert.deepEqual([lastOperation().kind, lastOperation().state], ['thaw', 'failed']);
  });
});

describe('the CLI with no daemon on the data directory', () => {
  it('runs the operation itself, records it, and prints the same', async () => {
    await f.h.daemon.stop();
    const r = await f.h.cli(['snapshot', 'debian']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, snapshotLine);
    const op = lastOperation();
    assert.deepEqual([op.kind, op.state], ['snapshot', 'succeeded']);
    assert.notEqual(op.pid, process.pid, "run by the CLI's own runner");
  });
});
