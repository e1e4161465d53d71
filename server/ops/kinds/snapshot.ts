import type { OperationDef, Progress } from '../operation.ts';
import { archiveLock } from '../../catalog/repo.ts';
import type { SnapshotResult } from '../../snapshot/run.ts';
import { objectOf, stringOf } from './params.ts';

/**
 * A snapshot of one archive. Holds the archive (no freeze, thaw or second
 * snapshot of it meanwhile; gc's store sweep waits for it, see release/gc.ts).
 * Progress: the step, then the pool files and bytes to fetch and fetched.
 */
export const snapshotOp: OperationDef<{ archive: string }, SnapshotResult> = {
  kind: 'snapshot',
  params(raw) {
    const o = objectOf(raw, 'snapshot', ['archive']);
    return { archive: stringOf(o, 'archive', 'snapshot') };
  },
  archive: (p) => p.archive,
  resources: (p) => [archiveLock(p.archive)],
  async run(s, p, ctx) {
    // The pipeline is loaded when a snapshot runs, not with the registry (a command that only talks to the daemon never loads it).
    const [{ takeSnapshot }, { snapshotContext }] = await Promise.all([import('../../snapshot/run.ts'), import('../../snapshot/service.ts')]);
    const progress: Progress = { step: 'start', poolFiles: 0, poolBytes: 0, poolFilesFetched: 0, bytesFetched: 0 };
    const report = (urgent = false) => ctx.progress({ ...progress }, urgent);
    return takeSnapshot(
      snapshotContext(s, {
        step: async (name) => {
          progress['step'] = name;
          report(true);
          await ctx.step?.(name);
        },
        onPlan: ({ poolFiles, poolBytes }) => {
          progress['poolFiles'] = poolFiles;
          progress['poolBytes'] = poolBytes;
          report(true);
        },
        onPoolFile: () => {
          progress['poolFilesFetched'] = Number(progress['poolFilesFetched']) + 1;
          report();
        },
        onBytes: (n) => {
          progress['bytesFetched'] = Number(progress['bytesFetched']) + n;
          report();
        },
      }),
      p.archive,
      ctx.actor,
    );
  },
};
