import type { Command } from 'commander';
import { AptfreezeError } from '../errors.ts';
import { configFrom, type GlobalOptions } from './context.ts';
import { withOps } from './ops.ts';
import { cliActor } from './actor.ts';
import type { SnapshotResult } from '../snapshot/run.ts';

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('snapshot')
    .description('take a snapshot of each named archive now (all configured archives when none is named)')
    .argument('[archives...]')
    .option('--json', 'print the results as JSON')
    .action(async (names: string[], opts: { json?: boolean }) => {
      const config = await configFrom(globals());
      const targets = names.length ? names : config.archives.map((a) => a.name);
      for (const n of targets) if (!config.archives.some((a) => a.name === n)) throw new AptfreezeError('NOT_FOUND', `unknown archive ${n} (configured: ${config.archives.map((a) => a.name).join(', ') || 'none'})`);
      if (targets.length === 0) throw new AptfreezeError('CONFIG_INVALID', config.notes[0] ?? 'no archive configured');
      if (config.notes.length) {
        const { createLogger } = await import('../log.ts');
        const log = createLogger();
        for (const n of config.notes) log.warn(n);
      }
      // A progress bar on a terminal, following the operation (run here or by the daemon); log lines otherwise.
      const tty = process.stderr.isTTY && !opts.json;
      const cliProgress = tty ? (await import('cli-progress')).default : null;
      const { resultOf } = await import('../ops/client.ts');
      const bar = cliProgress ? new cliProgress.SingleBar({ format: '{archive} |{bar}| {percentage}% {value}/{total} bytes', stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
      const results: SnapshotResult[] = [];
      await withOps(globals(), async (ops) => {
        for (const archive of targets) {
          let base: number | null = null;
          try {
            const outcome = await ops.run({ kind: 'snapshot', params: { archive }, actor: cliActor() }, (p) => {
              if (!bar) return;
              const fetched = Number(p['bytesFetched'] ?? 0);
              if (base === null && p['step'] === 'pool' && Number(p['poolBytes']) > 0) {
                bar.start(Number(p['poolBytes']), 0, { archive });
                base = fetched;
              } else if (base !== null) bar.update(fetched - base);
            });
            results.push(resultOf<SnapshotResult>(outcome));
          } finally {
            if (base !== null) bar?.stop();
          }
        }
      });
      if (opts.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      else for (const r of results) process.stdout.write(`${r.archive} ${r.serial} valid until ${r.validUntil} (${r.stats.poolFetched} pool files and ${r.stats.indexFetched} index files fetched, ${r.stats.bytesFetched} bytes, ${r.stats.ms} ms)\n`);
    });
}
