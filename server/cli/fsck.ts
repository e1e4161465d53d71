import type { Command } from 'commander';
import { AptfreezeError } from '../errors.ts';
import { dataDirFrom, type GlobalOptions } from './context.ts';
import { openForFsck } from '../fsck/open.ts';
import { runFsck } from '../fsck/fsck.ts';
import { formatReport } from '../fsck/report.ts';

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('fsck')
    .description('check the published tree, the store and the database against each other: every published file with its hash, every blob referenced, every signature valid, latest right, no leftovers')
    .option('--repair', 'finish half-done steps (latest, trace, pending serials, signatures) and remove what no serial references')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { repair?: boolean; json?: boolean }) => {
      // Opened without crash recovery, so that fsck reports what is really there.
      const ctx = openForFsck(dataDirFrom(globals()));
      try {
        const report = await runFsck(ctx, { repair: opts.repair });
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
        if (!report.ok) {
          const errors = report.problems.filter((p) => p.severity === 'error');
          const kinds = [...new Set(errors.map((p) => p.kind))].join(', ');
          throw new AptfreezeError('VERIFY_FAILED', `fsck: ${errors.length} errors (${kinds})${opts.repair ? ' left after repair' : '; see the report, --repair fixes those it can'}`);
        }
      } finally {
        ctx.close();
      }
    });
}
