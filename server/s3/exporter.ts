// Where and when the writer exports (export.ts says what): one Exporter per process that opens a
// data directory configured with `storage: {kind: s3}` + `catalog: {kind: postgres}`. It connects
// to the object store and PostgreSQL on first use only (the operations thread and the reading
// verbs open the data directory with the same configuration and never export), runs at most one
// reconcile of an archive at a time in this process, and after a failure (the object store or
// PostgreSQL unreachable) tries again later on its own, as well as after the next operation and at
// the next start. After a gc operation it also runs the object store's gc (s3/gc.ts: mark from
// the catalog, delete after storage.gcGrace). One writer per archive: a second writer's export
// fails CONFLICT (compare-and-swap on latest), logged, and changes nothing.
import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import type { Repo } from '../catalog/repo.ts';
import type { PgPublicationCatalog } from '../catalog/pg-publication.ts';
import { archiveLock } from '../catalog/repo.ts';
import { AptfreezeError, asAptfreezeError } from '../errors.ts';
import { reconcileArchive, type ExportSource, type ReconcileReport } from './export.ts';
import { parseDuration } from '../config/duration.ts';
import type { S3BlobStore } from '../store/s3.ts';
import type { PublishedReads } from '../publish/reads.ts';
import { readFile } from 'node:fs/promises';

/** What the writer's export needs from the configuration and the environment. */
export interface ExportSettings {
  storage: { endpoint: string; bucket: string; region: string; prefix: string };
  databaseUrl: string;
  /** How long an object stays unreferenced before the object store's gc deletes it (storage.gcGrace). */
  gcGraceMs: number;
}

/**
 * The export settings when the configuration asks for them (null: the single-machine default).
 * Every gap is one CONFIG_INVALID, thrown before the data directory is touched: storage s3 and
 * catalog postgres only together (the writer exports to both), the catalog's URL and the object
 * store's credentials in the environment.
 */
export function exportSettings(config: Pick<Config, 'storage' | 'catalog'>, env: NodeJS.ProcessEnv): ExportSettings | null {
  const s3 = config.storage.kind === 's3';
  const pg = config.catalog.kind === 'postgres';
  if (!s3 && !pg) return null;
  const problems: string[] = [];
  if (!s3) problems.push(`storage.kind ${config.storage.kind}: catalog.kind postgres is the readers' catalog, and they read blobs from the object store (expected storage.kind s3 with it)`);
  if (!pg) problems.push(`catalog.kind ${config.catalog.kind}: storage.kind s3 needs the shared catalog readers answer from (expected catalog.kind postgres with it)`);
  const url = env['APTFREEZE_DATABASE_URL'];
  if (pg && !url) problems.push('APTFREEZE_DATABASE_URL not set (expected the PostgreSQL URL of the publication catalog in the environment)');
  for (const v of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) if (s3 && !env[v]) problems.push(`${v} not set (expected the object store's credentials in the environment)`);
  if (problems.length || config.storage.kind !== 's3' || !url) throw new AptfreezeError('CONFIG_INVALID', `exporting to the object store and PostgreSQL: ${problems.join('; ')}`, { details: { problems } });
  const { endpoint, bucket, region, prefix } = config.storage;
  return { storage: { endpoint, bucket, region, prefix }, databaseUrl: url, gcGraceMs: parseDuration(config.storage.gcGrace, 'storage.gcGrace') };
}

/** An operation as the runner saw it: what it held tells which archives it may have changed. */
export interface FinishedOperation {
  kind: string;
  resources: readonly string[];
}

export interface ExporterDeps extends ExportSource {
  publisher: ExportSource['publisher'] & { reads: Pick<PublishedReads, 'localFile'> };
  repo: ExportSource['repo'] & Pick<Repo, 'listArchives' | 'tryLock' | 'unlock'>;
  log: Logger;
  now: () => Date;
}

/** The connected object store and catalog. */
type Target = { blobs: S3BlobStore; catalog: PgPublicationCatalog; close(): Promise<void> };

const retryFirstMs = 5_000;
const retryMaxMs = 300_000;

export class Exporter {
  private target: Promise<Target> | null = null;
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly retrying = new Map<string, { timer: NodeJS.Timeout; delay: number }>();
  private closed = false;

  constructor(
    private readonly settings: ExportSettings,
    private readonly deps: ExporterDeps,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /**
   * After an operation ran, before the runner records its end and releases its resources (so no
   * other operation on those archives runs meanwhile): exports every archive whose lock it held, or
   * all of them when it held `store` (gc, fsck --repair). A failed operation too: what it committed
   * before failing is exported, and otherwise the reconcile finds nothing to do. Never throws: a
   * failure is logged and retried (the operation itself is done; the working copy holds it).
   */
  async afterOperation(op: FinishedOperation): Promise<void> {
    const archives = op.resources.includes('store')
      ? this.archives()
      : op.resources.filter((r) => r.startsWith(archiveLock(''))).map((r) => r.slice(archiveLock('').length));
    const results = await Promise.all(archives.map((a) => this.exportQuietly(a, op.kind)));
    // After gc's collections are in the catalog: the object store's own gc (s3/gc.ts) marks what no
    // serial references any more and deletes what has stayed so for the grace period.
    // (Not after a dry run: it holds nothing, and deletes nothing.)
    if (op.kind === 'gc' && op.resources.includes('store') && results.every((r) => r !== null)) await this.collectObjectsQuietly();
  }

  private async collectObjectsQuietly(): Promise<void> {
    try {
      const t = await this.connect();
      const { collectObjects } = await import('./gc.ts');
      const r = await collectObjects(t.blobs, t.catalog.gc(), { graceMs: this.settings.gcGraceMs, now: this.deps.now });
      this.deps.log.info({ ...r }, 'object store gc');
    } catch (e) {
      const err = asAptfreezeError(e);
      this.deps.log.error({ code: err.code, err: err.message }, 'object store gc failed; the next gc retries');
    }
  }

  /**
   * At the writer's start, before it takes operations: every archive reconciled (a writer killed
   * after its local commit publishes what it had not exported). Takes each archive's lock for the
   * run; an archive another process holds is left to that process's own export.
   */
  async reconcileAtStart(): Promise<ReconcileReport[]> {
    await this.exportKeys();
    const out: ReconcileReport[] = [];
    for (const a of this.archives()) {
      const r = await this.underLock(a, 'start');
      if (r) out.push(r);
    }
    return out;
  }

  /**
   * The service's public key files (`keys/aptfreeze.asc`, `.gpg` of the published tree) to the
   * object store and the catalog, so that readers answer `/keys/` too. Never throws: logged, and
   * tried again at the next start.
   */
  private async exportKeys(): Promise<void> {
    try {
      const t = await this.connect();
      const gc = t.catalog.gc();
      const epoch = await gc.epoch();
      const keys = [];
      for (const name of ['aptfreeze.asc', 'aptfreeze.gpg']) {
        const data = await readFile(this.deps.publisher.reads.localFile(`keys/${name}`));
        const ref = await t.blobs.putBuffer(data);
        keys.push({ path: name, sha256: ref.sha256, size: ref.size });
      }
      await t.catalog.setKeys(keys, epoch);
    } catch (e) {
      const err = asAptfreezeError(e);
      this.deps.log.error({ code: err.code, err: err.message }, 'exporting the public key failed; readers do not serve /keys/ until the next start');
    }
  }

  /** Reconciles one archive now (callers hold its lock, or accept a concurrent local change: the next run corrects it). */
  reconcile(archive: string): Promise<ReconcileReport> {
    const prev = this.chains.get(archive) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(async () => reconcileArchive(this.deps, await this.connect(), archive));
    this.chains.set(archive, run);
    void run.catch(() => {}).then(() => {
      if (this.chains.get(archive) === run) this.chains.delete(archive);
    });
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.retrying.values()) clearTimeout(r.timer);
    this.retrying.clear();
    await Promise.allSettled([...this.chains.values()]);
    const t = this.target;
    this.target = null;
    if (t) await t.then((x) => x.close(), () => {});
  }

  private archives(): string[] {
    return this.deps.repo.listArchives().map((a) => a.name);
  }

  private async exportQuietly(archive: string, why: string): Promise<ReconcileReport | null> {
    try {
      const r = await this.reconcile(archive);
      const pending = this.retrying.get(archive);
      if (pending) clearTimeout(pending.timer);
      this.retrying.delete(archive);
      if (r.published.length || r.resigned.length || r.collected.length || r.notes.length) this.deps.log.info({ ...r, after: why }, 'exported to the object store and the publication catalog');
      return r;
    } catch (e) {
      const err = asAptfreezeError(e);
      this.deps.log.error({ archive, after: why, code: err.code, err: err.message }, 'export to the object store and the publication catalog failed; readers keep the previous state; retrying');
      this.retryLater(archive);
      return null;
    }
  }

  /** A reconcile outside any operation: under the archive's lock, or not at all while another holds it. */
  private async underLock(archive: string, why: string): Promise<ReconcileReport | null> {
    const lock = [archiveLock(archive)];
    if (!this.deps.repo.tryLock(lock, process.pid, this.deps.now()).ok) {
      this.deps.log.info({ archive, after: why }, 'export skipped: the archive is busy (its operation exports when it ends)');
      return null;
    }
    try {
      return await this.exportQuietly(archive, why);
    } finally {
      this.deps.repo.unlock(lock, process.pid);
    }
  }

  private retryLater(archive: string): void {
    if (this.closed) return;
    const prev = this.retrying.get(archive);
    if (prev) clearTimeout(prev.timer);
    const delay = prev ? Math.min(prev.delay * 2, retryMaxMs) : retryFirstMs;
    const timer = setTimeout(() => void this.underLock(archive, 'retry').catch((e: Error) => this.deps.log.error({ archive, err: e.message }, 'export retry failed')), delay);
    timer.unref();
    this.retrying.set(archive, { timer, delay });
  }

  /** The object store and the catalog, connected once (a failed connection is tried again next time). */
  private connect(): Promise<Target> {
    if (this.closed) return Promise.reject(new AptfreezeError('INTERNAL', 'the exporter is closed'));
    this.target ??= (async () => {
      const [{ createS3Client }, { S3BlobStore }, { PgPublicationCatalog }] = await Promise.all([
        import('../store/s3-client.ts'),
        import('../store/s3.ts'),
        import('../catalog/pg-publication.ts'),
      ]);
      const client = createS3Client(this.settings.storage, this.env);
      let catalog: PgPublicationCatalog;
      try {
        catalog = await PgPublicationCatalog.open(this.settings.databaseUrl, {
          onIdleError: (e) => this.deps.log.warn({ err: e.message }, 'publication catalog: an idle connection ended'),
        });
      } catch (e) {
        client.destroy();
        throw e;
      }
      const blobs = new S3BlobStore(client, { bucket: this.settings.storage.bucket, prefix: this.settings.storage.prefix });
      return {
        blobs,
        catalog,
        async close() {
          await catalog.close();
          client.destroy();
        },
      };
    })();
    const t = this.target;
    t.catch(() => {
      if (this.target === t) this.target = null;
    });
    return t;
  }
}
