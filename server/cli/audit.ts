import type { Command } from 'commander';
import { withServices, type GlobalOptions } from './context.ts';
import type { AuditFilter } from '../catalog/release.ts';
import { AptfreezeError } from '../errors.ts';

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('audit')
    .description('the audit log, newest first: who did what to which target, when, and the state before and after')
    .option('--limit <n>', 'at most this many entries', '50')
    .option('--actor <actor>', 'only this actor (cli:<user>, a token name, schedule)')
    .option('--action <action>', 'only this action (snapshot, freeze, thaw, collect, gc, token.create, token.revoke)')
    .option('--target <target>', 'only this target (debian/2026112701), or a prefix ending in / (debian/)')
    .option('--since <iso>', 'only entries at or after this time')
    .option('--json', 'print JSON')
    .action(async (opts: { limit: string; actor?: string; action?: string; target?: string; since?: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new AptfreezeError('BAD_REQUEST', '--limit: expected a positive integer');
      if (opts.since && Number.isNaN(Date.parse(opts.since))) throw new AptfreezeError('BAD_REQUEST', '--since: expected an ISO date');
      const { ReleaseRepo } = await import('../catalog/release.ts');
      await withServices(globals(), async (s) => {
        const f: AuditFilter = { limit, actor: opts.actor, action: opts.action, target: opts.target, since: opts.since ? new Date(opts.since).toISOString() : undefined };
        const rows = new ReleaseRepo(s.db).listAudit(f);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
          return;
        }
        for (const r of rows) {
          const change = [r.before === null ? '' : JSON.stringify(r.before), r.after === null ? '' : JSON.stringify(r.after)].filter(Boolean).join(' -> ');
          process.stdout.write(`${r.at}  ${r.actor}  ${r.action}  ${r.target}${change ? `  ${change}` : ''}\n`);
        }
      });
    });
}
