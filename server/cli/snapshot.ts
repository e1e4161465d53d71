import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { AptfreezeError } from '../errors.ts';
import { withServices, type GlobalOptions } from './context.ts';
import { snapshotService } from '../snapshot/service.ts';

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('snapshot')
    .description('take a snapshot of each named archive now (all configured archives when none is named)')
    .argument('[archives...]')
    .option('--json', 'print the results as JSON')
    .action(async (names: string[], opts: { json?: boolean }) => {
      await withServices(globals(), async (s) => {
        const targets = names.length ? names : s.config.archives.map((a) => a.name);
        for (const n of targets) if (!s.config.archives.some((a) => a.name === n)) throw new AptfreezeError('NOT_FOUND', `unknown archive ${n} (configured: ${s.config.archives.map((a) => a.name).join(', ') || 'none'})`);
        if (targets.length === 0) throw new AptfreezeError('CONFIG_INVALID', s.config.notes[0] ?? 'no archive configured');
        for (const n of s.config.notes) s.log.warn(n);
        // A progress bar on a terminal; structured log lines (from takeSnapshot) otherwise.
        const tty = process.stderr.isTTY && !opts.json;
        const bar = tty ? new cliProgress.SingleBar({ format: '{archive} |{bar}| {percentage}% {value}/{total} bytes', stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
        const results = [];
        for (const archive of targets) {
          let started = false;
          const run = snapshotService(s, {
            onPlan: ({ poolBytes }) => {
              if (bar && poolBytes > 0) {
                bar.start(poolBytes, 0, { archive });
                started = true;
              }
            },
            onBytes: (n) => started && bar?.increment(n),
          });
          try {
            results.push(await run(archive, `cli:${process.env['USER'] ?? 'unknown'}`));
          } finally {
            if (started) bar?.stop();
          }
        }
        if (opts.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
        else for (const r of results) process.stdout.write(`${r.archive} ${r.serial} valid until ${r.validUntil} (${r.stats.poolFetched} pool files and ${r.stats.indexFetched} index files fetched, ${r.stats.bytesFetched} bytes, ${r.stats.ms} ms)\n`);
      });
    });
}
