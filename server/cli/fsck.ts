import type { Command } from 'commander';
import { AptfreezeError } from '../errors.ts';
import { dataDirFrom, type GlobalOptions } from './context.ts';
import type { FsckReport } from '../fsck/report.ts';
import { resolve } from 'node:path';
import { cliActor } from './actor.ts';
import { withLocalRunner } from './ops.ts';
import { resultOf, type OpsClient } from '../ops/client.ts';

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('fsck')
    .description('check the published tree, the store and the database against each other: every published file with its hash, every blob referenced, every signature valid, latest right, no leftovers')
    .option('--repair', 'finish half-done steps (latest, trace, pending serials, signatures) and remove what no serial references')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { repair?: boolean; json?: boolean }) => {
      const report = opts.repair ? await repairAsOperation(globals()) : await checkOnly(globals());
      await withObjectStore(report, globals());
      const { formatReport } = await import('../fsck/report.ts');
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      if (!report.ok) {
        const errors = report.problems.filter((p) => p.severity === 'error');
        const kinds = [...new Set(errors.map((p) => p.kind))].join(', ');
        throw new AptfreezeError('VERIFY_FAILED', `fsck: ${errors.length} errors (${kinds})${opts.repair ? ' left after repair' : '; see the report, --repair fixes those it can'}`);
      }
    });
}

/**
 * Where the configuration exports to an object store and PostgreSQL (server/s3/), what readers
 * serve from them is checked too (server/fsck/objects.ts), after the data directory: its problems
 * join the report's (paths `s3:<archive>/<serial>/<path>`; --repair leaves them, the writer's next
 * export re-publishes what is missing from its working copy).
 */
async function withObjectStore(report: FsckReport, g: GlobalOptions): Promise<void> {
  const [{ objectStoreProblems }, { configFrom }] = await Promise.all([import('../fsck/objects.ts'), import('./context.ts')]);
  const found = await objectStoreProblems(await configFrom(g), process.env);
  if (!found) return;
  report.problems.push(...found.problems);
  report.notes.push(`object store: ${found.checked.serials} serials, ${found.checked.files} files, ${found.checked.blobs} blobs checked`);
  report.ok = report.ok && !found.problems.some((p) => p.severity === 'error');
}

/** Opened without crash recovery, so that fsck reports what is really there. */
async function checkOnly(g: GlobalOptions): Promise<FsckReport> {
  const [{ openForFsck }, { runFsck }] = await Promise.all([import('../fsck/open.ts'), import('../fsck/fsck.ts')]);
  const ctx = openForFsck(dataDirFrom(g));
  try {
    return await runFsck(ctx);
  } finally {
    ctx.close();
  }
}

/** --repair is a mutation: an operation of the daemon when one runs on this data directory, else of this process. */
async function repairAsOperation(g: GlobalOptions): Promise<FsckReport> {
  const run = (ops: OpsClient) => ops.run({ kind: 'fsck.repair', params: {}, actor: cliActor() }).then((o) => resultOf<FsckReport>(o));
  const [{ connectOps }, { openForFsck }, { createLogger }] = await Promise.all([import('../ops/control.ts'), import('../fsck/open.ts'), import('../log.ts')]);
  const remote = await connectOps(resolve(dataDirFrom(g)));
  if (remote) return run(remote);
  const ctx = openForFsck(dataDirFrom(g));
  try {
    return await withLocalRunner({ db: ctx.db, repo: ctx.repo, now: ctx.now, log: createLogger() }, ctx, run);
  } finally {
    ctx.close();
  }
}
