// Issue 14, acceptance 2: /metrics (Prometheus text) scraped before and after a snapshot and a
// freeze; the named counters and gauges move. Also through `serve --workers 2`, where the scrape
// lands in one worker and the answer sums every worker's request counters.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages } from './helpers/upstream.ts';
import { setUp, snapshot, suite, token, api, freePort, type Fixture } from './helpers/release.ts';
import { binPath } from './helpers/service.ts';

let f: Fixture;

before(async () => {
  f = await setUp(await tmpDir('af-metrics'), [suite(makePackages(4))]);
});

after(async () => {
  await f?.close();
});

/** Parses Prometheus text into `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) assert.fail(`/metrics: ${res.status} ${await res.text()}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return parse(await res.text());
}

const v = (m: Map<string, number>, k: string) => m.get(k) ?? 0;

describe('/metrics', () => {
  it('moves with a snapshot, a freeze and the requests served', async () => {
    const rm = token(f.h, 'release-manager');
    const before = await scrape(f.h.url);
    assert.equal(v(before, 'aptfreeze_serials{archive="debian",state="live"}'), 0);
    assert.equal(before.has('aptfreeze_snapshot_last_success_timestamp_seconds{archive="debian"}'), false);

    const serial = await snapshot(f.h, rm);
    // Some traffic of each kind: an index of the serial (twice: the second from the cache), latest, a pool file, the API.
    for (let i = 0; i < 2; i++) assert.equal((await fetch(`${f.h.url}/debian/${serial}/dists/bookworm/InRelease`)).status, 200);
    assert.equal((await fetch(`${f.h.url}/debian/latest/dists/bookworm/Release`)).status, 200);
    assert.equal((await fetch(`${f.h.url}/debian/${serial}/pool/main/p/pkg0/pkg0_1.0-1_amd64.deb`)).status, 200);
    assert.equal((await fetch(`${f.h.url}/debian/${serial}/nosuch`)).status, 404);
    const mid = await scrape(f.h.url);
    assert.equal(v(mid, 'aptfreeze_serials{archive="debian",state="live"}'), 1);
    assert.ok(v(mid, 'aptfreeze_snapshot_last_success_timestamp_seconds{archive="debian"}') > 1.7e9);
    assert.ok(v(mid, 'aptfreeze_snapshot_last_duration_seconds{archive="debian"}') > 0);
    assert.ok(v(mid, 'aptfreeze_snapshot_last_bytes_fetched{archive="debian"}') > 0);
    assert.ok(v(mid, 'aptfreeze_snapshot_last_files_fetched{archive="debian"}') >= 5);
    assert.equal(v(mid, 'aptfreeze_operations_total{kind="snapshot",outcome="succeeded"}'), v(before, 'aptfreeze_operations_total{kind="snapshot",outcome="succeeded"}') + 1);
    assert.ok(v(mid, 'aptfreeze_store_bytes') > v(before, 'aptfreeze_store_bytes'));
    assert.ok(v(mid, 'aptfreeze_store_files') > v(before, 'aptfreeze_store_files'));
    assert.ok(v(mid, 'aptfreeze_http_requests_total{kind="serial",status="2xx"}') >= 2);
    assert.ok(v(mid, 'aptfreeze_http_requests_total{kind="serial",status="4xx"}') >= 1);
    assert.ok(v(mid, 'aptfreeze_http_requests_total{kind="latest",status="2xx"}') >= 1);
    assert.ok(v(mid, 'aptfreeze_http_requests_total{kind="pool",status="2xx"}') >= 1);
    assert.ok(v(mid, 'aptfreeze_http_requests_total{kind="api",status="2xx"}') > v(before, 'aptfreeze_http_requests_total{kind="api",status="2xx"}'));
    assert.ok(v(mid, 'aptfreeze_http_response_bytes_total{kind="pool"}') > 0);
    assert.ok(v(mid, 'aptfreeze_http_cache_hits_total{cache="small"}') >= 1);

    // The URL cache of immutable small files trusts an archive directory changed more than 2 s ago: make it so.
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(f.h.services.publisher.root, 'debian'), past, past);
    const poolUrl = `${f.h.url}/debian/${serial}/pool/main/p/pkg1/pkg1_1.0-1_amd64.deb`;
    let size = 0;
    for (let i = 0; i < 3; i++) size = (await (await fetch(poolUrl)).arrayBuffer()).byteLength;
    const hot = await scrape(f.h.url);
    assert.ok(v(hot, 'aptfreeze_http_cache_hits_total{cache="url"}') >= 1, 'answered from the URL cache');
    assert.ok(v(hot, 'aptfreeze_http_response_bytes_total{kind="pool"}') - v(mid, 'aptfreeze_http_response_bytes_total{kind="pool"}') >= 3 * size, 'its bytes counted too');

    const fr = await api(f.h, 'POST', `/archives/debian/serials/${serial}/freeze`, { token: rm, body: { until: '2099-06-30', reason: 'metrics' } });
    assert.equal(fr.status, 200, JSON.stringify(fr.body));
    const last = await scrape(f.h.url);
    assert.equal(v(last, 'aptfreeze_serials{archive="debian",state="frozen"}'), 1);
    assert.equal(v(last, 'aptfreeze_serials{archive="debian",state="live"}'), 0);
    assert.equal(v(last, `aptfreeze_freeze_until_timestamp_seconds{archive="debian",serial="${serial}"}`), Date.parse('2099-06-30T00:00:00Z') / 1000);
    assert.equal(v(last, 'aptfreeze_operations_total{kind="freeze",outcome="succeeded"}'), v(mid, 'aptfreeze_operations_total{kind="freeze",outcome="succeeded"}') + 1);
  });

  it('sums the request counters of every worker under serve --workers 2', async () => {
    const port = await freePort();
    const dir = f.h.dir;
    const cfgPath = join(dir, 'cluster.yaml');
    const cfg = YAML.parse(YAML.stringify(f.h.config)) as Record<string, unknown>;
    cfg['listen'] = `127.0.0.1:${port}`;
    await writeFile(cfgPath, YAML.stringify(cfg));
    // A copy of the data directory: the in-process daemon owns the original's operations runner and
    // control socket (one per data directory). Copied by a subprocess: reading SQLite's files in
    // this process would drop its locks (PITFALLS).
    const data = join(dir, 'cluster-data');
    execFileSync('cp', ['-a', f.h.dataDir, data]);
    rmSync(join(data, 'control.sock'), { force: true });
    const child = spawn(process.execPath, [binPath, '--config', cfgPath, '--data', data, 'serve', '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, APTFREEZE_LOG: 'warn' } });
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('listening')) resolve();
        });
        child.once('exit', (c) => reject(new Error(`serve exited ${c}`)));
      });
      const url = `http://127.0.0.1:${port}`;
      const n = 40;
      // New connections each (no keep-alive pooling across them), so both workers take some.
      for (let i = 0; i < n; i++) assert.equal((await fetch(`${url}/keys/aptfreeze.asc`, { headers: { connection: 'close' } })).status, 200);
      const m = await scrape(url);
      assert.equal(v(m, 'aptfreeze_http_requests_total{kind="keys",status="2xx"}'), n);
      assert.equal(v(m, 'aptfreeze_serials{archive="debian",state="frozen"}'), 1, 'database-derived gauges counted once, not per worker');
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
  });
});
