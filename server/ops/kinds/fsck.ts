import type { OperationDef } from '../operation.ts';
import type { Services } from '../../services.ts';
import type { FsckReport } from '../../fsck/report.ts';
import { objectOf } from './params.ts';
import { dataLayout } from '../../datadir.ts';
import { fsStoreDirs } from '../../store/store.ts';

export type FsckDeps = Pick<Services, 'dataDir' | 'db' | 'repo' | 'store' | 'publisher' | 'now'>;

/**
 * `fsck --repair` (a plain fsck changes nothing and is no operation). Holds the
 * store, like gc: its removal of leftovers takes every archive lock itself
 * (fsck/repair.ts). Run by the CLI without crash recovery first (fsck/open.ts),
 * so that it sees and reports what an interrupted run left.
 */
export const fsckRepairOp: OperationDef<Record<string, never>, FsckReport, FsckDeps> = {
  kind: 'fsck.repair',
  params(raw) {
    objectOf(raw, 'fsck.repair', []);
    return {};
  },
  resources: () => ['store'],
  run: async (s, _p, ctx) => {
    ctx.progress({ step: 'check' });
    const [{ ReleaseRepo }, { runFsck }] = await Promise.all([import('../../catalog/release.ts'), import('../../fsck/fsck.ts')]);
    return runFsck({ dataDir: s.dataDir, db: s.db, repo: s.repo, rr: new ReleaseRepo(s.db), store: s.store, storeDirs: fsStoreDirs(dataLayout(s.dataDir).store), publisher: s.publisher, now: s.now }, { repair: true });
  },
  record: (r) => ({ ok: r.ok, problems: r.problems.length, repaired: r.repaired.length }),
};
