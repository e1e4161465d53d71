import type { Command } from 'commander';
import { withServices, type GlobalOptions } from './context.ts';
import { cliActor } from './actor.ts';
import { freezeSerial, thawSerial, type TransitionResult } from '../release/service.ts';

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
      await withServices(globals(), async (s) => {
        print(await freezeSerial(s, archive, serial, { until: opts.until, reason: opts.reason, actor: cliActor(), allowDuration: true }), opts.json);
      });
    });

  program
    .command('thaw')
    .description('end a freeze: the serial is valid for the configured lifetime from now, then collectable')
    .argument('<archive>')
    .argument('<serial>')
    .option('--json', 'print JSON')
    .action(async (archive: string, serial: string, opts: { json?: boolean }) => {
      await withServices(globals(), async (s) => {
        print(await thawSerial(s, archive, serial, cliActor()), opts.json);
      });
    });
}
