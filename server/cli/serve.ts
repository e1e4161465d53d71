import { Option, type Command } from 'commander';
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { configFrom, servicesFrom, withListen, type GlobalOptions } from './context.ts';
import { AptfreezeError } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * The process that runs the schedules and the runner outlives a stray throw:
 * operations run in their own thread (ops/thread-executor.ts), so what is left
 * here is bookkeeping whose state is in the database. A throw or rejection
 * nothing caught is logged and the daemon goes on, rather than stop every
 * worker and schedule with it.
 */
function containStrayErrors(log: Logger): void {
  process.on('uncaughtException', (e) => log.error({ err: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }, 'uncaught error (contained; the daemon goes on)'));
  process.on('unhandledRejection', (e) => log.error({ err: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }, 'unhandled rejection (contained; the daemon goes on)'));
}

/**
 * `serve`: with --workers N > 1 (the default is the number of CPUs, at most 4),
 * the primary process runs the schedules and the operations runner, and N
 * workers share the listening socket and serve HTTP (the kernel spreads
 * connections: SCHED_NONE). Each worker has its own database handle and hands
 * mutations to the primary's runner through the control socket (ops/control.ts).
 */
export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('serve')
    .description('run the daemon: the HTTP server and the snapshot schedule')
    .option('--listen <host:port>', "override the configuration's listen address")
    .option('--workers <n>', 'HTTP worker processes (default: CPUs, at most 4; 1 serves from this process; a reader is one process)')
    .addOption(
      new Option('--role <role>', 'reader: a stateless reader of the S3 store and the PostgreSQL catalog, with no data directory; writer or all: the whole service on the data directory, exporting to S3 + PostgreSQL when configured (the same so far)')
        .choices(['reader', 'writer', 'all'])
        .default('all'),
    )
    .action(async (opts: { listen?: string; workers?: string; role: 'reader' | 'writer' | 'all' }) => {
      if (opts.role === 'reader') return serveReader(globals(), opts);
      const workers = opts.workers === undefined ? Math.min(availableParallelism(), 4) : Number(opts.workers);
      if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new AptfreezeError('BAD_REQUEST', `--workers ${opts.workers}: expected a whole number from 1 to 64`);
      // APTFREEZE_SERVE_ROLE=http: set by the primary on its cluster workers (not the --role of the command line).
      const role = process.env['APTFREEZE_SERVE_ROLE'];
      // Crash recovery is the primary's, done before it forks: an HTTP worker that recovered too
      // would walk the pool trees and hold the archives' locks while the daemon already answers
      // (a freeze right after start was refused with CONFLICT at 20,000 packages).
      const s = await servicesFrom(globals(), { makeAdminToken: role !== 'http', listen: opts.listen, recover: role !== 'http' });
      const [{ startDaemon }, { serveClusterMetrics }] = await Promise.all([import('../main.ts'), import('../metrics/cluster.ts')]);
      let stopping = false;
      if (workers > 1 && cluster.isPrimary) {
        cluster.schedulingPolicy = cluster.SCHED_NONE;
        const fork = () => cluster.fork({ APTFREEZE_SERVE_ROLE: 'http' });
        let announced = false;
        cluster.on('message', (_w, msg: { url?: string }) => {
          if (msg?.url && !announced) {
            announced = true;
            process.stdout.write(`aptfreeze listening on ${msg.url} (${workers} workers)\n`);
          }
        });
        cluster.on('exit', (w, code, signal) => {
          if (stopping) return;
          s.log.error({ worker: w.process.pid, code, signal }, 'HTTP worker died; starting another');
          fork();
        });
        containStrayErrors(s.log);
        // The runner and its control socket first: the workers hand mutations to it.
        serveClusterMetrics();
        const d = await startDaemon(s, { http: false, warmOps: true });
        for (let i = 0; i < workers; i++) fork();
        const stop = async () => {
          stopping = true;
          for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
          await d.stop();
          s.close();
          process.exit(0);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        return;
      }
      if (role !== 'http') containStrayErrors(s.log);
      const d = await startDaemon(s, role === 'http' ? { schedule: false, ops: 'remote' } : { warmOps: true });
      if (role === 'http') process.send?.({ url: d.url });
      else process.stdout.write(`aptfreeze listening on ${d.url}\n`);
      const stop = async () => {
        await d.stop();
        s.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

/**
 * `serve --role reader`: loads the configuration only (no data directory is opened or created),
 * then serves the published tree from the S3 store and the PostgreSQL catalog (serve-reader.ts).
 */
async function serveReader(g: GlobalOptions, opts: { listen?: string; workers?: string }): Promise<void> {
  if (opts.workers !== undefined && opts.workers !== '1') {
    throw new AptfreezeError('BAD_REQUEST', `--workers ${opts.workers}: a reader is one process (expected 1 or no --workers; run more readers to scale)`);
  }
  const config = withListen(await configFrom(g), opts.listen);
  const [{ startReader }, { createLogger }] = await Promise.all([import('./serve-reader.ts'), import('../log.ts')]);
  const log = createLogger();
  const r = await startReader(config, log);
  containStrayErrors(log);
  process.stdout.write(`aptfreeze listening on ${r.url}\n`);
  const stop = async () => {
    await r.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
