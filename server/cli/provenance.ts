import type { Command } from 'commander';
import { AptfreezeError } from '../errors.ts';
import { withServices, type GlobalOptions } from './context.ts';
import type { ProvenanceEntry } from '../provenance/query.ts';

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('provenance')
    .description('every archive, suite, component and architecture that served a package version, as runs of serials')
    .argument('<package>')
    .argument('<version>')
    .option('--arch <arch>', "the package's architecture (amd64, all, ...)")
    .option('--server <url>', 'ask a running service (GET /api/provenance) instead of the local database')
    .option('--json', 'print JSON')
    .action(async (pkg: string, version: string, opts: { arch?: string; server?: string; json?: boolean }) => {
      const { checkQuery, queryProvenance } = await import('../provenance/query.ts');
      const q = checkQuery({ package: pkg, version, arch: opts.arch });
      const results = opts.server ? await fromServer(opts.server, q) : await withServices(globals(), async (s) => queryProvenance(s.repo, q));
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...q, results }, null, 2)}\n`);
      else process.stdout.write(formatProvenance(results));
      if (results.length === 0) throw new AptfreezeError('NOT_FOUND', `no published serial served ${pkg} ${version}${opts.arch ? ` ${opts.arch}` : ''}`);
    });
}

async function fromServer(server: string, q: { package: string; version: string; arch?: string }): Promise<ProvenanceEntry[]> {
  const url = new URL('api/provenance', server.endsWith('/') ? server : `${server}/`);
  url.searchParams.set('package', q.package);
  url.searchParams.set('version', q.version);
  if (q.arch) url.searchParams.set('arch', q.arch);
  const { request } = await import('undici');
  let res;
  try {
    res = await request(url);
  } catch (e) {
    throw new AptfreezeError('UPSTREAM_HTTP', `${url.href}: ${(e as Error).message}`, { cause: e });
  }
  const body = (await res.body.json()) as { results?: ProvenanceEntry[]; error?: { code: string; message: string } };
  if (res.statusCode !== 200 || !body.results) throw new AptfreezeError('UPSTREAM_HTTP', `${url.href}: HTTP ${res.statusCode}: ${body.error?.message ?? ''}`);
  return body.results;
}

/** One line per run: where, which serials, which file. */
export function formatProvenance(results: ProvenanceEntry[]): string {
  const rows = [['ARCHIVE', 'SUITE', 'COMPONENT', 'ARCH', 'FIRST', 'LAST', 'SERIALS', 'SHA256', 'FILENAME']];
  for (const e of results) {
    for (const r of e.runs) rows.push([e.archive, e.suite, e.component, e.architecture, r.first, r.last, String(r.serials), e.sha256, e.filename]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
