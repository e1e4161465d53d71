import type { Command } from 'commander';
import type { GlobalOptions } from './context.ts';
import { withReader, type Reader } from './reader.ts';
import { AptfreezeError } from '../errors.ts';

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('serials')
    .description("list an archive's serials with state and expiry")
    .argument('<archive>')
    .option('--json', 'print JSON')
    .action((archive: string, opts: { json?: boolean }) => listSerials(globals(), archive, opts));
}

/** The action of `serials`, also run by fast-serials.ts without commander. */
export async function listSerials(g: GlobalOptions, archive: string, opts: { json?: boolean }): Promise<void> {
  // A reading command: the lean open (no store, tree or signing key) unless the data directory needs recovery.
  await withReader(g, (s) => printSerials(s, archive, opts));
}

/** What `serials` prints, from an open reader (lean.ts calls it on its own open). */
export async function printSerials(s: Pick<Reader, 'config' | 'repo' | 'now'>, archive: string, opts: { json?: boolean }): Promise<void> {
  const { describeSerial } = await import('../snapshot/query.ts');
  if (!s.config.archives.some((a) => a.name === archive) && !s.repo.listArchives().some((a) => a.name === archive)) {
    throw new AptfreezeError('NOT_FOUND', `unknown archive ${archive}`);
  }
  const rows = s.repo.listSerials(archive, { includeCollected: true }).map((r) => describeSerial(s, r));
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const latest = s.repo.latestSerial(archive);
  process.stdout.write('SERIAL      STATE      VALID-UNTIL           NOTE\n');
  for (const r of rows) {
    const note = [r.serial === latest ? 'latest' : '', r.frozen ? `frozen until ${r.frozen.until} by ${r.frozen.by}: ${r.frozen.reason}` : ''].filter(Boolean).join('; ');
    process.stdout.write(`${r.serial}  ${r.state.padEnd(9)}  ${(r.validUntil ?? '-').slice(0, 19).padEnd(20)}  ${note}\n`);
  }
}
