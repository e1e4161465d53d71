// Issue 15: `aptfreeze serve --role reader|writer|all`. The reader as a real CLI process on a real
// Ceph RGW and PostgreSQL: it opens and creates no data directory, serves what publishSerial put in
// the bucket and the catalog (bytes, latest/), and stops on SIGTERM. Without the engines: a reader
// on the default fs storage is CONFIG_INVALID, a writer given s3 without postgres (or either without
// its environment) is CONFIG_INVALID before it makes its data directory, and an unknown role is a
// usage error. The writer exporting to the engines: s3-writer-readers.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { PgPublicationCatalog } from '../server/catalog/pg-publication.ts';
import { S3BlobStore } from '../server/store/s3.ts';
import { publishSerial, type SerialFile } from '../server/s3/publish-serial.ts';
import { postgresSource, testPostgres, type TestPostgres } from './helpers/postgres.ts';
import { rgwSource, testS3, type TestS3 } from './helpers/rgw.ts';
import { skipUnless } from './helpers/engines.ts';
import { binPath, repoRoot, runCli } from './helpers/service.ts';
import { tmpDir } from './helpers/gpg.ts';
import { sha256 } from './helpers/hash.ts';
import { startProcess, type ProcessHandle } from './helpers/run.ts';

const sha = sha256;
const entry = (path: string, body: string | Buffer): SerialFile => {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return { path, bytes: async () => bytes, sha256: sha(bytes), size: bytes.length };
};
const deb = Buffer.alloc(200_000, 9);
const serialOf = (n: number): SerialFile[] => [entry('dists/stable/InRelease', `signed Release of serial ${n}`), entry('pool/main/h/hello/hello_1_all.deb', deb)];
const serials = ['2026120501', '2026120502'];

describe('serve --role without the engines', () => {
  it('--role reader on the default fs storage and sqlite catalog is CONFIG_INVALID, and creates no data directory', async () => {
    const dir = await tmpDir('af-role');
    const config = join(dir, 'aptfreeze.yaml');
    await writeFile(config, YAML.stringify({ listen: '127.0.0.1:0', archives: {} }));
    const data = join(dir, 'no-data');
    const r = await runCli(['--config', config, '--data', data, 'serve', '--role', 'reader'], { env: { APTFREEZE_DATABASE_URL: 'postgres://127.0.0.1:1/none' }, timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^aptfreeze: CONFIG_INVALID: /);
    assert.equal(existsSync(data), false);
  });

  it('--role reader with s3 + postgres but no APTFREEZE_DATABASE_URL is CONFIG_INVALID', async () => {
    const dir = await tmpDir('af-role');
    const config = join(dir, 'aptfreeze.yaml');
    await writeFile(config, YAML.stringify({ listen: '127.0.0.1:0', archives: {}, storage: { kind: 's3', endpoint: 'http://127.0.0.1:1', bucket: 'none' }, catalog: { kind: 'postgres' } }));
    const r = await runCli(['--config', config, '--data', join(dir, 'no-data'), 'serve', '--role', 'reader'], { env: { APTFREEZE_DATABASE_URL: '' }, timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^aptfreeze: CONFIG_INVALID: /);
    assert.equal(existsSync(join(dir, 'no-data')), false);
  });

  it('--role writer and the default role refuse s3 without postgres (and the reverse), or either without its environment (CONFIG_INVALID)', async () => {
    const s3 = { storage: { kind: 's3', endpoint: 'http://127.0.0.1:1', bucket: 'none' } };
    const pg = { catalog: { kind: 'postgres' } };
    const full = { APTFREEZE_DATABASE_URL: 'postgres://127.0.0.1:1/none', AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' };
    const cases: [string[], Record<string, unknown>, Record<string, string>][] = [
      [['--role', 'writer'], s3, full],
      [[], s3, full],
      [['--role', 'all'], pg, full],
      [['--role', 'writer'], { ...s3, ...pg }, { ...full, APTFREEZE_DATABASE_URL: '' }],
      [['--role', 'writer'], { ...s3, ...pg }, { ...full, AWS_SECRET_ACCESS_KEY: '' }],
    ];
    for (const [role, extra, env] of cases) {
      const dir = await tmpDir('af-role');
      const config = join(dir, 'aptfreeze.yaml');
      await writeFile(config, YAML.stringify({ listen: '127.0.0.1:0', archives: {}, ...extra }));
      const r = await runCli(['--config', config, '--data', join(dir, 'no-data'), 'serve', '--workers', '1', ...role], { env, timeoutMs: 60_000 });
      assert.equal(r.code, 1, `${role.join(' ')} ${JSON.stringify(extra)}: ${r.stderr}`);
      assert.match(r.stderr, /^aptfreeze: CONFIG_INVALID: /);
      assert.equal(existsSync(join(dir, 'no-data')), false);
    }
  });

  it('--role bogus is a usage error', async () => {
    const dir = await tmpDir('af-role');
    const r = await runCli(['--data', join(dir, 'no-data'), 'serve', '--role', 'bogus'], { timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--role/);
    assert.equal(existsSync(join(dir, 'no-data')), false);
  });
});

const skip = skipUnless(postgresSource()) || skipUnless(rgwSource());

describe('serve --role reader as a process, on Ceph RGW and PostgreSQL', { skip }, () => {
  let pgEngine: TestPostgres;
  let s3: TestS3;
  let child: ProcessHandle;
  let url = '';
  let dataDir = '';
  before(async () => {
    [pgEngine, s3] = await Promise.all([testPostgres(), testS3()]);
    const dbUrl = await pgEngine.newDatabase('serve_role');
    const bucket = await s3.newBucket('serve-role');
    const catalog = await PgPublicationCatalog.open(dbUrl);
    const blobs = new S3BlobStore(s3.client, { bucket, prefix: 'blobs' });
    let prev: string | null = null;
    for (const [i, serial] of serials.entries()) {
      await publishSerial(blobs, catalog, { archive: 'deb', serial, frozen: false, validUntil: null, files: serialOf(i), expectedLatest: prev });
      prev = serial;
    }
    await catalog.close();
    const dir = await tmpDir('af-role');
    dataDir = join(dir, 'no-data');
    const config = join(dir, 'aptfreeze.yaml');
    await writeFile(config, YAML.stringify({ listen: '127.0.0.1:1', archives: {}, storage: { kind: 's3', endpoint: s3.endpoint, bucket, region: s3.region, prefix: 'blobs' }, catalog: { kind: 'postgres' } }));
    child = startProcess(process.execPath, [binPath, '--config', config, '--data', dataDir, 'serve', '--role', 'reader', '--listen', '127.0.0.1:0'], {
      cwd: repoRoot,
      env: { ...process.env, APTFREEZE_LOG: 'warn', APTFREEZE_CONFIG: '', APTFREEZE_DATA: '', APTFREEZE_DATABASE_URL: dbUrl, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
    });
    const line = await child.waitForLine(/^aptfreeze listening on (http:\/\/\S+)$/m, 120_000);
    url = /(http:\/\/\S+)/.exec(line)![1]!;
  });
  after(async () => {
    await child?.stop(0, 'SIGKILL');
    await Promise.all([pgEngine?.stop(), s3?.stop()]);
  });

  it('serves every published file with its bytes, and latest/ resolves to the newest serial', async () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    for (const [i, serial] of serials.entries()) {
      for (const f of serialOf(i)) {
        const res = await fetch(`${url}/deb/${serial}/${f.path}`);
        assert.equal(res.status, 200, f.path);
        assert.equal(sha(Buffer.from(await res.arrayBuffer())), f.sha256, `${serial}/${f.path}`);
      }
    }
    const latest = await fetch(`${url}/deb/latest/dists/stable/InRelease`);
    assert.equal(latest.status, 200);
    assert.equal(await latest.text(), 'signed Release of serial 1');
    const missing = await fetch(`${url}/deb/${serials[0]}/dists/stable/nothing`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  });

  it('created no data directory, and stops cleanly on SIGTERM', async () => {
    assert.equal(existsSync(dataDir), false);
    assert.equal(await child.stop(), 0, child.output().stderr);
  });
});
