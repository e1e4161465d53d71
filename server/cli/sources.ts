import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withServices, type GlobalOptions } from './context.ts';
import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import { proofComponent } from '../proof/manifest.ts';

/**
 * A deb822 `.sources` stanza for one archive at one serial (or latest), with
 * the service key inline in Signed-By, so the file is self-contained.
 */
export function sourcesStanza(s: Services, archive: string, serial: string, opts: { proof?: boolean } = {}): string {
  const cfg = s.config.archives.find((a) => a.name === archive);
  if (!cfg) throw new AptfreezeError('NOT_FOUND', `unknown archive ${archive}`);
  if (serial !== 'latest') {
    const row = s.repo.getSerial(archive, serial);
    if (!row || row.state === 'pending' || row.state === 'failed') throw new AptfreezeError('NOT_FOUND', `no serial ${serial} of ${archive}`);
    if (row.state === 'collected') throw new AptfreezeError('GONE', `${archive}/${serial} was collected`);
  } else if (!s.repo.latestSerial(archive)) throw new AptfreezeError('NOT_FOUND', `${archive} has no published serial yet`);
  const key = readFileSync(join(s.publisher.root, 'keys', 'aptfreeze.asc'), 'utf8').trimEnd();
  // deb822 multi-line value: each line indented by one space, an empty line written as " ." (sources.list(5)).
  const signedBy = key
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l}`))
    .join('\n');
  return [
    `X-Aptfreeze-Archive: ${archive}`,
    `X-Aptfreeze-Serial: ${serial}`,
    'Types: deb',
    `URIs: ${s.config.baseUrl}/${archive}/${serial}/`,
    `Suites: ${cfg.suites.join(' ')}`,
    `Components: ${[...cfg.components, ...(opts.proof ? [proofComponent] : [])].join(' ')}`,
    `Architectures: ${cfg.architectures.join(' ')}`,
    `Signed-By:\n${signedBy}`,
    '',
  ].join('\n');
}

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('sources')
    .description('print a deb822 .sources file for an archive at a serial (or latest)')
    .argument('<archive>')
    .argument('<serial>', 'a serial YYYYMMDDNN or latest')
    .option('--proof', `also list the ${proofComponent} component`)
    .action(async (archive: string, serial: string, opts: { proof?: boolean }) => {
      if (serial !== 'latest' && !/^\d{10}$/.test(serial)) throw new AptfreezeError('BAD_REQUEST', `not a serial: ${serial} (expected YYYYMMDDNN or latest)`);
      await withServices(globals(), async (s) => {
        process.stdout.write(sourcesStanza(s, archive, serial, opts));
      });
    });
}
