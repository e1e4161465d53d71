// Issue 15: `aptfreeze migrate-storage` copies an fs data directory (two snapshots of a fixture
// upstream, taken on the default fs + sqlite configuration) to a real Ceph RGW and PostgreSQL,
// fsck clean on both ends; a stateless reader then serves the copied serials byte for byte; run
// again, it copies nothing; a configuration without the target is CONFIG_INVALID.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import YAML from 'yaml';
import { PgPublicationCatalog } from '../server/catalog/pg-publication.ts';
import { S3BlobStore } from '../server/store/s3.ts';
import { createReaderApp } from '../server/http/reader-s3.ts';
import { postgresSource, testPostgres, type TestPostgres } from './helpers/postgres.ts';
import { rgwSource, testS3, type TestS3 } from './helpers/rgw.ts';
import { skipUnless } from './helpers/engines.ts';
import { runCli } from './helpers/service.ts';
import { tmpDir } from './helpers/gpg.ts';
import { sha256 } from './helpers/hash.ts';
import { buildUpstream, churn, createUpstreamKey, makePackages, nextReleaseDate, type FixturePackage, type UpstreamKey } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import type { MigrateReport } from '../server/cli/migrate-storage.ts';

const skip = skipUnless(postgresSource()) || skipUnless(rgwSource());

describe('aptfreeze migrate-storage: an fs data directory to Ceph RGW and PostgreSQL', { skip }, () => {
  let pgEngine: TestPostgres;
  let s3: TestS3;
  let up: UpstreamServer;
  let key: UpstreamKey;
  let dir = '';
  let data = '';
  let plain = '';
  let target = '';
  let dbUrl = '';
  let bucket = '';
  const serials: string[] = [];
  const env: Record<string, string> = {};

  before(async () => {
    [pgEngine, s3] = await Promise.all([testPostgres(), testS3()]);
    dbUrl = await pgEngine.newDatabase('migrate');
    bucket = await s3.newBucket('migrate');
    dir = await tmpDir('af-migrate');
    key = await createUpstreamKey(join(dir, 'keys'));
    let pkgs: FixturePackage[] = makePackages(10, { payloadBytes: 3000 });
    const build = () => buildUpstream(join(dir, 'upstream'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs, compressions: ['none', 'gz'], validUntil: null, date: nextReleaseDate() }], key);
    await build();
    up = await serveUpstream(join(dir, 'upstream'));
    data = join(dir, 'data');
    const base = { listen: '127.0.0.1:0', archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } } };
    plain = join(dir, 'plain.yaml');
    await writeFile(plain, YAML.stringify(base));
    target = join(dir, 'target.yaml');
    await writeFile(target, YAML.stringify({ ...base, storage: { kind: 's3', endpoint: s3.endpoint, bucket, region: s3.region, prefix: 'm/' }, catalog: { kind: 'postgres' } }));
    Object.assign(env, { APTFREEZE_DATABASE_URL: dbUrl, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });
    for (let i = 0; i < 2; i++) {
      if (i) {
        pkgs = churn(pkgs, 0.3, i);
        await build();
      }
      const r = await runCli(['--config', plain, '--data', data, 'snapshot', 'debian', '--json'], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      serials.push((JSON.parse(r.stdout) as Array<{ serial: string }>)[0]!.serial);
    }
  });
  after(async () => {
    await up?.close();
    await Promise.all([pgEngine?.stop(), s3?.stop()]);
  });

  it('refuses a configuration that names no object store and catalog (CONFIG_INVALID)', async () => {
    const r = await runCli(['--config', plain, '--data', data, 'migrate-storage'], { env, timeoutMs: 120_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^aptfreeze: CONFIG_INVALID: /m);
  });

  it('copies both serials with latest, fsck clean on both ends; a reader serves them byte for byte; a second run copies nothing', async () => {
    const r = await runCli(['--config', target, '--data', data, 'migrate-storage', '--json'], { env, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as MigrateReport;
    const deb = report.archives.find((a) => a.archive === 'debian')!;
    assert.deepEqual(deb.published, serials);
    assert.equal(deb.latest, serials[1]);
    assert.ok(deb.uploaded > 0);
    assert.equal(report.fsck.ok, true, JSON.stringify(report.fsck.errors));
    assert.ok(report.fsck.notes.some((n) => /^object store: 2 serials, /.test(n)), report.fsck.notes.join('\n'));

    const catalog = await PgPublicationCatalog.open(dbUrl);
    const blobs = new S3BlobStore(s3.client, { bucket, prefix: 'm/' });
    const server: Server = createReaderApp({ catalog, blobs, log: { info() {}, warn() {}, error() {}, debug() {} } as never, latestTtlMs: 0 }).listen(0, '127.0.0.1');
    await new Promise((res) => server.once('listening', res));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const serial of serials) {
        for (const rel of ['dists/bookworm/InRelease', 'dists/bookworm/Release', 'dists/bookworm/main/binary-amd64/Packages']) {
          const local = await readFile(join(data, 'public', 'debian', serial, rel));
          const res = await fetch(`${url}/debian/${serial}/${rel}`);
          assert.equal(res.status, 200, `${serial}/${rel}`);
          assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(local), `${serial}/${rel}`);
        }
        const packages = await readFile(join(data, 'public', 'debian', serial, 'dists/bookworm/main/binary-amd64/Packages'), 'utf8');
        const filename = /^Filename: (\S+)$/m.exec(packages)![1]!;
        const pool = await fetch(`${url}/debian/${serial}/${filename}`);
        assert.equal(pool.status, 200, filename);
        assert.equal(sha256(Buffer.from(await pool.arrayBuffer())), sha256(await readFile(join(data, 'public', 'debian', serial, filename))));
      }
      const latest = await fetch(`${url}/debian/latest/dists/bookworm/InRelease`);
      assert.equal(sha256(Buffer.from(await latest.arrayBuffer())), sha256(await readFile(join(data, 'public', 'debian', serials[1]!, 'dists/bookworm/InRelease'))));
    } finally {
      await new Promise((res) => server.close(res));
      await catalog.close();
    }

    const again = await runCli(['--config', target, '--data', data, 'migrate-storage', '--json'], { env, timeoutMs: 300_000 });
    assert.equal(again.code, 0, again.stderr);
    const second = JSON.parse(again.stdout) as MigrateReport;
    assert.deepEqual(second.archives.find((a) => a.archive === 'debian')!.published, []);
    assert.equal(second.archives.find((a) => a.archive === 'debian')!.uploaded, 0);
    assert.equal(second.fsck.ok, true);

    const audit = await runCli(['--config', plain, '--data', data, 'audit', '--json'], { timeoutMs: 120_000 });
    assert.equal(audit.code, 0, audit.stderr);
    assert.match(audit.stdout, /"action": ?"migrate-storage"/);
  });
});
