import { createServer, type Server } from 'node:http';
import cron from 'node-cron';
import type { Services } from './services.ts';
import { createApp } from './http/app.ts';
import { fastTreeHandler } from './http/fast-static.ts';
import { archiveTest } from './http/static.ts';
import { snapshotService } from './snapshot/service.ts';
import { scheduleGc } from './release/schedule.ts';

export interface Daemon {
  /** Null when this process runs only the schedules (the primary of `serve --workers N`). */
  server: Server | null;
  url: string;
  stop(): Promise<void>;
}

/**
 * The composition root of `aptfreeze serve`: HTTP server and the schedule.
 * A scheduled run that fails is logged with its cause; the next tick retries.
 */
export async function startDaemon(s: Services, opts: { schedule?: boolean; http?: boolean } = {}): Promise<Daemon> {
  const snapshot = snapshotService(s);
  let server: Server | null = null;
  if (opts.http !== false) {
    const app = createApp({ ...s, snapshot });
    const isArchive = archiveTest(s.config.archives.map((a) => a.name), s.publisher.root);
    const fast = fastTreeHandler(s.publisher.root, s.repo, isArchive, app);
    // A repository's kept .buildinfo files are not under a serial: express serves them (server/http/upload-routes.ts).
    const srv = createServer({ keepAliveTimeout: 65_000 }, (req, res) => (/^\/[^/]+\/buildinfo\//.test(req.url ?? '') ? app(req, res) : fast(req, res)));
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
  return {
    server,
    url,
    async stop() {
      for (const t of tasks) await t.stop();
      if (!server) return;
      const srv = server;
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}
