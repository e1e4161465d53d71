import type { Command } from 'commander';
import { withServices, type GlobalOptions } from './context.ts';
import { withOps } from './ops.ts';
import { cliActor } from './actor.ts';
import type { createToken, listTokens, revokeToken } from '../release/tokens.ts';
import { resultOf } from '../ops/client.ts';

export function register(program: Command, globals: () => GlobalOptions): void {
  const tokens = program.command('tokens').description('API tokens: create (shown once; only a hash is stored), list, revoke');

  tokens
    .command('create')
    .description('make a token and print it on stdout, once')
    .requiredOption('--role <role>', 'admin or release-manager')
    .requiredOption('--name <who>', 'who holds it (shown in the audit log)')
    .option('--json', 'print JSON')
    .action(async (opts: { role: string; name: string; json?: boolean }) => {
      await withOps(globals(), async (ops) => {
        const t = resultOf<ReturnType<typeof createToken>>(await ops.run({ kind: 'token.create', params: { name: opts.name, role: opts.role }, actor: cliActor() }));
        if (opts.json) process.stdout.write(`${JSON.stringify(t, null, 2)}\n`);
        else {
          process.stdout.write(`${t.token}\n`);
          process.stderr.write(`token ${t.id} for ${t.name} (${t.role}): shown this once; only its sha256 is stored\n`);
        }
      });
    });

  tokens
    .command('list')
    .description('list tokens (never the tokens themselves)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const { listTokens: list } = await import('../release/tokens.ts');
      await withServices(globals(), async (s) => {
        const rows: ReturnType<typeof listTokens> = list(s);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
          return;
        }
        process.stdout.write('ID  NAME                 ROLE             CREATED                   REVOKED\n');
        for (const t of rows) process.stdout.write(`${String(t.id).padEnd(3)} ${t.name.padEnd(20)} ${t.role.padEnd(16)} ${t.createdAt.padEnd(25)} ${t.revokedAt ?? '-'}\n`);
      });
    });

  tokens
    .command('revoke')
    .description('revoke the active token(s) with this id or name')
    .argument('<id-or-name>')
    .action(async (idOrName: string) => {
      await withOps(globals(), async (ops) => {
        for (const t of resultOf<ReturnType<typeof revokeToken>>(await ops.run({ kind: 'token.revoke', params: { idOrName }, actor: cliActor() }))) process.stdout.write(`revoked token ${t.id} (${t.name}, ${t.role})\n`);
      });
    });
}
