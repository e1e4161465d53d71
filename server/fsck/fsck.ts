import { FsckCheck, type FsckContext } from './check.ts';
import { repair } from './repair.ts';
import type { FsckReport, Problem } from './report.ts';

/**
 * `aptfreeze fsck`: checks the published tree, the store and the database
 * against each other (check.ts); with `repair`, fixes what can be fixed
 * (repair.ts) and checks again, so the report says what is left.
 */
export async function runFsck(ctx: FsckContext, opts: { repair?: boolean } = {}): Promise<FsckReport> {
  const t0 = Date.now();
  const first = new FsckCheck(ctx);
  const report = await first.run();
  if (!opts.repair || report.problems.every((p) => p.repair === undefined)) return report;
  const notes: string[] = [];
  await repair(ctx, first.findings, (n) => notes.push(n));
  const after = await new FsckCheck(ctx).run();
  const key = (p: Problem) => `${p.kind}\0${p.path ?? ''}\0${p.archive ?? ''}\0${p.serial ?? ''}\0${p.message}`;
  const left = new Set(after.problems.map(key));
  return {
    ...after,
    repaired: report.problems.filter((p) => p.repair !== undefined && !left.has(key(p))),
    notes: [...after.notes, ...notes],
    ms: Date.now() - t0,
  };
}
