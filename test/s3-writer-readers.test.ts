// Issue 15, acceptance 2: one writer and two readers, as real processes, on a real Ceph RGW and
// PostgreSQL. The writer (`serve --role writer`, its data directory the working copy) exports every
// committed change to the bucket and the publication catalog (server/s3/export.ts); the two readers
// (`serve --role reader`, no data directory) serve them. While the writer publishes five serials of
// a fixture upstream and gc collects two, eight loopback clients read through both readers and see
// no torn state: every InRelease verifies with gpgv against the service key, every index (plain and
// by-hash) and pool file fetched matches the hash its signed Release or Packages lists, and 410 comes
// only for the collected serials. Then the writer is killed with SIGKILL at five points mid-publish
// (APTFREEZE_TEST_KILL_AT): the readers keep serving the previous latest, the restarted writer
// reconciles before it answers, a freeze reaches the readers as a re-signing, `aptfreeze fsck` and
// the object store's fsck are clean, and every object PostgreSQL's latest references is in the
// bucket. Last, apt-get updates and downloads through a reader.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { PgPublicationCatalog } from '../server/catalog/pg-publication.ts';
import { S3BlobStore } from '../server/store/s3.ts';
import { parseRelease } from '../server/debian/release.ts';
import { readPackagesText } from '../server/snapshot/packages-reader.ts';
import { postgresSource, testPostgres, type TestPostgres } from './helpers/postgres.ts';
import { rgwSource, testS3, type TestS3 } from './helpers/rgw.ts';
import { skipUnless } from './helpers/engines.ts';
import { binPath, repoRoot, runCli } from './helpers/service.ts';
import { gpgv, tmpDir } from './helpers/gpg.ts';
import { sha256 } from './helpers/hash.ts';
import { startProcess, type ProcessHandle } from './helpers/run.ts';
import { freePort } from './helpers/release.ts';
import { buildUpstream, churn, createUpstreamKey, makePackages, nextReleaseDate, type FixturePackage, type UpstreamKey } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { createAptClient } from './helpers/apt.ts';
import { checkObjectStore } from '../server/s3/fsck.ts';

const skip = skipUnless(postgresSource()) || skipUnless(rgwSource());
const DAY = 86_400_000;
const suitePath = 'dists/bookworm';
const indexPath = 'main/binary-amd64/Packages';

/** The signed text of a clearsigned file (RFC 4880 7.1), dash-escaping undone. */
function clearsignedText(armored: string): string {
  const lines = armored.split('\n');
  let i = lines.indexOf('-----BEGIN PGP SIGNED MESSAGE-----');
  while (i >= 0 && lines[i] !== '') i++;
  const end = lines.indexOf('-----BEGIN PGP SIGNATURE-----', i);
  return `${lines.slice(i + 1, end).map((l) => (l.startsWith('- ') ? l.slice(2) : l)).join('\n')}\n`;
}

/** What the clients share with the test: what they may see, and what they saw. */
interface Run {
  stop: boolean;
  /** Serials the writer reported published, in order. */
  serials: string[];
  /** Serials gc is about to collect: a 410 is allowed for these only. */
  toCollect: Set<string>;
  /** Serials collected and exported (gc answered): a 200 for them is torn. */
  collected: Set<string>;
  /** sha256 of every InRelease read through latest/. */
  latestSeen: Set<string>;
  torn: string[];
  n: { requests: number; inRelease: number; indices: number; pool: number; gone: number };
  /** Resolved when `requests` reaches a count (an event of the clients, not a time). */
  waiters: Array<{ at: number; done: () => void }>;
}

describe('one writer and two readers on Ceph RGW and PostgreSQL (issue 15, acceptance 2)', { skip }, () => {
  let pgEngine: TestPostgres;
  let s3: TestS3;
  let catalog: PgPublicationCatalog;
  let bucketBlobs: S3BlobStore;
  let up: UpstreamServer;
  let key: UpstreamKey;
  let dir = '';
  let configPath = '';
  let dataDir = '';
  let keyring = '';
  let writerUrl = '';
  let writer: ProcessHandle | null = null;
  const readers: ProcessHandle[] = [];
  const readerUrls: string[] = [];
  const token = randomBytes(24).toString('hex');
  const env: Record<string, string> = {};
  const inReleaseOf = new Map<string, string>();
  let pkgs: FixturePackage[] = makePackages(12, { payloadBytes: 4000 });
  let seed = 1;

  const churnUpstream = async () => {
    pkgs = churn(pkgs, 0.25, seed++);
    await buildUpstream(join(dir, 'upstream'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs, compressions: ['none', 'gz'], validUntil: null, date: nextReleaseDate() }], key);
  };
  const startWriter = async (extra: Record<string, string> = {}): Promise<ProcessHandle> => {
    const w = startProcess(process.execPath, [binPath, '--config', configPath, '--data', dataDir, 'serve', '--role', 'writer', '--workers', '1'], { cwd: repoRoot, env: { ...process.env, ...env, ...extra } });
    await w.waitForLine(/^aptfreeze listening on /m, 120_000);
    return w;
  };
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${writerUrl}/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const localLatest = async (): Promise<string | null> => (await api('GET', '/archives')).body.archives.find((a: { name: string }) => a.name === 'debian')?.latest ?? null;
  const readerInRelease = async (base: string, serial: string): Promise<Buffer> => {
    const res = await fetch(`${base}/debian/${serial}/${suitePath}/InRelease`);
    assert.equal(res.status, 200, `${base} ${serial}`);
    return Buffer.from(await res.arrayBuffer());
  };

  before(async () => {
    [pgEngine, s3] = await Promise.all([testPostgres(), testS3()]);
    const dbUrl = await pgEngine.newDatabase('writer_readers');
    const bucket = await s3.newBucket('writer-readers');
    catalog = await PgPublicationCatalog.open(dbUrl);
    bucketBlobs = new S3BlobStore(s3.client, { bucket, prefix: 'af/' });
    dir = await tmpDir('af-s3-writer');
    key = await createUpstreamKey(join(dir, 'keys'));
    await churnUpstream();
    up = await serveUpstream(join(dir, 'upstream'));
    const port = await freePort();
    writerUrl = `http://127.0.0.1:${port}`;
    dataDir = join(dir, 'data');
    configPath = join(dir, 'aptfreeze.yaml');
    await writeFile(
      configPath,
      YAML.stringify({
        listen: `127.0.0.1:${port}`,
        baseUrl: writerUrl,
        lifetime: '10d',
        keep: 3,
        // The daemon's own gc half a day away (by the real clock, which cron reads): only the test's gc runs.
        gcSchedule: `0 ${(new Date().getHours() + 12) % 24} * * *`,
        fetch: { retries: 1, backoffMs: 10 },
        archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
        storage: { kind: 's3', endpoint: s3.endpoint, bucket, region: s3.region, prefix: 'af/' },
        catalog: { kind: 'postgres' },
      }),
    );
    Object.assign(env, {
      APTFREEZE_LOG: 'warn',
      APTFREEZE_CONFIG: '',
      APTFREEZE_DATA: '',
      APTFREEZE_ADMIN_TOKEN: token,
      APTFREEZE_DATABASE_URL: dbUrl,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    });
    for (let i = 0; i < 2; i++) {
      const r = startProcess(process.execPath, [binPath, '--config', configPath, '--data', join(dir, 'no-data'), 'serve', '--role', 'reader', '--listen', '127.0.0.1:0'], { cwd: repoRoot, env: { ...process.env, ...env } });
      readers.push(r);
      readerUrls.push(/(http:\/\/\S+)/.exec(await r.waitForLine(/^aptfreeze listening on (http:\/\/\S+)$/m, 120_000))![1]!);
    }
    writer = await startWriter();
    keyring = join(dir, 'aptfreeze.gpg');
    // From a reader: the writer exports its public key at start (s3/exporter.ts); the same bytes as its own.
    const fromReader = new Uint8Array(await (await fetch(`${readerUrls[1]}/keys/aptfreeze.gpg`)).arrayBuffer());
    const fromWriter = new Uint8Array(await (await fetch(`${writerUrl}/keys/aptfreeze.gpg`)).arrayBuffer());
    assert.ok(fromReader.length > 0 && Buffer.from(fromReader).equals(Buffer.from(fromWriter)), 'the readers serve the writer\'s key');
    await writeFile(keyring, fromReader);
  });

  after(async () => {
    await writer?.stop(0, 'SIGKILL');
    for (const r of readers) await r.stop(0, 'SIGKILL');
    await catalog?.close();
    await up?.close();
    await Promise.all([pgEngine?.stop(), s3?.stop()]);
  });

  /** One client's read of a serial (or latest/): InRelease verified, then for a serial its index and two pool files checked. */
  async function readOnce(run: Run, who: number, base: string, target: string): Promise<void> {
    const collectedBefore = new Set(run.collected);
    const nothingYet = run.serials.length === 0;
    /** The body, or null when the serial answered 410 (checked against what may be collected). */
    const get = async (path: string): Promise<Buffer | null> => {
      const res = await fetch(`${base}/debian/${target}/${path}`);
      run.n.requests++;
      run.waiters = run.waiters.filter((w) => (run.n.requests >= w.at ? (w.done(), false) : true));
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status === 410 && target !== 'latest' && run.toCollect.has(target)) {
        run.n.gone++;
        return null;
      }
      if (res.status === 404 && target === 'latest' && nothingYet) return null;
      if (res.status !== 200) throw new Error(`${res.status} for ${target}/${path} from ${base}`);
      if (collectedBefore.has(target)) throw new Error(`200 for ${target}/${path}, collected before the request`);
      return body;
    };
    try {
      const inRelease = await get(`${suitePath}/InRelease`);
      if (!inRelease) return;
      const file = join(dir, `client-${who}.InRelease`);
      await writeFile(file, inRelease);
      const v = await gpgv(keyring, file);
      if (!v.ok) throw new Error(`InRelease of ${target} from ${base} does not verify: ${v.output}`);
      run.n.inRelease++;
      if (target === 'latest') {
        run.latestSeen.add(sha256(inRelease));
        return;
      }
      const entry = parseRelease(clearsignedText(inRelease.toString('utf8'))).sha256.find((e) => e.path === indexPath);
      if (!entry) throw new Error(`${target}: the Release lists no ${indexPath}`);
      let packages: Buffer | null = null;
      for (const p of [`${suitePath}/${indexPath}`, `${suitePath}/main/binary-amd64/by-hash/SHA256/${entry.hash}`]) {
        const body = await get(p);
        if (!body) return;
        if (sha256(body) !== entry.hash) throw new Error(`${target}/${p}: sha256 ${sha256(body)}, the Release lists ${entry.hash}`);
        run.n.indices++;
        packages = body;
      }
      const listed = readPackagesText(packages!, `${target}/${indexPath}`);
      for (let k = 0; k < 2; k++) {
        const pkg = listed[Math.floor(Math.random() * listed.length)]!;
        const body = await get(pkg.filename);
        if (!body) return;
        if (sha256(body) !== pkg.sha256) throw new Error(`${target}/${pkg.filename}: sha256 ${sha256(body)}, Packages lists ${pkg.sha256}`);
        run.n.pool++;
      }
    } catch (e) {
      run.torn.push((e as Error).message);
    }
  }

  async function client(run: Run, who: number): Promise<void> {
    for (let i = 0; !run.stop; i++) {
      const base = readerUrls[(who + i) % 2]!;
      const target = i % 3 === 0 || run.serials.length === 0 ? 'latest' : run.serials[Math.floor(Math.random() * run.serials.length)]!;
      await readOnce(run, who, base, target);
    }
  }

  /**
   * Until both readers answer latest/ with this serial's InRelease: a reader trusts its last look at
   * the catalog's latest for up to a second (reader-s3.ts), so this asks again until they do (requests,
   * not a timer; bounded).
   */
  const readersServe = async (serial: string): Promise<void> => {
    for (const base of readerUrls) {
      for (let i = 0; ; i++) {
        const res = await fetch(`${base}/debian/latest/${suitePath}/InRelease`);
        if (sha256(Buffer.from(await res.arrayBuffer())) === inReleaseOf.get(serial)) break;
        assert.ok(i < 20_000, `${base} never served ${serial} as latest`);
      }
    }
  };

  const moreRequests = (run: Run, count: number) => new Promise<void>((done) => run.waiters.push({ at: run.n.requests + count, done }));

  it('publishes five serials and collects two while eight clients read through both readers without a torn state', { timeout: 900_000 }, async (t) => {
    const run: Run = { stop: false, serials: [], toCollect: new Set(), collected: new Set(), latestSeen: new Set(), torn: [], n: { requests: 0, inRelease: 0, indices: 0, pool: 0, gone: 0 }, waiters: [] };
    const started = Date.now();
    const clients = Array.from({ length: 8 }, (_, i) => client(run, i));
    try {
      for (let i = 0; i < 5; i++) {
        if (i > 0) await churnUpstream();
        const r = await api('POST', '/archives/debian/snapshots?wait=1');
        assert.equal(r.status, 201, JSON.stringify(r.body));
        const serial = r.body.serial as string;
        // The operation is reported done only once the export committed: the catalog has it as latest.
        assert.equal(await catalog.latest('debian'), serial);
        inReleaseOf.set(serial, sha256(await readerInRelease(readerUrls[0]!, serial)));
        // A reader trusts its last look at latest for up to a second (a 404 before the first
        // publication included): clients read through latest/ once both readers serve this one.
        await readersServe(serial);
        run.serials.push(serial);
        await moreRequests(run, 30);
      }
      // gc needs the serials expired: the writer restarts with its clock 12 days ahead (lifetime 10d).
      await writer!.stop();
      writer = await startWriter({ APTFREEZE_TEST_NOW: `+${12 * DAY}` });
      for (const s of run.serials.slice(0, 2)) run.toCollect.add(s);
      const gc = await api('POST', '/gc?wait=1');
      assert.equal(gc.status, 200, JSON.stringify(gc.body));
      assert.deepEqual(gc.body.collected.map((c: { serial: string }) => c.serial).sort(), [...run.toCollect].sort(), 'keep 3: the two oldest');
      const unreferenced = new Set(await catalog.gc().unreferenced());
      for (const s of run.toCollect) {
        assert.ok((await catalog.serial('debian', s))?.collectedAt, `${s} collected in the catalog`);
        // The object store's gc ran after it (marked, not deleted: the grace period is an hour).
        assert.ok(unreferenced.has(inReleaseOf.get(s)!), `the InRelease object of ${s} is marked unreferenced`);
        assert.equal(await bucketBlobs.has(inReleaseOf.get(s)!), true);
        run.collected.add(s);
      }
      await moreRequests(run, 120);
    } finally {
      run.stop = true;
      await Promise.all(clients);
    }
    const ms = Date.now() - started;
    t.diagnostic(`${run.serials.length} serials published, 2 collected, in ${ms} ms; 8 clients made ${run.n.requests} requests: ${run.n.inRelease} InRelease verified by gpgv, ${run.n.indices} indices and ${run.n.pool} pool files matched their hashes, ${run.n.gone} answered 410`);
    assert.deepEqual(run.torn, []);
    assert.ok(run.n.inRelease >= 50 && run.n.indices >= 20 && run.n.pool >= 20, JSON.stringify(run.n));
    assert.ok(run.n.gone > 0, 'the collected serials were asked for and answered 410');
    const known = new Set(inReleaseOf.values());
    assert.deepEqual([...run.latestSeen].filter((h) => !known.has(h)), [], 'every InRelease read through latest/ is the InRelease of a published serial');
    for (const base of readerUrls) assert.equal((await fetch(`${base}/debian/${run.serials[0]}/${suitePath}/InRelease`)).status, 410);
  });

  it('keeps both readers on the previous latest when the writer is killed at five points mid-publish; each restart reconciles; fsck is clean', { timeout: 900_000 }, async (t) => {
    const clock = { APTFREEZE_TEST_NOW: `+${12 * DAY}` };
    // Before the catalog's transaction: in the snapshot (pool download, tree committed but not
    // recorded, recorded but latest not moved) and in its export (an object uploaded, all uploaded).
    const points: Array<{ at: string; recordedLocally: boolean }> = [
      { at: 'pool', recordedLocally: false },
      { at: 'record', recordedLocally: false },
      { at: 'latest', recordedLocally: true },
      { at: 'export-upload', recordedLocally: true },
      { at: 'export-commit', recordedLocally: true },
    ];
    const restarts: number[] = [];
    for (const p of points) {
      await churnUpstream();
      const prev = await catalog.latest('debian');
      assert.ok(prev);
      await readersServe(prev);
      await writer!.stop();
      writer = await startWriter({ ...clock, APTFREEZE_TEST_KILL_AT: p.at });
      await fetch(`${writerUrl}/api/archives/debian/snapshots`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(() => null);
      assert.equal(await writer.exited, 128, `killed at ${p.at}: ${writer.output().stderr}`);
      assert.equal(await catalog.latest('debian'), prev, `${p.at}: the catalog's latest did not move`);
      for (const base of readerUrls) {
        const res = await fetch(`${base}/debian/latest/${suitePath}/InRelease`);
        assert.equal(res.status, 200);
        assert.equal(sha256(Buffer.from(await res.arrayBuffer())), inReleaseOf.get(prev), `${p.at}: ${base} serves the previous latest`);
      }
      const t0 = Date.now();
      writer = await startWriter(clock);
      restarts.push(Date.now() - t0);
      // `listening` comes after the start's reconcile: the catalog says what the working copy says.
      const mine = await localLatest();
      assert.equal(await catalog.latest('debian'), mine, `${p.at}: reconciled at restart`);
      assert.equal(mine !== prev, p.recordedLocally, `${p.at}: a new serial ${p.recordedLocally ? 'was' : 'was not'} recorded before the kill`);
      inReleaseOf.set(mine!, sha256(await readerInRelease(readerUrls[1]!, mine!)));
      const again = await api('POST', '/archives/debian/snapshots?wait=1');
      assert.equal(again.status, 201, `${p.at}: the next snapshot: ${JSON.stringify(again.body)}\n${writer.output().stderr.slice(-4000)}`);
      assert.equal(await catalog.latest('debian'), again.body.serial);
      inReleaseOf.set(again.body.serial, sha256(await readerInRelease(readerUrls[0]!, again.body.serial)));
    }
    t.diagnostic(`restart (reconcile included) took ${restarts.join(', ')} ms`);
    // A freeze is exported as a re-signing: the catalog's row and the readers' InRelease change together.
    const frozen = (await catalog.latest('debian'))!;
    const until = new Date(Date.now() + 60 * DAY).toISOString().slice(0, 10);
    const freeze = await api('POST', `/archives/debian/serials/${frozen}/freeze`, { until, reason: 'acceptance 2' });
    assert.equal(freeze.status, 200, JSON.stringify(freeze.body));
    const row = (await catalog.serial('debian', frozen))!;
    assert.equal(row.frozen, true);
    assert.equal(row.validUntil?.slice(0, 10), until);
    for (const base of readerUrls) {
      const text = await readerInRelease(base, frozen);
      assert.notEqual(sha256(text), inReleaseOf.get(frozen), `${base}: the re-signed InRelease`);
      const file = join(dir, 'frozen.InRelease');
      await writeFile(file, text);
      assert.equal((await gpgv(keyring, file)).ok, true);
      assert.equal(parseRelease(clearsignedText(text.toString('utf8'))).validUntil?.toISOString().slice(0, 10), until);
    }
    // Every serial of the working copy is in the catalog as it is there.
    const serials = (await api('GET', '/archives/debian/serials')).body.serials as Array<{ serial: string; state: string }>;
    for (const s of serials) {
      const row = await catalog.serial('debian', s.serial);
      assert.ok(row, `${s.serial} in the catalog`);
      assert.equal(Boolean(row.collectedAt), s.state === 'collected', `${s.serial}: ${s.state}`);
    }
    assert.equal(await writer!.stop(), 0);
    writer = null;
    const fsck = await runCli(['--config', configPath, '--data', dataDir, 'fsck', '--json'], { env, timeoutMs: 120_000 });
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    const problems = (JSON.parse(fsck.stdout) as { problems: Array<{ kind: string; severity: string }> }).problems;
    assert.deepEqual(problems.filter((p) => p.severity === 'error'), []);
    t.diagnostic(`fsck after ${points.length} kills: no error, ${problems.length} other findings (${problems.map((p) => p.kind).join(', ') || 'none'})`);
    const latest = (await catalog.latest('debian'))!;
    const files = await catalog.files('debian', latest);
    assert.ok(files.some((f) => f.path.startsWith('pool/')) && files.some((f) => f.path.endsWith('/InRelease')));
    const missing: string[] = [];
    for (const f of files) if (!(await bucketBlobs.has(f.sha256))) missing.push(f.path);
    assert.deepEqual(missing, [], `every object the catalog's latest ${latest} references is in the bucket`);
    // And the object store's own fsck: every serial of the catalog whole, with every blob at its size.
    const objects = await checkObjectStore(catalog, bucketBlobs);
    assert.deepEqual(objects.findings, []);
    t.diagnostic(`object-store fsck: ${objects.serials} serials, ${objects.files} files, ${objects.blobs} blobs, no finding`);
  });

  it('apt-get updates and downloads through a reader from what the writer published', { timeout: 300_000 }, async () => {
    const apt = createAptClient(join(dir, 'apt'), { sourcesLine: `deb [signed-by=${keyring}] ${readerUrls[1]}/debian/latest/ bookworm main` });
    const update = await apt.update();
    assert.equal(update.code, 0, update.stdout + update.stderr);
    const listed = readPackagesText(Buffer.from(await (await fetch(`${readerUrls[0]}/debian/latest/${suitePath}/${indexPath}`)).arrayBuffer()), indexPath);
    const want = listed.find((p) => p.package === 'pkg0')!;
    const got = await apt.download('pkg0', join(dir, 'apt-out'));
    assert.equal(got.code, 0, got.stdout + got.stderr);
    assert.equal(got.files.length, 1);
    assert.equal(sha256(await readFile(got.files[0]!)), want.sha256);
  });
});
