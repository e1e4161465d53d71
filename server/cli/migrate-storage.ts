// `aptfreeze migrate-storage` (issue 15): copies an fs data directory's published serials to the
// object store and PostgreSQL the configuration names (storage s3 + catalog postgres), then checks
// both ends. It is the writer's own export (s3/export.ts), run once for every archive under its
// lock: blobs up first, each confirmed, then one catalog transaction a serial, oldest first,
// `latest` by compare-and-swap. Idempotent: run again after an interruption, it copies what is
// missing. The data directory stays the working copy (the writer keeps it: see README "Running
// past one machine"); nothing in it changes but an audit entry.
import type { Command } from 'commander';
import { AptfreezeError } from '../errors.ts';
import { configFrom, dataDirFrom, withServices, type GlobalOptions } from './context.ts';
import { cliActor } from './actor.ts';
import { archiveLock } from '../catalog/repo.ts';
import type { ReconcileReport } from '../s3/export.ts';

export interface MigrateReport {
  archives: Array<Pick<ReconcileReport, 'archive' | 'published' | 'resigned' | 'collected' | 'latest' | 'uploaded' | 'notes'>>;
  /** fsck of the data directory and of the object store with its catalog: errors left (0: clean on both ends). */
  fsck: { ok: boolean; errors: Array<{ kind: string; where: string; message: string }>; notes: string[] };
}

export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('migrate-storage')
    .description('copy this data directory\'s published serials to the object store and PostgreSQL of the configuration (storage s3 + catalog postgres), then fsck both ends')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      const r = await migrate(globals());
      process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : formatMigrateReport(r));
      if (!r.fsck.ok) throw new AptfreezeError('VERIFY_FAILED', `migrate-storage: fsck found ${r.fsck.errors.length} errors after the copy (${[...new Set(r.fsck.errors.map((e) => e.kind))].join(', ')})`);
    });
}

async function migrate(g: GlobalOptions): Promise<MigrateReport> {
  const config = await configFrom(g);
  if (config.storage.kind !== 's3' || config.catalog.kind !== 'postgres') {
    throw new AptfreezeError('CONFIG_INVALID', `migrate-storage: the configuration must name the target: storage.kind s3 and catalog.kind postgres (has ${config.storage.kind} and ${config.catalog.kind})`);
  }
  const archives = await withServices(g, async (s) => {
    if (!s.exporter) throw new AptfreezeError('INTERNAL', 'migrate-storage: no exporter for storage s3 + catalog postgres');
    const out: MigrateReport['archives'] = [];
    try {
      for (const { name } of s.repo.listArchives()) {
        const lock = [archiveLock(name)];
        const held = s.repo.tryLock(lock, process.pid, s.now());
        if (!held.ok) throw new AptfreezeError('CONFLICT', `migrate-storage: ${name} is busy (an operation holds it); run again when it has finished`);
        try {
          const r = await s.exporter.reconcile(name);
          out.push({ archive: r.archive, published: r.published, resigned: r.resigned, collected: r.collected, latest: r.latest, uploaded: r.uploaded, notes: r.notes });
        } finally {
          s.repo.unlock(lock, process.pid);
        }
      }
      s.repo.appendAudit({ actor: cliActor(), action: 'migrate-storage', target: '*', after: { bucket: config.storage.kind === 's3' ? config.storage.bucket : null, archives: out.map((a) => ({ archive: a.archive, published: a.published.length, latest: a.latest })) } }, s.now());
    } finally {
      await s.exporter.close();
    }
    return out;
  });
  return { archives, fsck: await fsckBoth(g, config) };
}

/** fsck of both ends: the data directory (as `aptfreeze fsck`) and the object store with its catalog. */
async function fsckBoth(g: GlobalOptions, config: Awaited<ReturnType<typeof configFrom>>): Promise<MigrateReport['fsck']> {
  const [{ openForFsck }, { runFsck }, { objectStoreProblems }] = await Promise.all([import('../fsck/open.ts'), import('../fsck/fsck.ts'), import('../fsck/objects.ts')]);
  const ctx = openForFsck(dataDirFrom(g));
  let local;
  try {
    local = await runFsck(ctx);
  } finally {
    ctx.close();
  }
  const remote = await objectStoreProblems(config, process.env);
  const problems = [...local.problems, ...(remote?.problems ?? [])].filter((p) => p.severity === 'error');
  const notes = [...local.notes, ...(remote ? [`object store: ${remote.checked.serials} serials, ${remote.checked.files} files, ${remote.checked.blobs} blobs checked`] : [])];
  return { ok: problems.length === 0, errors: problems.map((p) => ({ kind: p.kind, where: p.path ?? [p.archive, p.serial].filter(Boolean).join('/'), message: p.message })), notes };
}

export function formatMigrateReport(r: MigrateReport): string {
  const lines: string[] = [];
  for (const a of r.archives) {
    lines.push(`${a.archive}: ${a.published.length} serial${a.published.length === 1 ? '' : 's'} published, ${a.uploaded} blob${a.uploaded === 1 ? '' : 's'} uploaded, ${a.collected.length} marked collected, latest ${a.latest ?? 'unset'}`);
    for (const n of a.notes) lines.push(`  note: ${n}`);
  }
  if (!r.archives.length) lines.push('no archive to migrate');
  lines.push(r.fsck.ok ? `fsck: clean on both ends (${r.fsck.notes.filter((n) => n.startsWith('object store')).join('; ')})` : `fsck: ${r.fsck.errors.length} errors`);
  for (const e of r.fsck.errors) lines.push(`  ${e.kind} ${e.where}: ${e.message}`);
  return `${lines.join('\n')}\n`;
}
