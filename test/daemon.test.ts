// The daemon's API face for snapshots (token-protected) and its schedule: runs on each tick,
// never overlapping, and a failed run is logged with its cause and retried at the next tick.
// The ticks are triggered directly (Daemon.tick runs what cron runs): nothing waits for the clock.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import supertest from 'supertest';
import YAML from 'yaml';
import { writeFile } from 'node:fs/promises';
import { createUpstreamKey, buildUpstream, makePackages } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { tmpDir } from './helpers/gpg.ts';
import { loadConfigFile } from '../server/config/load.ts';
import { openServices, type Services } from '../server/services.ts';
import { startDaemon, type Daemon } from '../server/main.ts';
import { createApp } from '../server/http/app.ts';
import { OperationRunner } from '../server/ops/runner.ts';
import { InlineExecutor } from '../server/ops/executor.ts';
import { localOps } from '../server/ops/client.ts';

describe('the daemon', () => {
  let dir: string;
  let up: UpstreamServer;
  let services: Services;
  let daemon: Daemon | undefined;
  const lines: Array<Record<string, unknown>> = [];

  before(async () => {
    dir = await tmpDir('af-daemon');
    const key = await createUpstreamKey(join(dir, 'keys'));
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: makePackages(4) }], key);
    up = await serveUpstream(join(dir, 'up'));
    const cfgPath = join(dir, 'aptfreeze.yaml');
    await writeFile(
      cfgPath,
      YAML.stringify({
        listen: '127.0.0.1:0',
        fetch: { retries: 0 },
        archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath, schedule: '0 0 1 1 *' } },
      }),
    );
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        cb();
      },
    });
    services = await openServices({ config: loadConfigFile(cfgPath), dataDir: join(dir, 'data'), log: pino({ level: 'info' }, sink) });
  });
  after(async () => {
    await daemon?.stop();
    services?.close();
    await up?.close();
  });

  describe('POST /api/archives/<archive>/snapshots', () => {
    it('is 401 without a token, 401 with a bad one, 201 with the bootstrap admin token', async () => {
      process.env['APTFREEZE_ADMIN_TOKEN'] = 'af_test_admin_token';
      try {
        const runner = new OperationRunner(services, (events) => new InlineExecutor(services, events));
        const app = createApp({ ...services, ops: localOps(runner) });
        const none = await supertest(app).post('/api/archives/debian/snapshots');
        assert.equal(none.status, 401);
        assert.equal(none.body.error.code, 'UNAUTHORIZED');
        const bad = await supertest(app).post('/api/archives/debian/snapshots').set('Authorization', 'Bearer nope');
        assert.equal(bad.status, 401);
        const ok = await supertest(app).post('/api/archives/debian/snapshots?wait=1').set('Authorization', 'Bearer af_test_admin_token');
        assert.equal(ok.status, 201, JSON.stringify(ok.body));
        assert.match(ok.body.serial, /^\d{10}$/);
        const unknown = await supertest(app).post('/api/archives/nosuch/snapshots').set('Authorization', 'Bearer af_test_admin_token');
        assert.equal(unknown.status, 404);
        const audit = services.db.prepare("SELECT actor, action, target FROM audit_log WHERE action = 'snapshot'").all() as Array<{ actor: string; target: string }>;
        assert.ok(audit.some((a) => a.target === `debian/${ok.body.serial}` && a.actor.includes('admin')));
      } finally {
        delete process.env['APTFREEZE_ADMIN_TOKEN'];
      }
    });
  });

  describe('the schedule', () => {
    it('takes snapshots on its ticks, logs a failed run with its cause, and recovers at a later tick', async () => {
      const before = services.repo.listSerials('debian').length;
      daemon = await startDaemon(services);
      // Two ticks at once: the second finds the first running and does nothing (no overlap, no CONFLICT).
      await Promise.all([daemon.tick('snapshot-debian'), daemon.tick('snapshot-debian')]);
      const afterOk = services.repo.listSerials('debian').length;
      assert.equal(afterOk, before + 1, 'one scheduled snapshot');
      up.fault = (req, res) => {
        if (!req.url?.endsWith('/InRelease')) return false;
        res.writeHead(503).end();
        return true;
      };
      await daemon.tick('snapshot-debian');
      const failed = lines.filter((l) => l['msg'] && String(l['msg']).includes('scheduled snapshot failed'));
      assert.equal(failed.length, 1, 'a failed run is logged');
      assert.equal(failed[0]!['code'], 'UPSTREAM_HTTP', 'with its cause');
      assert.ok(lines.some((l) => l['code'] === 'UPSTREAM_HTTP' && l['thread'] === 'operations'), "the run's own log line reaches the daemon's log");
      const duringFault = services.repo.listSerials('debian').length;
      assert.equal(duringFault, afterOk);
      up.fault = null;
      await daemon.tick('snapshot-debian');
      assert.equal(services.repo.listSerials('debian').length, duringFault + 1, 'a later tick succeeds');
      const overlaps = lines.filter((l) => l['code'] === 'CONFLICT' || String(l['err'] ?? '').includes('already running'));
      assert.equal(overlaps.length, 0, 'runs never overlap');
      const ops = daemon.runner!.ops.list({ kind: 'snapshot' }).filter((o) => o.actor === 'schedule');
      assert.deepEqual(ops.map((o) => o.state), ['succeeded', 'failed', 'succeeded'], 'each tick is an operation of the log');
    });
  });
});
