// A real S3 endpoint for the tests: Ceph's RADOS Gateway on a one-node Ceph cluster (one monitor,
// one OSD on memstore, radosgw), all on 127.0.0.1, in a temp directory. See engines.ts for where
// the cluster comes from (the environment under .ci/run, else one of the test file's own).
//
// What a one-node test cluster needs (Ceph 16.2, Debian 12), learnt the hard way:
// - auth `none` on all three sides, plus `ms mon client mode = crc secure`: without it radosgw
//   never connects to the monitor (`get_initial_auth_request returned -13`);
// - msgr v1 only on a port of our own (`ms bind msgr2 = false`, `mon host = v1:127.0.0.1:<port>`),
//   so two clusters on one machine do not fight over 3300/6789;
// - pool size 1 and `mon allow pool size one` (one OSD), `osd crush chooseleaf type = 0`;
// - `osd objectstore = memstore`: no disk to prepare; the data lives in the OSD's memory (capped);
// - no ceph-mgr is needed for S3; `ceph -s` then warns, which does not matter;
// - radosgw creates its pools on its first start, so it answers HTTP a few seconds after the OSD is up;
// - S3 bucket names need 3 characters or more.
// Started this way it takes ~12-20 s on two shared cores and idles at ~120 MB.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './release.ts';
import { engineSource, startDaemonProcess, stopInReverse, tool, waitFor, type EngineSource } from './engines.ts';
import { tmpDir } from './gpg.ts';

/** Where an S3 endpoint is, and the credentials of its test user. */
export interface S3Endpoint {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface RgwCluster extends S3Endpoint {
  dir: string;
  pids: number[];
  stop(): Promise<void>;
}

/** The environment through which .ci/run hands its cluster to the test files. */
export const rgwEnv = {
  endpoint: 'APTFREEZE_TEST_S3_ENDPOINT',
  accessKeyId: 'APTFREEZE_TEST_S3_ACCESS_KEY_ID',
  secretAccessKey: 'APTFREEZE_TEST_S3_SECRET_ACCESS_KEY',
} as const;

export const rgwBinaries = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'];

export function rgwSource(env: NodeJS.ProcessEnv = process.env): EngineSource {
  return engineSource('Ceph RGW (radosgw, ceph-mon, ceph-osd)', Object.values(rgwEnv), rgwBinaries, env);
}

/** The region name signed into requests; RGW accepts any for its default zonegroup. */
const region = 'us-east-1';

/**
 * Starts a one-node Ceph cluster with radosgw in `dir` and makes an S3 user. A start that fails is
 * tried once more from scratch: Ceph 16's OSD now and then asks the monitor before it knows the
 * cluster's fsid and exits ("mon_cmd_maybe_osd_create fail: 'wrong fsid'"), seen once in ~15 starts.
 */
export async function startRgw(dir: string, opts: { memstoreBytes?: number; timeoutMs?: number } = {}): Promise<RgwCluster> {
  try {
    return await startRgwOnce(dir, opts);
  } catch {
    return startRgwOnce(join(dir, 'again'), opts);
  }
}

async function startRgwOnce(dir: string, opts: { memstoreBytes?: number; timeoutMs?: number }): Promise<RgwCluster> {
  const fsid = randomUUID();
  const monPort = await freePort();
  const rgwPort = await freePort();
  const conf = join(dir, 'ceph.conf');
  for (const d of ['run', 'log', 'mon-a', 'osd-0', 'rgw']) await mkdir(join(dir, d), { recursive: true });
  await writeFile(
    conf,
    `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
mon initial members = a
public addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd class update on start = false
osd crush update on start = false
osd objectstore = memstore
memstore device bytes = ${opts.memstoreBytes ?? 1 << 30}
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
mon data = ${dir}/mon-$id
osd data = ${dir}/osd-$id

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
`,
  );
  const pids: number[] = [];
  const cluster: RgwCluster = {
    dir,
    pids,
    endpoint: `http://127.0.0.1:${rgwPort}`,
    region,
    accessKeyId: `AF${randomBytes(9).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64url'),
    // radosgw, then the OSD, then the monitor: all at once, radosgw waits ~10 s for a monitor that is gone.
    stop: () => stopInReverse(pids),
  };
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const out = (name: string) => join(dir, 'log', `${name}.out`);
  try {
    await tool('monmaptool', ['--create', '--add', 'a', `v1:127.0.0.1:${monPort}`, '--fsid', fsid, join(dir, 'monmap')]);
    await tool('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')]);
    pids.push(startDaemonProcess('ceph-mon', ['-f', '-c', conf, '-i', 'a'], out('mon.a')));
    // Each step waits for the one before to be really there: a monitor that answers before it leads
    // its quorum refuses commands (EPERM), and a radosgw started before any OSD is up may exit.
    const ceph = (...args: string[]) => tool('ceph', ['-c', conf, '--connect-timeout', '10', ...args], { timeoutMs: 20_000 });
    const logs = (...names: string[]) => names.flatMap((n) => [out(n), join(dir, 'log', `${n}.log`)]);
    await waitFor('ceph-mon', async () => JSON.parse(await tool('ceph', ['--admin-daemon', join(dir, 'run', 'mon.a.asok'), 'mon_status'])).state === 'leader', { timeoutMs, pids, logs: logs('mon.a') });
    const osdId = (await ceph('osd', 'create')).trim();
    await tool('ceph-osd', ['-c', conf, '-i', osdId, '--mkfs']);
    // Placed in the CRUSH map here rather than by the OSD at its start: an OSD that asks the monitor
    // itself (osd crush update on start) may ask before it knows the cluster's fsid and exit
    // ("mon_cmd_maybe_osd_create fail: 'wrong fsid'"), which on a quiet machine happened on most starts.
    await ceph('osd', 'crush', 'add-bucket', 'localhost', 'host');
    await ceph('osd', 'crush', 'move', 'localhost', 'root=default');
    await ceph('osd', 'crush', 'add', `osd.${osdId}`, '1.0', 'host=localhost');
    pids.push(startDaemonProcess('ceph-osd', ['-f', '-c', conf, '-i', osdId], out(`osd.${osdId}`)));
    await waitFor('ceph-osd', async () => JSON.parse(await ceph('osd', 'stat', '-f', 'json')).num_up_osds === 1, { timeoutMs, everyMs: 500, pids, logs: logs('mon.a', `osd.${osdId}`) });
    pids.push(startDaemonProcess('radosgw', ['-f', '-c', conf, '-n', 'client.rgw'], out('client.rgw')));
    await waitFor('radosgw', async () => (await fetch(cluster.endpoint)).status === 200, { timeoutMs, pids, logs: logs('mon.a', `osd.${osdId}`, 'client.rgw') });
    await tool('radosgw-admin', ['-c', conf, 'user', 'create', '--uid=aptfreeze-test', '--display-name=aptfreeze tests', `--access-key=${cluster.accessKeyId}`, `--secret-key=${cluster.secretAccessKey}`]);
    return cluster;
  } catch (e) {
    await stopInReverse(pids);
    throw e;
  }
}

/** The S3 endpoint a test file uses, a client for it, and fresh buckets. */
export interface TestS3 extends S3Endpoint {
  client: S3Client;
  /** Creates a bucket no other test file uses. */
  newBucket(label: string): Promise<string>;
  /** Stops the cluster if this file started it. */
  stop(): Promise<void>;
}

/** The suite's cluster from the environment, or one of this file's own (see engines.ts). */
export async function testS3(env: NodeJS.ProcessEnv = process.env): Promise<TestS3> {
  let ep: S3Endpoint;
  let stop = async () => {};
  if (rgwSource(env).kind === 'env') {
    ep = { endpoint: env[rgwEnv.endpoint]!, region, accessKeyId: env[rgwEnv.accessKeyId]!, secretAccessKey: env[rgwEnv.secretAccessKey]! };
  } else {
    const cluster = await startRgw(await tmpDir('af-rgw'));
    ep = cluster;
    stop = cluster.stop;
  }
  const client = new S3Client({
    endpoint: ep.endpoint,
    region: ep.region,
    forcePathStyle: true,
    credentials: { accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    ...ep,
    client,
    async newBucket(label) {
      const name = `af-${label.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 30)}-${randomBytes(5).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    async stop() {
      client.destroy();
      await stop();
    },
  };
}
