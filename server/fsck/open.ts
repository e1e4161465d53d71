import { existsSync } from 'node:fs';
import { dataLayout } from '../datadir.ts';
import { openDb } from '../catalog/open.ts';
import { Repo } from '../catalog/repo.ts';
import { ReleaseRepo } from '../catalog/release.ts';
import { FsBlobStore, fsStoreDirs } from '../store/store.ts';
import { Publisher } from '../publish/tree.ts';
import { AptfreezeError } from '../errors.ts';
import type { FsckContext } from './check.ts';

/**
 * Opens a data directory for fsck: the database (migrations applied) and the
 * store and tree as they are, without the crash recovery that openServices
 * runs, so that fsck reports what an interrupted run left behind.
 */
export function openForFsck(dataDir: string, now: () => Date = () => new Date()): FsckContext & { close(): void } {
  const layout = dataLayout(dataDir);
  const dir = layout.root;
  const dbPath = layout.db;
  if (!existsSync(dbPath)) throw new AptfreezeError('NOT_FOUND', `${dir} holds no aptfreeze database (expected ${dbPath})`);
  const db = openDb(dbPath);
  const store = new FsBlobStore(layout.store);
  return {
    dataDir: dir,
    db,
    repo: new Repo(db),
    rr: new ReleaseRepo(db),
    store,
    storeDirs: fsStoreDirs(layout.store),
    publisher: new Publisher(layout.public, store),
    now,
    close: () => db.close(),
  };
}
