import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { withServices, type GlobalOptions } from './context.ts';
import { withOps, withOpsAndServices } from './ops.ts';
import { resultOf } from '../ops/client.ts';
import { cliActor } from './actor.ts';
import { AptfreezeError, errorCodes, type ErrorCode } from '../errors.ts';
import type { DiffEntry } from '../uploads/overlay.ts';
import type { RepoPublishResult } from '../uploads/publish.ts';

/** The files of an upload, the .changes last (dput's order). The signature is checked by the service, not here. */
async function uploadFiles(changesPath: string): Promise<string[]> {
  const { parseChanges, unsignedText } = await import('../uploads/changes.ts');
  const changes = parseChanges(unsignedText((await readFile(changesPath)).toString('utf8')));
  return [...changes.files.map((f) => join(dirname(changesPath), f.name)), changesPath];
}

async function putRemote(server: string, token: string, repository: string, session: string, files: string[]): Promise<unknown> {
  let last: unknown = null;
  for (const f of files) {
    const res = await fetch(`${server.replace(/\/+$/, '')}/upload/${encodeURIComponent(repository)}/${session}/${encodeURIComponent(basename(f))}`, {
      method: 'PUT',
      body: await readFile(f),
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
    if (!res.ok) {
      const code = body?.error?.code && body.error.code in errorCodes ? (body.error.code as ErrorCode) : 'INTERNAL';
      throw new AptfreezeError(code, `${basename(f)}: ${body?.error?.message ?? `HTTP ${res.status}`}`);
    }
    last = body;
  }
  return last;
}

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('upload')
    .description('upload a signed .changes and the files it lists to a custom repository (locally, or to --server)')
    .argument('<repository>')
    .argument('<changes>', 'the signed .changes; its files are read from the same directory')
    .option('--server <url>', 'upload to a running service instead of the local data directory')
    .option('--token <token>', 'with --server: a token of role uploader (default: env APTFREEZE_TOKEN)')
    .option('--json', 'print JSON')
    .action(async (repository: string, changesPath: string, opts: { server?: string; token?: string; json?: boolean }) => {
      const files = await uploadFiles(changesPath);
      const session = `cli-${randomBytes(6).toString('hex')}`;
      let result: unknown;
      if (opts.server) {
        const token = opts.token ?? process.env['APTFREEZE_TOKEN'];
        if (!token) throw new AptfreezeError('UNAUTHORIZED', 'upload --server needs --token or APTFREEZE_TOKEN (a token of role uploader)');
        result = ((await putRemote(opts.server, token, repository, session, files)) as { upload?: unknown } | null)?.upload ?? null;
      } else {
        // The files go into a session of the data directory; the upload is an operation (to the daemon when one runs).
        const { UploadsService } = await import('../uploads/service.ts');
        result = await withOpsAndServices(globals(), async (ops, s) => {
          const uploads = new UploadsService(s, ops);
          const cfg = uploads.repository(repository);
          const actor = cliActor();
          const row = await uploads.openSession(cfg, actor, session);
          for (const f of files.slice(0, -1)) await uploads.putFile(cfg, row, basename(f), createReadStream(f));
          await uploads.putFile(cfg, row, basename(changesPath), createReadStream(changesPath));
          return uploads.process(cfg, row, basename(changesPath), actor);
        });
      }
      const r = result as { source?: string; version?: string; suite?: string; serial?: string; noop?: boolean } | null;
      if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else process.stdout.write(`${repository}: ${r?.source} ${r?.version} to ${r?.suite}: ${r?.noop ? 'already there (no-op)' : `published in ${r?.serial}`}\n`);
    });

  const suite = program.command('suite').description("a custom repository's suites: overlays per topic branch, merged into their base");
  // create, merge and reset are operations (to the daemon when one runs); diff is a read.
  const run = <T>(kind: string, params: Record<string, unknown>) => withOps(globals(), async (ops) => resultOf<T>(await ops.run({ kind, params, actor: cliActor() })));
  const formatDiff = async (...a: Parameters<typeof import('../uploads/overlay.ts').formatDiff>) => (await import('../uploads/overlay.ts')).formatDiff(...a);

  suite
    .command('create')
    .description('make an overlay suite on a base suite (it holds only what its branch adds)')
    .argument('<repository>')
    .argument('<suite>')
    .requiredOption('--base <suite>', 'the configured suite it overlays')
    .action(async (repository: string, name: string, opts: { base: string }) => {
      const r = await run<RepoPublishResult>('suite.create', { repository, suite: name, base: opts.base });
      process.stdout.write(`${repository}/${name} on ${opts.base}: published in ${r.serial}\n`);
    });

  suite
    .command('merge')
    .description("merge an overlay into its base: the base takes the overlay's versions; a downgrade is refused unless --force")
    .argument('<repository>')
    .argument('<overlay>')
    .option('--into <suite>', 'the suite to merge into (default: the overlay\'s base)')
    .option('--force', 'merge even where it lowers a version')
    .option('--json', 'print JSON')
    .action(async (repository: string, name: string, opts: { into?: string; force?: boolean; json?: boolean }) => {
      const r = await run<{ changes: DiffEntry[]; serial: string }>('suite.merge', { repository, overlay: name, ...(opts.into === undefined ? {} : { into: opts.into }), force: opts.force === true });
      if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else process.stdout.write(`${await formatDiff(r.changes)}published in ${r.serial}\n`);
    });

  suite
    .command('reset')
    .description('empty an overlay (after its branch was merged or dropped)')
    .argument('<repository>')
    .argument('<overlay>')
    .action(async (repository: string, name: string) => {
      const r = await run<{ removed: number; serial: string }>('suite.reset', { repository, overlay: name });
      process.stdout.write(`${repository}/${name}: ${r.removed} package(s) removed, published in ${r.serial}\n`);
    });

  suite
    .command('diff')
    .description('what <to> holds that <from> does not: + added, - removed, ~ version changes (upgrade or downgrade)')
    .argument('<repository>')
    .argument('<from>')
    .argument('<to>')
    .option('--json', 'print JSON')
    .action(async (repository: string, from: string, to: string, opts: { json?: boolean }) => {
      const { Overlays } = await import('../uploads/overlay.ts');
      const d = await withServices(globals(), async (s) => new Overlays(s).diff(repository, from, to));
      process.stdout.write(opts.json ? `${JSON.stringify(d, null, 2)}\n` : await formatDiff(d));
    });
}
