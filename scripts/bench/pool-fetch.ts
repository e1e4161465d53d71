// The pool downloads of a first snapshot, alone (issue 16: "the first snapshot at the network's
// pace"): N small files, the bench generator's .debs, served by nginx on 127.0.0.1, fetched by the
// service's own pool step (server/snapshot/fetch-pool.ts `fetchPool`: the Fetcher, the size and
// sha256 checks, the store's writes, the new pool tree linked while downloading) into a fresh data
// directory; then the store's flush barrier, the one a snapshot passes before its commit. Prints
// files/s and MB/s, and nginx's own rate on one small file with wrk for reference.
//
//   node --import tsx scripts/bench/pool-fetch.ts [--files N] [--concurrency N] [--seconds S]
//        [--profile FILE.cpuprofile] [--dir DIR] [--keep]
//
// --profile records a V8 CPU profile of the download step only (node:inspector), and prints its
// summary. Everything listens on 127.0.0.1; nginx and the work directory go at the end (and, through
// the bench's watchdog, if this process is killed).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { loadConfigFile } from '../../server/config/load.ts';
import { silentLogger } from '../../server/log.ts';
import { Fetcher } from '../../server/mirror/fetch.ts';
import { openServices } from '../../server/services.ts';
import { fetchPool } from '../../server/snapshot/fetch-pool.ts';
import { writeRefs } from '../../server/snapshot/refs.ts';
import { snapshotContext } from '../../server/snapshot/service.ts';
import type { ParsedSnapshot, PoolRef } from '../../server/snapshot/types.ts';
import { fsBlobFiles } from '../../server/store/fs-links.ts';
import { createKey } from './keys.ts';
import { generateUpstream, poolFileNear } from './generate.ts';
import { startNginx } from './nginx.ts';
import { freePort } from './net.ts';
import { cleanupAll, startWatchdog } from './proc.ts';
import { summariseProfile, formatProfile } from './profile.ts';
import { wrk, type WrkResult } from './wrk.ts';

export interface PoolFetchResult {
  files: number;
  bytes: number;
  /** the pool step (fetchPool), first request to last file stored and linked */
  ms: number;
  filesPerSec: number;
  /** 10^6 bytes a second */
  mbPerSec: number;
  /** the flush barrier after it (one syncfs of the store) */
  flushMs: number;
  requests: number;
  retries: number;
  concurrency: number;
}

export interface PoolFetchOptions {
  /** the upstream's root URL (http://127.0.0.1:<port>/…), where `files` paths are served */
  url: string;
  files: PoolRef[];
  /** a fresh directory for the service's configuration and data directory */
  dir: string;
  /** any readable keyring (the configuration requires one; the pool step does not read it) */
  keyring: string;
  /** fetch.concurrency; the configuration's default when absent */
  concurrency?: number;
  /** called around the measured step (a CPU profile) */
  around?: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** The service's pool step over `files`, timed, into a fresh data directory under `dir`. */
export async function measurePoolFetch(o: PoolFetchOptions): Promise<PoolFetchResult> {
  mkdirSync(o.dir, { recursive: true });
  const configPath = path.join(o.dir, 'aptfreeze.yaml');
  const raw: Record<string, unknown> = {
    archives: { bench: { url: o.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: o.keyring } },
  };
  if (o.concurrency) raw['fetch'] = { concurrency: o.concurrency };
  writeFileSync(configPath, YAML.stringify(raw));
  const config = loadConfigFile(configPath);
  const services = await openServices({ config, dataDir: path.join(o.dir, 'data'), log: silentLogger });
  const fetcher = new Fetcher(config.fetch);
  try {
    const ctx = snapshotContext(services);
    const heads = new Map([['bookworm/main/binary-amd64/Packages', (await writeRefs(services.store, o.files, null)).sha256]]);
    // What the parse step hands the pool step of a first snapshot; the pool step reads only the
    // refs heads and the (absent) previous serial, not the provenance change.
    const parsed: ParsedSnapshot = { previousSerial: null, previous: null, heads, filtered: [], provenance: null as unknown as ParsedSnapshot['provenance'] };
    const around = o.around ?? ((fn) => fn());
    const t0 = performance.now();
    const pool = await around(() => fetchPool({ ctx, archive: config.archives[0]!, fetcher }, parsed));
    const ms = performance.now() - t0;
    const t1 = performance.now();
    fsBlobFiles(services.store).flush();
    const flushMs = performance.now() - t1;
    const unique = new Map(o.files.map((f) => [f.sha256, f.size]));
    let stored = 0;
    for (const sha of unique.keys()) if (await services.store.has(sha)) stored++;
    if (pool.fetched !== unique.size || stored !== unique.size) throw new Error(`fetched ${pool.fetched}, stored ${stored} of ${unique.size} files`);
    const bytes = [...unique.values()].reduce((a, b) => a + b, 0);
    return {
      files: unique.size,
      bytes,
      ms,
      filesPerSec: unique.size / (ms / 1000),
      mbPerSec: bytes / 1e6 / (ms / 1000),
      flushMs,
      requests: fetcher.stats.requests,
      retries: fetcher.stats.retries,
      concurrency: config.fetch.concurrency,
    };
  } finally {
    await fetcher.close();
    services.close();
  }
}

/** A CPU profile of what `fn` runs, written to `file` (node:inspector: only the measured step, not the setup). */
export function profiled(file: string) {
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    try {
      return await fn();
    } finally {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    }
  };
}

function args(argv: string[]) {
  const o = { files: 20_000, concurrency: undefined as number | undefined, seconds: 5, profile: undefined as string | undefined, dir: os.tmpdir(), keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--files') o.files = Number(next());
    else if (a === '--concurrency') o.concurrency = Number(next());
    else if (a === '--seconds') o.seconds = Number(next());
    else if (a === '--profile') o.profile = path.resolve(next());
    else if (a === '--dir') o.dir = path.resolve(next());
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown option ${a} (--files N, --concurrency N, --seconds S, --profile FILE, --dir DIR, --keep)`);
  }
  if (!Number.isSafeInteger(o.files) || o.files < 1) throw new Error('--files: a positive number');
  return o;
}

async function main(): Promise<void> {
  const o = args(process.argv.slice(2));
  const say = (m: string) => process.stderr.write(`${m}\n`);
  mkdirSync(o.dir, { recursive: true });
  const work = mkdtempSync(path.join(o.dir, 'aptfreeze-pool-fetch-'));
  const cleanup = () => {
    cleanupAll();
    if (!o.keep) rmSync(work, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => process.exit(130));
  startWatchdog(work);

  const key = await createKey(path.join(work, 'keys'), 'Pool Fetch Upstream');
  const upRoot = path.join(work, 'upstream');
  const gen = await generateUpstream(upRoot, key, { packages: o.files });
  const files: PoolRef[] = gen.state.packages.map((p) => ({ path: p.filename, size: p.size, sha256: p.sha256 }));
  say(`generated ${files.length} .debs (${(gen.stats.poolBytesWritten / 1e6).toFixed(1)} MB) in ${(gen.stats.ms / 1000).toFixed(1)} s`);
  const port = await freePort();
  const nginx = await startNginx(path.join(work, 'nginx'), [{ port, root: upRoot }]);
  const url = nginx.urls[0]!;
  let reference: WrkResult | null = null;
  try {
    const small = poolFileNear(gen.state, 2048);
    reference = await wrk(`${url}/${small.filename}`, { seconds: o.seconds, expectBytes: small.size, warmupSeconds: 1 });
    say(reference.ok ? `nginx, one small file (${small.size} B) with wrk: ${Math.round(reference.requestsPerSec)} files/s` : `wrk: ${reference.error}`);
  } catch (e) {
    say(`wrk: ${(e as Error).message} (no reference figure)`);
  }
  try {
    const r = await measurePoolFetch({ url, files, dir: path.join(work, 'aptfreeze'), keyring: key.keyringPath, concurrency: o.concurrency, around: o.profile ? profiled(o.profile) : undefined });
    process.stdout.write(
      [
        `pool downloads: ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB in ${(r.ms / 1000).toFixed(2)} s: ${Math.round(r.filesPerSec)} files/s, ${r.mbPerSec.toFixed(1)} MB/s (fetch.concurrency ${r.concurrency}; ${r.requests} requests, ${r.retries} retries)`,
        `flush barrier after them (syncfs): ${Math.round(r.flushMs)} ms`,
        `nginx reference (wrk, 1 small file, 32 connections): ${reference?.ok ? `${Math.round(reference.requestsPerSec)} files/s` : 'n/a'}`,
        '',
      ].join('\n'),
    );
    if (o.profile) process.stdout.write(`${formatProfile(await summariseProfile(o.profile))}\n(profile: ${o.profile})\n`);
  } finally {
    await nginx.stop();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // V8 as the service runs it (bin/aptfreeze.js), before the measured code is compiled.
  if (process.env['APTFREEZE_V8_DEFAULTS'] !== '1') v8.setFlagsFromString('--optimize-for-size');
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`pool-fetch: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
