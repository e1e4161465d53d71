import { mkdirSync, existsSync, readFileSync, writeFileSync, copyFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from './config/load.ts';
import { openDb, type Db } from './catalog/open.ts';
import { Repo, archiveLock } from './catalog/repo.ts';
import { FsBlobStore, type BlobStore } from './store/store.ts';
import { Publisher } from './publish/tree.ts';
import { loadOrCreateServiceKey, type ServiceKey } from './sign/key.ts';
import { TokenService, newToken } from './auth/tokens.ts';
import type { Logger } from './log.ts';
import { finishResigning } from './release/finish-resign.ts';
import { MrRepo } from './catalog/snapmr.ts';
import { sha1Recorder } from './snapmr/sha1.ts';
import { TagRepo } from './catalog/tags.ts';
import { AptfreezeError } from './errors.ts';
import { dataLayout } from './datadir.ts';
import { Exporter, exportSettings } from './s3/exporter.ts';

/** Everything an operation needs, made once and passed in (no module-level singletons). */
export interface Services {
  config: Config;
  dataDir: string;
  db: Db;
  repo: Repo;
  store: BlobStore;
  /**
   * The published tree: the filesystem Publisher, which implements the PublishedTree port
   * (publish/port.ts). Operations take the port (snapshot/types.ts, release/); fsck and the
   * tests, the filesystem backend's own checkers, see the implementation.
   */
  publisher: Publisher;
  key: ServiceKey;
  tokens: TokenService;
  log: Logger;
  now: () => Date;
  /**
   * With `storage: {kind: s3}` + `catalog: {kind: postgres}`: the export of every committed change
   * to the object store and the publication catalog the readers serve (s3/exporter.ts). The runner
   * calls it after each operation; `serve` once at start. Absent on a single machine.
   */
  exporter?: Exporter;
  close(): void;
}

export interface OpenOptions {
  config: Config;
  dataDir: string;
  log: Logger;
  now?: () => Date;
  /** Make `<data>/admin-token` when no bootstrap token exists (the daemon does; one-shot commands don't). */
  makeAdminToken?: boolean;
  /** Run crash recovery (default true; the operations thread leaves it to the daemon that supervises it). */
  recover?: boolean;
}

/** The real clock; a Services whose `now` is another function runs on an injected (test) clock. */
export const systemNow = (): Date => new Date();

let testClockLogged = false;

/**
 * TEST HOOK, the one place it is read: `APTFREEZE_TEST_NOW` moves the clock of a process the tests
 * run as a subprocess (the CLI, a daemon), which cannot be handed a `now`. An ISO time fixes the
 * clock there; `+<ms>` or `-<ms>` offsets it from the real one. Honoured only when set and no clock
 * is passed in; logged once at warn, so that it is never in effect silently.
 */
export function testClockFromEnv(log: Logger, value = process.env['APTFREEZE_TEST_NOW']): (() => Date) | undefined {
  if (value === undefined || value === '') return undefined;
  let clock: () => Date;
  if (/^[+-]\d+$/.test(value)) {
    const offset = Number(value);
    clock = () => new Date(Date.now() + offset);
  } else {
    const fixed = Date.parse(value);
    if (!Number.isFinite(fixed)) throw new AptfreezeError('CONFIG_INVALID', `APTFREEZE_TEST_NOW=${value}: expected an ISO time or +/-milliseconds`);
    clock = () => new Date(fixed);
  }
  if (!testClockLogged) {
    testClockLogged = true;
    log.warn({ APTFREEZE_TEST_NOW: value }, 'test hook: the clock is APTFREEZE_TEST_NOW, not the real one');
  }
  return clock;
}

/**
 * Opens the data directory: database (migrations applied), store, published
 * tree, signing key. Then recovers from any crash: half-built serials of
 * archives no live process is snapshotting are marked failed and removed.
 *
 *   <data>/aptfreeze.db   <data>/store/   <data>/public/   <data>/keys/private.asc (0600)
 */
export async function openServices(opts: OpenOptions): Promise<Services> {
  const layout = dataLayout(opts.dataDir);
  const dataDir = layout.root;
  refuseUnwiredStorage(opts.config, dataDir);
  const exporting = exportSettings(opts.config, process.env);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = openDb(layout.db);
  const repo = new Repo(db);
  const store = new FsBlobStore(layout.store);
  await store.init();
  store.sha1Sink = sha1Recorder(new MrRepo(db));
  const publicRoot = layout.public;
  mkdirSync(join(publicRoot, 'keys'), { recursive: true });
  const publisher = new Publisher(publicRoot, store);
  const key = await loadOrCreateServiceKey(layout.keys);
  for (const f of ['aptfreeze.asc', 'aptfreeze.gpg']) {
    const src = join(layout.keys, f);
    const dst = join(publicRoot, 'keys', f);
    if (!existsSync(dst) || statSync(dst).size !== statSync(src).size) copyFileSync(src, dst);
  }
  const tokenFile = layout.adminToken;
  if (opts.makeAdminToken && !process.env['APTFREEZE_ADMIN_TOKEN'] && !existsSync(tokenFile)) {
    writeFileSync(tokenFile, `${newToken()}\n`, { mode: 0o600, flag: 'wx' });
    opts.log.info({ file: tokenFile }, 'made a bootstrap admin token');
  }
  const bootstrap = () => process.env['APTFREEZE_ADMIN_TOKEN'] || (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined);
  const tokens = new TokenService(repo, bootstrap);
  const now = opts.now ?? testClockFromEnv(opts.log) ?? systemNow;
  const services: Services = { config: opts.config, dataDir, db, repo, store, publisher, key, tokens, log: opts.log, now, close: () => db.close() };
  if (exporting) {
    const exporter = new Exporter(exporting, { repo, store, publisher, log: opts.log, now });
    services.exporter = exporter;
    services.close = () => {
      void exporter.close();
      db.close();
    };
  }
  if (opts.recover !== false) await recover(services);
  return services;
}

/**
 * The data directory is always the writer's working copy: with storage s3 + catalog postgres it
 * EXPORTS to them (exportSettings checks that pair and its environment; README "Running past one
 * machine"); an fs store elsewhere than <data>/store is refused at start, never silently replaced.
 */
function refuseUnwiredStorage(config: Config, dataDir: string): void {
  const s = config.storage;
  if (s.kind !== 'fs') return;
  const store = dataLayout(dataDir).store;
  if (s.path !== undefined && resolve(s.path) !== store) {
    throw new AptfreezeError('CONFIG_INVALID', `storage.path ${s.path}: a store outside the data directory is not supported yet (expected ${store} or no path)`);
  }
}

/** Crash recovery; skips any archive whose lock a live process (or an operation of this one) holds. */
export async function recover(s: Services): Promise<void> {
  const archives = new Set([...s.repo.listArchives().map((a) => a.name), ...s.config.archives.map((a) => a.name)]);
  const locked = new Set<string>();
  const orphans: string[] = [];
  const keepPublished = (archive: string, serial: string) => {
    const row = s.repo.getSerial(archive, serial);
    return row !== undefined && (row.state === 'live' || row.state === 'frozen');
  };
  for (const a of archives) {
    if (!s.repo.tryLock([archiveLock(a)], process.pid, s.now()).ok) {
      locked.add(a);
      continue;
    }
    try {
      for (const p of s.repo.pendingSerials()) if (p.archive === a) s.repo.markFailed(a, p.serial, 'INTERNAL: interrupted (recovered at start)');
      orphans.push(...(await s.publisher.recover((x) => x !== a, keepPublished)));
      orphans.push(...(await s.publisher.removeOrphanPools(a)));
    } finally {
      s.repo.unlock([archiveLock(a)], process.pid);
    }
  }
  const tags = new TagRepo(s.db);
  for (const a of archives) orphans.push(...(await s.publisher.tags.recover(a, (name) => tags.archiveOf(name, a) !== undefined, (name) => tags.lockHeld(`tag:${name}`))));
  const removed = orphans;
  // A freeze or thaw interrupted half-way through its Release files (crash or power cut): finish it from the database's record.
  const notes: string[] = [];
  try {
    const finished = await finishResigning(s, s.key, [...archives].filter((a) => !locked.has(a)), (n) => notes.push(n));
    if (finished.length || notes.length) s.log.warn({ finished, notes }, 'finished re-signing serials an interrupted freeze or thaw left half-done');
  } catch (e) {
    s.log.error({ err: (e as Error).message }, 'could not finish an interrupted re-signing; `aptfreeze fsck --repair` retries it');
  }
  for (const a of archives) {
    if (locked.has(a)) continue;
    const latest = s.repo.latestSerial(a);
    // Also finishes a move of latest interrupted between the symlink and the trace file.
    if (s.publisher.latestOf(a) !== latest || (latest !== null && s.publisher.reads.traceOf(a) !== latest)) await s.publisher.setLatest(a, latest, s.now());
  }
  if (removed.length) s.log.warn({ removed }, 'removed half-built serials left by an interrupted run');
}

