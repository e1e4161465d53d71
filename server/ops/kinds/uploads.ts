import type { OperationDef } from '../operation.ts';
import type { Services } from '../../services.ts';
import { AptfreezeError } from '../../errors.ts';
import { archiveLock } from '../../catalog/repo.ts';
import type { UploadResult } from '../../uploads/process.ts';
import type { DiffEntry, Overlays } from '../../uploads/overlay.ts';
import type { RepoPublishResult } from '../../uploads/publish.ts';
import { objectOf, stringOf } from './params.ts';

/**
 * The writers of a custom repository: an upload, and the overlay suites' create, merge and
 * reset. Each holds the repository's archive lock (no freeze, thaw or gc sweep of it meanwhile,
 * and it publishes a serial with the lock held), and all of them are one line of the runner:
 * eight dput clients at once are processed one after the other in arrival order, not refused.
 * Anything else holding the repository is CONFLICT at once.
 */
const repositoryLock = (p: { repository: string }) => [archiveLock(p.repository)];
const repositoryLine = (p: { repository: string }) => archiveLock(p.repository);
/** The overlay service, loaded when an operation of a repository runs, not with the registry (operation.ts). */
const overlays = async (s: Services): Promise<Overlays> => new (await import('../../uploads/overlay.ts')).Overlays(s);

function boolOf(o: Record<string, unknown>, key: string, kind: string): boolean {
  const v = o[key];
  if (v !== undefined && typeof v !== 'boolean') throw new AptfreezeError('BAD_REQUEST', `${kind}: ${key}: expected true or false`);
  return v === true;
}

interface UploadParams {
  repository: string;
  /** The upload session holding the files (uploads/session.ts), by id. */
  session: string;
  /** The .changes file's name in the session. */
  changes: string;
}

/** One upload: its checks, its catalog entry and audit entry (one transaction), then the serial that publishes it. */
export const uploadOp: OperationDef<UploadParams, UploadResult> = {
  kind: 'upload',
  params(raw) {
    const o = objectOf(raw, 'upload', ['repository', 'session', 'changes']);
    return { repository: stringOf(o, 'repository', 'upload'), session: stringOf(o, 'session', 'upload'), changes: stringOf(o, 'changes', 'upload') };
  },
  archive: (p) => p.repository,
  resources: repositoryLock,
  line: repositoryLine,
  async run(s: Services, p, ctx) {
    const [{ Catalog }, { processUpload }] = await Promise.all([import('../../catalog/uploads.ts'), import('../../uploads/process.ts')]);
    const cfg = (await overlays(s)).repository(p.repository);
    const session = new Catalog(s.db).sessionById(p.session);
    if (!session || session.repository !== p.repository) throw new AptfreezeError('NOT_FOUND', `upload session ${p.session} of ${p.repository} is gone (processed already, or idle past the repository's sessionTimeout): upload again`);
    ctx.progress({ step: 'check' }, true);
    return processUpload(s, cfg, session, p.changes, ctx.actor);
  },
};

export const suiteCreateOp: OperationDef<{ repository: string; suite: string; base: string }, RepoPublishResult> = {
  kind: 'suite.create',
  params(raw) {
    const o = objectOf(raw, 'suite.create', ['repository', 'suite', 'base']);
    return { repository: stringOf(o, 'repository', 'suite.create'), suite: stringOf(o, 'suite', 'suite.create'), base: stringOf(o, 'base', 'suite.create') };
  },
  archive: (p) => p.repository,
  resources: repositoryLock,
  line: repositoryLine,
  run: async (s, p, ctx) => (await overlays(s)).create(p.repository, p.suite, p.base, ctx.actor),
};

export const suiteMergeOp: OperationDef<{ repository: string; overlay: string; into?: string; force: boolean }, { changes: DiffEntry[]; serial: string }> = {
  kind: 'suite.merge',
  params(raw) {
    const o = objectOf(raw, 'suite.merge', ['repository', 'overlay', 'into', 'force']);
    return {
      repository: stringOf(o, 'repository', 'suite.merge'),
      overlay: stringOf(o, 'overlay', 'suite.merge'),
      ...(o['into'] === undefined ? {} : { into: stringOf(o, 'into', 'suite.merge') }),
      force: boolOf(o, 'force', 'suite.merge'),
    };
  },
  archive: (p) => p.repository,
  resources: repositoryLock,
  line: repositoryLine,
  run: async (s, p, ctx) => (await overlays(s)).merge(p.repository, p.overlay, { into: p.into, force: p.force }, ctx.actor),
};

export const suiteResetOp: OperationDef<{ repository: string; overlay: string }, { removed: number; serial: string }> = {
  kind: 'suite.reset',
  params(raw) {
    const o = objectOf(raw, 'suite.reset', ['repository', 'overlay']);
    return { repository: stringOf(o, 'repository', 'suite.reset'), overlay: stringOf(o, 'overlay', 'suite.reset') };
  },
  archive: (p) => p.repository,
  resources: repositoryLock,
  line: repositoryLine,
  run: async (s, p, ctx) => (await overlays(s)).reset(p.repository, p.overlay, ctx.actor),
};
