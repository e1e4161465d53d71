import { createServer, type Server } from 'node:http';
import cron from 'node-cron';
import type { Services } from './services.ts';
import { createApp } from './http/app.ts';
import { TreeServer, servingCatalog, type TreeServing } from './http/serve-tree.ts';
import { FsTreeSource } from './http/tree-source.ts';
import { snapshotService } from './snapshot/service.ts';
import { scheduleGc } from './release/schedule.ts';
import { firstRun } from './first-run.ts';

export interface Daemon {
  /** Null when this process runs only the schedules (the primary of `serve --workers N`). */
  server: Server | null;
  /** The published tree's serving module (its caches' accounting), null without HTTP. */
  tree: TreeServing | null;
  url: string;
  /** The first run's snapshots (no configuration file), settled when they are done. */
  firstRun: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The composition root of `aptfreeze serve`: HTTP server and the schedule.
 * A scheduled run that fails is logged with its cause; the next tick retries.
 */
export async function startDaemon(s: Services, opts: { schedule?: boolean; http?: boolean; out?: (text: string) => void } = {}): Promise<Daemon> {
  const snapshot = snapshotService(s);
  let server: Server | null = null;
  let tree: TreeServing | null = null;
  if (opts.http !== false) {
    const app = createApp({ ...s, snapshot });
    // The tree first (the hot path, without express); everything else goes to the app.
    const source = new FsTreeSource(s.publisher.root, s.config.archives.map((a) => a.name));
    tree = new TreeServer(source, servingCatalog(s.repo), app, { cacheBytes: s.config.serve.cacheBytes });
    const srv = createServer({ keepAliveTimeout: 65_000 }, tree.handle);
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
  if (opts.schedule !== false) {
    for (const a of s.config.archives) {
      if (!a.schedule) continue;
      tasks.push(
        cron.schedule(a.schedule, async () => {
          try {
            await snapshot(a.name, 'schedule');
          } catch (e) {
            // Logged inside takeSnapshot with its code; a CONFLICT means the previous run is still going.
            s.log.warn({ archive: a.name, err: (e as Error).message }, 'scheduled snapshot failed; retrying at the next tick');
          }
        }, { noOverlap: true, name: `snapshot-${a.name}` }),
      );
    }
    tasks.push(scheduleGc(s));
  }
  if (server) s.log.info({ url, archives: s.config.archives.map((a) => a.name) }, 'aptfreeze serving');
  if (opts.schedule !== false) for (const n of s.config.notes) s.log.warn(n);
  let first: Promise<void> = Promise.resolve();
  if (opts.schedule !== false && s.config.file === null) {
    // No configuration file: the host's defaults have no baseUrl of their own, so the hint names the address we listen on.
    // (The primary of `serve --workers N` has no server of its own: url then comes from the listen address.)
    const hintBase = url.replace('://0.0.0.0:', '://localhost:');
    first = firstRun(s, snapshot, hintBase, opts.out ?? ((t) => process.stdout.write(t)));
  }
  return {
    server,
    tree,
    url,
    firstRun: first,
    async stop() {
      for (const t of tasks) await t.stop();
      if (!server) return;
      const srv = server;
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}
