import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import { archiveLock } from '../catalog/repo.ts';
import { takeSnapshot, type SnapshotContext, type SnapshotResult } from './run.ts';

/** The context takeSnapshot needs, from the services. */
export function snapshotContext(s: Services, extra: Partial<SnapshotContext> = {}): SnapshotContext {
  return { config: s.config, repo: s.repo, store: s.store, publisher: s.publisher, key: s.key, now: s.now, log: s.log, ...extra };
}

/**
 * A snapshot outside the operations runner (tests that drive takeSnapshot with
 * their own hooks): takes the archive's lock as the runner would, CONFLICT when
 * another holder (snapshot, freeze, thaw; this process or another) has it. The
 * daemon and the CLI go through server/ops/ instead.
 */
export function snapshotService(s: Services, extra: Partial<SnapshotContext> = {}) {
  return async (archive: string, actor: string): Promise<SnapshotResult> => {
    const lock = [archiveLock(archive)];
    if (!s.repo.tryLock(lock, process.pid, s.now()).ok) throw new AptfreezeError('CONFLICT', `a snapshot of ${archive} is already running`);
    try {
      return await takeSnapshot(snapshotContext(s, extra), archive, actor);
    } finally {
      try {
        s.repo.unlock(lock, process.pid);
      } catch {
        // A full disk fails the database too: the run's own error is what is reported; a lock
        // row of this process is released when it exits (a dead holder's row is taken over).
      }
    }
  };
}
