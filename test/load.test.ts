// Issue 6 acceptance 3: the built-in server under steady load from concurrent clients (loopback,
// bounded) for a fixed amount of work (a request count, not a time window) while snapshots are published, serials frozen and thawed and
// gc collects: no 5xx and no torn read. Every InRelease a client fetches verifies with the
// service key; every index it then fetches by hash matches the hash in that InRelease; every
// pool file matches the hash in that index. A serial collected meanwhile may answer 410 (or 404
// while its tree is being removed), never wrong bytes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import * as openpgp from 'openpgp';
import { createUpstreamKey, buildUpstream, makePackages, churn, type UpstreamKey, type FixturePackage } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';
import { verifyInRelease } from '../server/pgp/verify.ts';
import { parseRelease } from '../server/debian/release.ts';
import { parseStanzas } from '../server/debian/deb822.ts';

/** The work of the run: client requests in all, and the archive changes spread evenly over them. */
const totalRequests = Number(process.env['APTFREEZE_LOAD_REQUESTS'] ?? 1500);
const changeCycles = 8;
const clients = 8;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Tally {
  requests: number;
  byStatus: Map<number, number>;
  fiveXX: string[];
  torn: string[];
  badSignature: string[];
  unexpected: string[];
  gone: number;
  inReleases: number;
  indices: number;
  poolFiles: number;
}

describe('the server under load while the archive changes', () => {
  let dir: string;
  let key: UpstreamKey;
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let pkgs: FixturePackage[];
  let admin: string;
  let serviceKey: openpgp.PublicKey[];
  let agent: Agent;
  let date = Date.now() - 3600_000;
  const tally: Tally = { requests: 0, byStatus: new Map(), fiveXX: [], torn: [], badSignature: [], unexpected: [], gone: 0, inReleases: 0, indices: 0, poolFiles: 0 };
  const changes = { snapshots: [] as string[], freezes: 0, thaws: 0, gcCollected: 0, gcRuns: 0 };
  /** The service's clock, moved past a serial's lifetime by the driver instead of waiting. */
  let clockOffsetMs = 0;
  /** Waiters for the request count to reach a number: the driver paces itself on the clients' work. */
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const countRequest = () => {
    tally.requests++;
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (tally.requests >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve();
    }
  };
  const requestsReached = (n: number) => (tally.requests >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })));

  async function get(path: string): Promise<{ status: number; body: Buffer }> {
    const r = await request(`${svc.url}${path}`, { dispatcher: agent, method: 'GET' });
    const body = Buffer.from(await r.body.arrayBuffer());
    countRequest();
    tally.byStatus.set(r.statusCode, (tally.byStatus.get(r.statusCode) ?? 0) + 1);
    if (r.statusCode >= 500) tally.fiveXX.push(`${path}: ${r.statusCode} ${body.toString('utf8', 0, 200)}`);
    return { status: r.statusCode, body };
  }
  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const r = await request(`${svc.url}${path}`, {
      dispatcher: agent,
      method: method as 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.body.text();
    countRequest();
    if (r.statusCode >= 500) tally.fiveXX.push(`${method} ${path}: ${r.statusCode} ${text.slice(0, 200)}`);
    return { status: r.statusCode, json: text ? JSON.parse(text) : {} };
  }

  /** A collected serial may be gone (410, or 404 while gc removes its tree): not a torn read. */
  const isGone = (status: number, serial: string) => status === 410 || (status === 404 && serial !== 'latest' && svc.services.repo.getSerial('debian', serial)?.state === 'collected');

  /** One client round: InRelease of a serial (or latest), verified; an index by hash; a pool file it lists. */
  async function round(serial: string): Promise<void> {
    const base = `/debian/${serial}`;
    const ir = await get(`${base}/dists/bookworm/InRelease`);
    if (isGone(ir.status, serial)) return void tally.gone++;
    if (ir.status !== 200) return void tally.unexpected.push(`${base} InRelease: ${ir.status}`);
    tally.inReleases++;
    let text: string;
    try {
      text = (await verifyInRelease(ir.body, serviceKey, { now: new Date(), requireValidNow: false })).text;
    } catch (e) {
      return void tally.badSignature.push(`${base}: ${(e as Error).message}`);
    }
    const rel = parseRelease(text);
    const index = rel.sha256.find((e) => e.path === 'main/binary-amd64/Packages.gz');
    if (!index) return void tally.unexpected.push(`${base}: no Packages.gz listed`);
    const ix = await get(`${base}/dists/bookworm/main/binary-amd64/by-hash/SHA256/${index.hash}`);
    if (isGone(ix.status, serial)) return void tally.gone++;
    if (ix.status !== 200) return void tally.unexpected.push(`${base} by-hash index ${index.hash}: ${ix.status}`);
    tally.indices++;
    if (sha(ix.body) !== index.hash || ix.body.length !== index.size) return void tally.torn.push(`${base} Packages.gz: not the hash its InRelease lists`);
    const stanzas = parseStanzas(gunzipSync(ix.body));
    const s = stanzas[Math.floor(Math.random() * stanzas.length)]!;
    const pool = await get(`${base}/${s.get('Filename')}`);
    if (isGone(pool.status, serial)) return void tally.gone++;
    if (serial === 'latest' && pool.status === 404) return; // latest moved on, and that version left: not a torn read
    if (pool.status !== 200) return void tally.unexpected.push(`${base}/${s.get('Filename')}: ${pool.status}`);
    tally.poolFiles++;
    if (sha(pool.body) !== s.get('SHA256')) tally.torn.push(`${base}/${s.get('Filename')}: not the hash its index lists`);
  }

  async function client(): Promise<void> {
    while (tally.requests < totalRequests) {
      const list = svc.services.repo.listSerials('debian', { includeCollected: true });
      const pick = Math.random() < 0.5 || list.length === 0 ? 'latest' : list[Math.floor(Math.random() * list.length)]!.serial;
      try {
        await round(pick);
      } catch (e) {
        tally.unexpected.push(`${pick}: ${(e as Error).message}`);
      }
    }
  }

  async function publish(): Promise<void> {
    pkgs = churn(pkgs, 0.3, changes.snapshots.length + 1);
    date += 1000;
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs, date: new Date(date) }], key);
    const r = await api('POST', '/api/archives/debian/snapshots?wait=1');
    assert.equal(r.status, 201, JSON.stringify(r.json));
    changes.snapshots.push(r.json['serial'] as string);
  }

  /** The archive changing under the clients: publications, freezes, thaws and gc, spread over the run's requests. */
  async function driver(): Promise<void> {
    for (let i = 0; i < changeCycles; i++) {
      await requestsReached(Math.floor(((i + 1) * totalRequests) / (changeCycles + 2)));
      await publish();
      const serials = svc.services.repo.listSerials('debian').map((s) => s.serial);
      const older = serials[1];
      if (older && i % 2 === 0) {
        const f = await api('POST', `/api/archives/debian/serials/${older}/freeze`, { until: new Date(Date.now() + 30 * 86_400_000).toISOString(), reason: 'load test' });
        if (f.status === 200) changes.freezes++;
      }
      const frozen = svc.services.repo.listSerials('debian').filter((s) => s.state === 'frozen');
      if (frozen.length > 1) {
        const t = await api('POST', `/api/archives/debian/serials/${frozen.at(-1)!.serial}/thaw`);
        if (t.status === 200) changes.thaws++;
      }
      if (i % 2 === 1) {
        const g = await api('POST', '/api/gc?wait=1', {});
        assert.equal(g.status, 200, JSON.stringify(g.json));
        changes.gcRuns++;
        changes.gcCollected += (g.json['collected'] as unknown[]).length;
      }
      clockOffsetMs += 5000; // every serial made so far is past its 4s lifetime
    }
  }

  before(async () => {
    dir = await tmpDir('af-load');
    key = await createUpstreamKey(join(dir, 'keys'));
    pkgs = makePackages(20);
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs, date: new Date(date) }], key);
    up = await serveUpstream(join(dir, 'up'));
    svc = await startService(
      join(dir, 'svc'),
      {
        lifetime: '4s', // serials expire within the run (the driver moves the clock): gc collects while clients read them
        keep: 2,
        archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
      },
      { now: () => new Date(Date.now() + clockOffsetMs) },
    );
    admin = svc.services.tokens.create('load', 'admin', new Date());
    serviceKey = [svc.services.key.publicKey];
    agent = new Agent({ connections: clients + 2, keepAliveTimeout: 10_000 });
    const r = await api('POST', '/api/archives/debian/snapshots?wait=1');
    assert.equal(r.status, 201);
  });
  after(async () => {
    await agent?.close();
    await svc?.close();
    await up?.close();
  });

  it(`serves ${clients} clients ${totalRequests} requests across publications, freezes, thaws and gc with no 5xx and no torn read`, async (t) => {
    const t0 = Date.now();
    await Promise.all([driver(), ...Array.from({ length: clients }, () => client())]);
    const secs = (Date.now() - t0) / 1000;
    t.diagnostic(`${tally.requests} requests in ${secs.toFixed(1)} s (${Math.round(tally.requests / secs)}/s) from ${clients} clients: ${tally.inReleases} InRelease verified, ${tally.indices} indices and ${tally.poolFiles} pool files checked by hash, ${tally.gone} answers for collected serials`);
    t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(tally.byStatus))}`);
    t.diagnostic(`changes: ${changes.snapshots.length} publications, ${changes.freezes} freezes, ${changes.thaws} thaws, ${changes.gcRuns} gc runs collecting ${changes.gcCollected} serials`);
    assert.ok(tally.requests >= totalRequests, `${tally.requests} requests`);
    assert.deepEqual(tally.fiveXX, [], 'no 5xx');
    assert.deepEqual(tally.torn, [], 'no torn read');
    assert.deepEqual(tally.badSignature, [], 'every InRelease verifies');
    assert.deepEqual(tally.unexpected, [], 'no other failure');
    assert.ok(changes.snapshots.length >= 3, 'at least three publications');
    assert.ok(changes.freezes >= 1 && changes.thaws >= 1 && changes.gcCollected >= 1, JSON.stringify(changes));
  });
});
