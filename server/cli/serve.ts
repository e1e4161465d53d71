import type { Command } from 'commander';
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { servicesFrom, type GlobalOptions } from './context.ts';
import { startDaemon } from '../main.ts';
import { AptfreezeError } from '../errors.ts';
import { serveClusterMetrics } from '../metrics/cluster.ts';

/**
 * `serve`: with --workers N > 1 (the default is the number of CPUs, at most 4),
 * the primary process runs the schedules and N workers share the listening
 * socket and serve HTTP (the kernel spreads connections: SCHED_NONE). Each
 * worker has its own database handle; cross-process locks keep one snapshot of
 * an archive at a time.
 */
export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('serve')
    .description('run the daemon: the HTTP server and the snapshot schedule')
    .option('--listen <host:port>', "override the configuration's listen address")
    .option('--workers <n>', 'HTTP worker processes (default: CPUs, at most 4; 1 serves from this process)')
    .action(async (opts: { listen?: string; workers?: string }) => {
      const workers = opts.workers === undefined ? Math.min(availableParallelism(), 4) : Number(opts.workers);
      if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new AptfreezeError('BAD_REQUEST', `--workers ${opts.workers}: expected a whole number from 1 to 64`);
      const role = process.env['APTFREEZE_SERVE_ROLE'];
      const s = await servicesFrom(globals(), { makeAdminToken: role !== 'http', listen: opts.listen });
      let stopping = false;
      if (workers > 1 && cluster.isPrimary) {
        cluster.schedulingPolicy = cluster.SCHED_NONE;
        const fork = () => cluster.fork({ APTFREEZE_SERVE_ROLE: 'http' });
        for (let i = 0; i < workers; i++) fork();
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
        serveClusterMetrics();
        const d = await startDaemon(s, { http: false });
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
      const d = await startDaemon(s, { schedule: role !== 'http' });
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
