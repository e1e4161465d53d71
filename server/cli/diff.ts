import type { Command } from 'commander';
import { withServices, type GlobalOptions } from './context.ts';

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('diff')
    .description('binary packages added, removed and changed between two serials of an archive')
    .argument('<archive>')
    .argument('<serialA>')
    .argument('<serialB>')
    .option('--json', 'print JSON')
    .action(async (archive: string, a: string, b: string, opts: { json?: boolean }) => {
      const { diffSerials, formatDiff } = await import('../release/diff.ts');
      await withServices(globals(), async (s) => {
        const d = await diffSerials(s, archive, a, b);
        process.stdout.write(opts.json ? `${JSON.stringify(d, null, 2)}\n` : formatDiff(d));
      });
    });
}
