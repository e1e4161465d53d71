import type { Command } from 'commander';
import type { GlobalOptions } from './context.ts';
import { withOps } from './ops.ts';
import { cliActor } from './actor.ts';
import type { TransitionResult } from '../release/service.ts';
import { resultOf } from '../ops/client.ts';

function print(r: TransitionResult, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  const v = r.serial;
  const what = v.frozen ? `frozen until ${v.frozen.until} by ${v.frozen.by}: ${v.frozen.reason}` : `live, valid until ${v.validUntil}`;
  process.stdout.write(`${v.archive}/${v.serial} ${what} (${r.suites.length} suite${r.suites.length === 1 ? '' : 's'} re-signed in ${r.ms} ms)\n`);
}

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('freeze')
    .description('keep a serial valid and on disk until a date: re-signs its Release files with that Valid-Until')
    .argument('<archive>')
    .argument('<serial>')
    .requiredOption('--until <date>', 'ISO 8601 date or date-time (2027-03-01, 2027-03-01T12:00:00Z), or a duration from now (90d)')
    .requiredOption('--reason <text>', 'why (kept in the audit log and shown with the serial)')
    .option('--json', 'print JSON')
    .action(async (archive: string, serial: string, opts: { until: string; reason: string; json?: boolean }) => {
      await withOps(globals(), async (ops) => {
        const outcome = await ops.run({ kind: 'freeze', params: { archive, serial, until: opts.until, reason: opts.reason, allowDuration: true }, actor: cliActor() });
        print(resultOf<TransitionResult>(outcome), opts.json);
      });
    });

  program
    .command('thaw')
    .description('end a freeze: the serial is valid for the configured lifetime from now, then collectable')
    .argument('<archive>')
    .argument('<serial>')
    .option('--json', 'print JSON')
    .action(async (archive: string, serial: string, opts: { json?: boolean }) => {
      await withOps(globals(), async (ops) => {
        print(resultOf<TransitionResult>(await ops.run({ kind: 'thaw', params: { archive, serial }, actor: cliActor() })), opts.json);
      });
    });
}
