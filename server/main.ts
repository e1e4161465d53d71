import { createServer, type Server } from 'node:http';
import cron from 'node-cron';
import { recover, systemNow, type Services } from './services.ts';
import { createApp } from './http/app.ts';
import { TreeServer, servingCatalog, type TreeServing } from './http/serve-tree.ts';
import { firstRun } from './first-run.ts';
import type { SnapshotResult } from './snapshot/run.ts';
import { scheduleGc } from './release/schedule.ts';
import { OperationRunner } from './ops/runner.ts';
import { ThreadExecutor } from './ops/thread-executor.ts';
import { localOps, type OpsClient } from './ops/client.ts';
import { controlPath, listenControl, remoteOps } from './ops/control.ts';
import { AptfreezeError, asAptfreezeError } from './errors.ts';
import { HttpMetrics } from './metrics/http.ts';
import { peopleFirst } from './web/mount.ts';

export interface Daemon {
  /** Null when this process runs only the schedules and the runner (the primary of `serve --workers N`). */
  server: Server | null;
  /** The published tree's serving module (its caches' accounting), null without HTTP. */
  tree: TreeServing | null;
  /** The first run's snapshots (no configuration file), settled when they are done. */
  firstRun: Promise<void>;
  url: string;
  /** The operations runner, when this process runs it. */
  runner: OperationRunner | null;
  /** Runs a schedule's tick now, as cron would (`snapshot-<archive>`, `gc`): tests trigger it rather than wait. */
  tick(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  schedule?: boolean;
  http?: boolean;
  /**
   * 'own' (default): this process runs the data directory's one operations runner (a supervised
   * thread) and its control socket; 'remote': an HTTP worker of `serve --workers N`, which hands
   * mutations to its primary through the control socket.
   */
  ops?: 'own' | 'remote';
  /**
   * With ops 'own': start the operations thread and open its data directory before listening
   * (`aptfreeze serve` does; tests leave the thread to start with their first operation).
   */
  warmOps?: boolean;
  /** Where the first run prints the lines to give apt (default stdout). */
  out?: (text: string) => void;
}

/**
 * The composition root of `aptfreeze serve`: HTTP server, the operations
 * runner and the schedules. A scheduled run that fails is logged with its
 * cause; the next tick retries. A tick never overlaps itself.
 */
export async function startDaemon(s: Services, opts: DaemonOptions = {}): Promise<Daemon> {
  let runner: OperationRunner | null = null;
  let control: { close(): Promise<void> } | null = null;
  let ops: OpsClient;
  if (opts.ops === 'remote') ops = remoteOps(controlPath(s.dataDir));
  else {
    // Past one machine: what a writer killed after a local commit had not exported, before it takes operations.
    await s.exporter?.reconcileAtStart();
    runner = new OperationRunner(s, (events) => new ThreadExecutor({ config: s.config, dataDir: s.dataDir, log: s.log, now: s.now, systemClock: s.now === systemNow, events, onCrash: () => recover(s) }));
    try {
      control = await listenControl(s.dataDir, runner, s.log);
    } catch (e) {
      await runner.close();
      throw e;
    }
    ops = localOps(runner);
    // Before listening: the first freeze or snapshot must not pay for the thread's start.
    if (opts.warmOps) await runner.warm();
  }
  let server: Server | null = null;
  let tree: TreeServing | null = null;
  if (opts.http !== false) {
    const metrics = new HttpMetrics();
    const treeRef: { handle?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void } = {};
    const app = createApp({ ...s, ops, metrics, tree: treeRef });
    // The tree first (the hot path, without express); everything else goes to the app; the people's side
    // (/, /web, /metrics, /mr, /file, /archive, /<archive>/<stamp>/) and a repository's kept .buildinfo
    // files (not under a serial: server/http/upload-routes.ts) go to the app before the tree.
    const source = s.publisher.servingSource([...s.config.archives, ...s.config.repositories].map((a) => a.name));
    tree = new TreeServer(source, servingCatalog(s.repo), app, { cacheBytes: s.config.serve.cacheBytes, onCacheHit: metrics.cacheHit });
    const treeHandle = tree.handle;
    treeRef.handle = treeHandle;
    const srv = createServer({ keepAliveTimeout: 65_000 }, metrics.observe(peopleFirst(app, (req, res) => (/^\/[^/]+\/buildinfo\//.test(req.url ?? '') ? app(req, res) : treeHandle(req, res)))));
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(s.config.listen.port, s.config.listen.host, () => resolve());
    });
    server = srv;
  }
  const addr = server?.address();
  const port = typeof addr === 'object' && addr ? addr.port : s.config.listen.port;
  const url = `http://${s.config.listen.host.includes(':') ? `[${s.config.listen.host}]` : s.config.listen.host}:${port}`;
  const tasks: Array<{ stop(): void | Promise<void> }> = [];
  const ticks = new Map<string, () => Promise<void>>();
  if (opts.schedule !== false) {
    for (const a of s.config.archives) {
      if (!a.schedule) continue;
      const name = `snapshot-${a.name}`;
      const tick = guarded(s, name, async () => {
        const { op } = await ops.run({ kind: 'snapshot', params: { archive: a.name }, actor: 'schedule' });
        if (op.error) s.log.warn({ archive: a.name, operation: op.id, code: op.error.code, err: op.error.message }, 'scheduled snapshot failed; retrying at the next tick');
      });
      ticks.set(name, tick);
      tasks.push(cron.schedule(a.schedule, tick, { noOverlap: true, name }));
    }
    const gc = scheduleGc(s, ops);
    ticks.set('gc', gc.tick);
    tasks.push(gc);
    // The snapshot.debian.org tables are brought up to date by the operations thread once it has
    // been idle for a while after a publication (ops/worker.ts), and by any /mr/ or /file/ request
    // before it answers, never at start: at 60,000 packages that start-up catch-up parsed three
    // Packages files in this process while the daemon already answered (freeze through the API
    // 48 → 593 ms, small files 25,900 → 17,900 req/s in the 2026-12-06 bench).
  }
  if (server) s.log.info({ url, archives: s.config.archives.map((a) => a.name) }, 'aptfreeze serving');
  if (opts.schedule !== false) for (const n of s.config.notes) s.log.warn(n);
  let first: Promise<void> = Promise.resolve();
  if (opts.schedule !== false && s.config.file === null) {
    // No configuration file: the host's defaults have no baseUrl of their own, so the hint names the address we listen on.
    // (The primary of `serve --workers N` has no server of its own: url then comes from the listen address.)
    const hintBase = url.replace('://0.0.0.0:', '://localhost:');
    const snapshot = async (archive: string, actor: string): Promise<SnapshotResult> => {
      const { op } = await ops.run({ kind: 'snapshot', params: { archive }, actor });
      if (op.error) throw new AptfreezeError(op.error.code as AptfreezeError['code'], op.error.message);
      return op.result as SnapshotResult;
    };
    first = firstRun(s, snapshot, hintBase, opts.out ?? ((t) => process.stdout.write(t)));
  }
  let stopped = false;
  return {
    server,
    tree,
    firstRun: first,
    url,
    runner,
    async tick(name) {
      const t = ticks.get(name);
      if (!t) throw new Error(`no schedule ${name} (have: ${[...ticks.keys()].join(', ')})`);
      await t();
    },
    async stop() {
      // Idempotent: a harness may stop a daemon it later restarts or closes.
      if (stopped) return;
      stopped = true;
      for (const t of tasks) await t.stop();
      await control?.close();
      await runner?.close();
      if (!server) return;
      const srv = server;
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

/**
 * A schedule's tick: never two at once (cron's noOverlap covers its own
 * ticks; this also covers a tick triggered by hand), and nothing it throws
 * escapes to the timer (a stray throw there would stop the daemon).
 */
function guarded(s: Services, name: string, fn: () => Promise<void>): () => Promise<void> {
  let running = false;
  return async () => {
    if (running) return;
    running = true;
    try {
      await fn();
    } catch (e) {
      const err = asAptfreezeError(e);
      s.log.warn({ schedule: name, code: err.code, err: err.message }, `scheduled ${name} failed; retrying at the next tick`);
    } finally {
      running = false;
    }
  };
}
