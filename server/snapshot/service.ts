import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import { takeSnapshot, type SnapshotContext, type SnapshotResult } from './run.ts';

/**
 * The one snapshot operation that the CLI, the API and the schedule call.
 * One snapshot of an archive at a time: in this process by a set, across
 * processes by the database lock taken inside takeSnapshot.
 */
export function snapshotService(s: Services, extra: Partial<SnapshotContext> = {}) {
  const running = new Set<string>();
  return async (archive: string, actor: string): Promise<SnapshotResult> => {
    if (running.has(archive)) throw new AptfreezeError('CONFLICT', `a snapshot of ${archive} is already running`);
    running.add(archive);
    try {
      return await takeSnapshot({ config: s.config, repo: s.repo, store: s.store, publisher: s.publisher, key: s.key, now: s.now, log: s.log, ...extra }, archive, actor);
    } finally {
      running.delete(archive);
    }
  };
}
