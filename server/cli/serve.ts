import type { Command } from 'commander';
import { servicesFrom, type GlobalOptions } from './context.ts';
import { startDaemon } from '../main.ts';

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('serve')
    .description('run the daemon: the HTTP server and the snapshot schedule')
    .option('--listen <host:port>', 'override the configuration\'s listen address')
    .action(async (opts: { listen?: string }) => {
      const s = await servicesFrom(globals(), { makeAdminToken: true, listen: opts.listen });
      const d = await startDaemon(s);
      process.stdout.write(`aptfreeze listening on ${d.url}\n`);
      const stop = async () => {
        await d.stop();
        s.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
