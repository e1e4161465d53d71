// The engines the test suite needs past one machine, started once for the whole suite by .ci/run:
// a one-node Ceph cluster with radosgw (S3) and a throwaway PostgreSQL, on loopback ports, in a
// directory of the caller's. Test files find them through the environment (test/helpers/engines.ts).
//
//   node --import tsx scripts/test-engines.ts start <dir>   prints `export NAME=value` lines for eval
//   node --import tsx scripts/test-engines.ts stop <dir>    stops every daemon it started, by pid
//   … start <dir> --bucket <name>   also makes that bucket and prints what aptfreeze itself reads
//                                   (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, APTFREEZE_DATABASE_URL,
//                                   APTFREEZE_S3_ENDPOINT): README "Running past one machine", on one
//                                   machine. A throwaway cluster (memstore OSD: data in memory only).
//
// The daemons are detached: they outlive this script until `stop`. Their pids are in <dir>/pids.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startRgw, rgwEnv, type RgwCluster } from '../test/helpers/rgw.ts';
import { startPostgres, postgresEnv, type PgCluster } from '../test/helpers/postgres.ts';
import { stopInReverse } from '../test/helpers/engines.ts';

async function start(dir: string, bucket?: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  // PostgreSQL runs as its own user under root (test/helpers/postgres.ts): it must reach <dir>/pg.
  await chmod(dir, 0o755);
  const started = Date.now();
  // In parallel: PostgreSQL's few seconds hide inside Ceph's start.
  const [rgw, pg] = await Promise.allSettled([startRgw(join(dir, 'rgw')), startPostgres(join(dir, 'pg'))]);
  const pids = [...(rgw.status === 'fulfilled' ? rgw.value.pids : []), ...(pg.status === 'fulfilled' ? [pg.value.pid] : [])];
  await writeFile(join(dir, 'pids'), pids.map((p) => `${p}\n`).join(''));
  if (rgw.status === 'rejected' || pg.status === 'rejected') {
    await stopInReverse(pids);
    for (const r of [rgw, pg]) if (r.status === 'rejected') process.stderr.write(`test-engines: ${(r.reason as Error).message}\n`);
    process.exit(1);
  }
  const s3: RgwCluster = rgw.value;
  const db: PgCluster = pg.value;
  const exports: Record<string, string> = {
    [rgwEnv.endpoint]: s3.endpoint,
    [rgwEnv.accessKeyId]: s3.accessKeyId,
    [rgwEnv.secretAccessKey]: s3.secretAccessKey,
    [postgresEnv.url]: db.url,
  };
  if (bucket) {
    const { CreateBucketCommand, S3Client } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
    Object.assign(exports, { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, APTFREEZE_DATABASE_URL: db.url, APTFREEZE_S3_ENDPOINT: s3.endpoint });
  }
  for (const [k, v] of Object.entries(exports)) process.stdout.write(`export ${k}='${v}'\n`);
  process.stderr.write(`test-engines: Ceph RGW at ${s3.endpoint}, PostgreSQL at ${db.url}, up in ${((Date.now() - started) / 1000).toFixed(1)} s (pids ${pids.join(' ')})\n`);
}

async function stop(dir: string): Promise<void> {
  const text = await readFile(join(dir, 'pids'), 'utf8').catch(() => '');
  const pids = text.split('\n').filter(Boolean).map(Number);
  // The reverse of the start order: PostgreSQL, then radosgw, the OSD and the monitor.
  await stopInReverse(pids);
  process.stderr.write(`test-engines: stopped ${pids.length} daemons\n`);
}

const [verb, dir, flag, bucket] = process.argv.slice(2);
if ((verb !== 'start' && verb !== 'stop') || !dir || (flag !== undefined && (verb !== 'start' || flag !== '--bucket' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket ?? '')))) {
  process.stderr.write('usage: test-engines.ts start <dir> [--bucket <name>] | stop <dir>\n');
  process.exit(2);
}
await (verb === 'start' ? start(resolve(dir), bucket) : stop(resolve(dir)));
// Done: a keep-alive socket of the readiness checks must not hold the caller's `eval "$(…)"` open.
process.exit(0);
