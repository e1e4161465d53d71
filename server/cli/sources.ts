import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { withServices, type GlobalOptions } from './context.ts';
import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import { proofComponent } from '../proof/component.ts';
import { readPins, isTagPin } from '../pins/files.ts';
import { TagRepo } from '../catalog/tags.ts';
import { ServerClient } from '../pins/client.ts';

export interface SourcesParts {
  archive: string;
  serial: string;
  /** Where clients reach the service (config baseUrl, or the --server a builder uses). */
  baseUrl: string;
  suites: readonly string[];
  components: readonly string[];
  architectures: readonly string[];
  keyArmored: string;
  proof?: boolean;
}

/**
 * A deb822 `.sources` stanza for one archive at one serial (or latest), with
 * the service key inline in Signed-By, so the file is self-contained.
 */
export function sourcesText(p: SourcesParts): string {
  // deb822 multi-line value: each line indented by one space, an empty line written as " ." (sources.list(5)).
  const signedBy = p.keyArmored
    .trimEnd()
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l}`))
    .join('\n');
  return [
    `X-Aptfreeze-Archive: ${p.archive}`,
    `X-Aptfreeze-Serial: ${p.serial}`,
    'Types: deb',
    `URIs: ${p.baseUrl.replace(/\/+$/, '')}/${p.archive}/${uriPath(p.serial)}/`,
    `Suites: ${p.suites.join(' ')}`,
    `Components: ${[...p.components, ...(p.proof ? [proofComponent] : [])].join(' ')}`,
    `Architectures: ${p.architectures.join(' ')}`,
    `Signed-By:\n${signedBy}`,
    '',
  ].join('\n');
}

/** A serial or latest is its own path segment; a tag `tag:<name>` is served at tags/<name>/. */
function uriPath(serial: string): string {
  return isTagPin(serial) ? `tags/${serial.slice(4)}` : serial;
}

export function sourcesStanza(s: Services, archive: string, serial: string, opts: { proof?: boolean } = {}): string {
  // A custom repository (server/uploads/) has suites, components and architectures like an archive.
  const cfg = s.config.archives.find((a) => a.name === archive) ?? s.config.repositories.find((r) => r.name === archive);
  if (!cfg) throw new AptfreezeError('NOT_FOUND', `unknown archive ${archive}`);
  if (isTagPin(serial)) {
    if (!new TagRepo(s.db).archiveOf(serial.slice(4), archive)) throw new AptfreezeError('NOT_FOUND', `no tag ${serial.slice(4)} of ${archive}`);
  } else if (serial !== 'latest') {
    const row = s.repo.getSerial(archive, serial);
    if (!row || row.state === 'pending' || row.state === 'failed') throw new AptfreezeError('NOT_FOUND', `no serial ${serial} of ${archive}`);
    if (row.state === 'collected') throw new AptfreezeError('GONE', `${archive}/${serial} was collected`);
  } else if (!s.repo.latestSerial(archive)) throw new AptfreezeError('NOT_FOUND', `${archive} has no published serial yet`);
  const keyArmored = readFileSync(s.publisher.reads.localFile('keys/aptfreeze.asc'), 'utf8');
  return sourcesText({ archive, serial, baseUrl: s.config.baseUrl, suites: cfg.suites, components: cfg.components, architectures: cfg.architectures, keyArmored, proof: opts.proof });
}

/**
 * One `.sources` file for a whole pin set, from a server (builders have no
 * data directory): the pins as they are (`latest` stays latest) or a
 * resolved set (exact serials, the reproducible form). Stanzas in archive
 * order, separated by an empty line.
 */
export async function sourcesForSet(client: ServerClient, set: ReadonlyMap<string, string>, opts: { proof?: boolean } = {}): Promise<string> {
  if (set.size === 0) throw new AptfreezeError('NOT_FOUND', 'no pins (expected <dir>/<archive>/serial files)');
  const archives = await client.archives();
  const keyArmored = await client.keyArmored();
  const stanzas: string[] = [];
  for (const archive of [...set.keys()].sort()) {
    const serial = set.get(archive)!;
    const a = archives.find((x) => x.name === archive);
    if (!a || a.suites.length === 0) throw new AptfreezeError('NOT_FOUND', `${client.base}: archive ${archive} is not configured there`);
    if (serial === 'latest') {
      if (!a.latest) throw new AptfreezeError('NOT_FOUND', `${archive} has no published serial yet`);
    } else if (isTagPin(serial)) await client.tag(serial.slice(4), archive);
    else await client.serial(archive, serial);
    stanzas.push(sourcesText({ archive, serial, baseUrl: client.base, suites: a.suites, components: a.components, architectures: a.architectures, keyArmored, proof: opts.proof }));
  }
  return stanzas.join('\n');
}

interface SourcesOptions {
  proof?: boolean;
  pins?: string;
  resolved?: string;
  server?: string;
}

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('sources')
    .description('print a deb822 .sources file: for an archive at a serial (or latest), or for a builder\'s pin set (--pins or --resolved, from --server)')
    .argument('[archive]')
    .argument('[serial]', 'a serial YYYYMMDDNN, latest, or tag:<name>')
    .option('--proof', `also list the ${proofComponent} component`)
    .option('--pins <dir>', 'a pins directory (<dir>/<archive>/serial); latest stays latest')
    .option('--resolved <file>', 'a resolved pin set written by `pins resolve` (exact serials)')
    .option('--server <url>', 'the aptfreeze server for --pins/--resolved (env APTFREEZE_SERVER; default: the one in the --resolved file)')
    .action(async (archive: string | undefined, serial: string | undefined, opts: SourcesOptions) => {
      if (opts.pins || opts.resolved) {
        if (archive || serial) throw new AptfreezeError('BAD_REQUEST', 'sources: give either <archive> <serial>, or --pins / --resolved');
        if (opts.pins && opts.resolved) throw new AptfreezeError('BAD_REQUEST', 'sources: give --pins or --resolved, not both');
        const set = new Map<string, string>();
        let server = opts.server ?? process.env['APTFREEZE_SERVER'];
        if (opts.resolved) {
          const { parseResolved } = await import('../pins/resolve.ts');
          const r = parseResolved(readFileSync(opts.resolved, 'utf8'), opts.resolved);
          server ??= r.server;
          for (const [a, v] of Object.entries(r.archives)) set.set(a, v.serial);
        } else for (const [a, v] of readPins(opts.pins!)) set.set(a, v);
        if (!server) throw new AptfreezeError('BAD_REQUEST', 'sources --pins: --server <url> (or APTFREEZE_SERVER) is required');
        process.stdout.write(await sourcesForSet(new ServerClient(server), set, { proof: opts.proof }));
        return;
      }
      if (!archive || !serial) throw new AptfreezeError('BAD_REQUEST', 'sources: expected <archive> <serial|latest> (or --pins <dir> / --resolved <file>)');
      if (serial !== 'latest' && !/^\d{10}$/.test(serial) && !isTagPin(serial)) throw new AptfreezeError('BAD_REQUEST', `not a serial: ${serial} (expected YYYYMMDDNN, latest or tag:<name>)`);
      await withServices(globals(), async (s) => {
        process.stdout.write(sourcesStanza(s, archive, serial, opts));
      });
    });
}
