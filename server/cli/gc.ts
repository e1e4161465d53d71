import type { Command } from 'commander';
import type { GlobalOptions } from './context.ts';
import { withOps } from './ops.ts';
import { cliActor } from './actor.ts';
import type { GcReport } from '../release/gc.ts';
import { resultOf } from '../ops/client.ts';

export function formatGcReport(r: GcReport): string {
  const lines: string[] = [];
  const verb = r.dryRun ? 'would collect' : 'collected';
  for (const c of r.collected) lines.push(`${verb} ${c.archive}/${c.serial} (valid until ${c.validUntil})`);
  if (r.collected.length === 0) lines.push(r.dryRun ? 'would collect no serial' : 'collected no serial');
  for (const t of r.leftoverTrees) lines.push(`removed the leftover tree of ${t}`);
  const reasons = new Map<string, number>();
  for (const k of r.kept) reasons.set(k.reason, (reasons.get(k.reason) ?? 0) + 1);
  lines.push(`kept ${r.kept.length} serial${r.kept.length === 1 ? '' : 's'}${reasons.size ? ` (${[...reasons].map(([k, n]) => `${n} ${k}`).join(', ')})` : ''}`);
  if (r.store.skipped) lines.push(`store: sweep skipped: ${r.store.skipped}`);
  else {
    lines.push(`store: ${r.dryRun ? 'would remove' : 'removed'} ${r.store.blobsRemoved} file${r.store.blobsRemoved === 1 ? '' : 's'}, ${r.store.bytesFreed} bytes ${r.dryRun ? 'to free' : 'freed'}; ${r.store.blobsKept} kept`);
    if (r.store.poolFilesRemoved) lines.push(`pool files pruned: ${r.store.poolFilesRemoved}`);
    if (r.store.poolsRemoved.length) lines.push(`pools: ${r.dryRun ? 'would remove' : 'removed'} ${r.store.poolsRemoved.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('gc')
    .description('collect expired serials (not frozen, not latest, not among the newest `keep`) and delete store files no remaining serial uses')
    .option('--dry-run', 'report what would be collected and freed; change nothing')
    .option('--json', 'print JSON')
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      await withOps(globals(), async (ops) => {
        const r = resultOf<GcReport>(await ops.run({ kind: 'gc', params: { dryRun: Boolean(opts.dryRun) }, actor: cliActor() }));
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : formatGcReport(r));
      });
    });
}
