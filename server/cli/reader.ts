// The lean open of a data directory for commands that only read the catalog (`serials`): the
// configuration, the database and its Repo, without the store, the published tree's Publisher or
// the signing key, so that such a command loads neither openpgp nor the HTTP server's modules.
//
// It must not change what the command reports or what it leaves behind. A full open
// (services.ts) also recovers from a crash; so this one first looks, with a few stats and
// readdirs, for anything recovery would act on, and when it finds anything (or the data directory
// is new, or its key needs refusing) it opens the full services instead, recovery included.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/load.ts';
import type { Db } from '../catalog/open.ts';
import type { Repo } from '../catalog/repo.ts';
import { configFrom, dataDirFrom, withServices, type GlobalOptions } from './context.ts';
import { dataLayout } from '../datadir.ts';
import { cachedConfig } from '../config/cache.ts';

export interface Reader {
  config: Config;
  dataDir: string;
  db: Db;
  repo: Repo;
  now: () => Date;
}

/** Runs `fn` on a read-only view of the data directory; a full open (with recovery) when the directory needs one. */
export async function withReader<T>(g: GlobalOptions, fn: (r: Reader) => Promise<T>): Promise<T> {
  const dataDir = resolve(dataDirFrom(g));
  // A configuration validated before from the same bytes skips yaml, zod and node-cron (context.ts, config/cache.ts).
  const config = await configFrom(g);
  const reader = await openLean(config, dataDir);
  if (!reader) return withServices(g, fn);
  try {
    return await fn(reader);
  } finally {
    if (reader.db.open) reader.db.close();
  }
}

/**
 * The lean entry's open (cli/lean.ts): a reader from the cached configuration only, or null when
 * anything (no cache, a directory needing recovery) asks for the full program, which then does
 * all as withReader does. The caller closes `db`.
 */
export async function cachedReader(g: GlobalOptions): Promise<Reader | null> {
  const dataDir = resolve(dataDirFrom(g));
  const config = cachedConfig(dataLayout(dataDir).configCache, g.config || process.env['APTFREEZE_CONFIG'] || undefined).config;
  return config ? openLean(config, dataDir) : null;
}

/** The database and Repo of a settled data directory, or null when a full open (with recovery) is needed. */
async function openLean(config: Config, dataDir: string): Promise<Reader | null> {
  if (!looksSettled(config, dataDir)) return null;
  const [{ openDb }, { Repo }] = await Promise.all([import('../catalog/open.ts'), import('../catalog/repo.ts')]);
  const db = openDb(dataLayout(dataDir).db);
  try {
    const repo = new Repo(db);
    if (await needsRecovery(config, dataDir, db, repo)) {
      db.close();
      return null;
    }
    return { config, dataDir, db, repo, now: () => new Date() };
  } catch (e) {
    if (db.open) db.close();
    throw e;
  }
}

/** The files a full open would make, fix or refuse are there and as it leaves them. */
function looksSettled(config: Config, dataDir: string): boolean {
  // services.ts refuses storage it does not wire; let it say so.
  if (config.storage.kind !== 'fs' || config.storage.path !== undefined || config.catalog.kind !== 'sqlite') return false;
  try {
    const layout = dataLayout(dataDir);
    if (!statSync(layout.db).isFile()) return false;
    const keys = layout.keys;
    if ((statSync(keys).mode & 0o077) !== 0) return false;
    const priv = statSync(join(keys, 'private.asc'));
    if (!priv.isFile() || (priv.mode & 0o077) !== 0) return false;
    for (const f of ['aptfreeze.asc', 'aptfreeze.gpg']) {
      if (statSync(join(layout.public, 'keys', f)).size !== statSync(join(keys, f)).size) return false;
    }
    // Blobs a power cut may have left unflushed (store/unsynced-<pid>), partial downloads.
    const store = layout.store;
    if (readdirSync(store).some((f) => f.startsWith('unsynced-'))) return false;
    if (readdirSync(join(store, 'tmp')).length > 0) return false;
    return true;
  } catch {
    return false;
  }
}

/** What services.ts `recover` would act on: pending serials, leftovers in the tree, latest or trace behind, a half-done re-signing. */
async function needsRecovery(config: Config, dataDir: string, db: Db, repo: Repo): Promise<boolean> {
  if (repo.pendingSerials().length > 0) return true;
  const [{ suitesToResign }, { TagRepo }, { PublishedReads }] = await Promise.all([import('../release/resign-check.ts'), import('../catalog/tags.ts'), import('../publish/reads.ts')]);
  const tree = new PublishedReads(dataLayout(dataDir).public);
  const tags = new TagRepo(db);
  const archives = new Set([...repo.listArchives().map((a) => a.name), ...config.archives.map((a) => a.name)]);
  for (const a of archives) {
    const facts = { serialState: (serial: string) => repo.getSerial(a, serial)?.state, tagKnown: (name: string) => tags.archiveOf(name, a) !== undefined, latest: repo.latestSerial(a) };
    if (tree.needsRecovery(a, facts)) return true;
    for (const row of repo.listSerials(a)) if (suitesToResign({ repo, tree }, row).length > 0) return true;
  }
  return false;
}
