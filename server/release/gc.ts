/**
 * Garbage collection: collect expired serials, then sweep the store.
 *
 * 1. Collect. Per archive, selectCollectable (state.ts) picks live serials past
 *    valid_until that are neither the latest nor among the newest `keep`. Each
 *    is marked collected in one conditional UPDATE (still live and expired:
 *    a freeze or thaw that won the race keeps it), then its tree is removed.
 *    Its URLs answer 410 from then on (http/static.ts). Marking first means a
 *    crash can leave a collected serial's tree behind, never a live serial
 *    without its tree; the next gc removes such leftovers.
 *
 * 2. Sweep the store. THE RULE: a blob is deleted only when
 *    (a) no manifest of a live or frozen serial lists it (nor is it such a
 *        manifest), with the manifests read while (b) holds, and
 *    (b) gc holds the `archive:<archive>` lock of EVERY archive it knows
 *        (configured or in the database) and no other `archive:*` lock is
 *        held, i.e. no snapshot, freeze or thaw runs, in this process or another.
 *    A snapshot in progress decides early that a blob it needs is "already
 *    stored" (store.has) and links it much later, and no manifest lists the
 *    blob until the snapshot is recorded; so while any snapshot runs, the
 *    sweep is skipped (reported, and the daemon retries later), and while the
 *    sweep runs, a snapshot of another process cannot start (its lock is
 *    taken: CONFLICT). The exclusion is the lock rows', not the event loop's:
 *    the sweep's final step awaits the store (an asynchronous port) while it
 *    holds the locks, and Repo.tryLock is not re-entrant, so a snapshot of
 *    this process is excluded by the lock rows as one of another process is.
 *    The expensive part (reading manifests, listing the store) runs before,
 *    without locks; the locked step re-reads only manifests recorded since.
 *    Shared pool directories (`<archive>/.pools/<id>/`, which serials link
 *    to as `<serial>/pool -> ../.pools/<id>`, and which a new serial extends
 *    with the files it adds) follow the same rule: a file of a pool tree
 *    that no remaining serial linking to the tree lists is unlinked in the
 *    locked step (a snapshot may be linking into the tree otherwise), and a
 *    tree no serial or staging tree links to is renamed aside in the locked
 *    step (so a snapshot starting after it builds a new one rather than
 *    extend it) and deleted after the locks are released.
 *    Tags (server/tags/) are never collected: the manifest of each tag's
 *    tree counts as a remaining manifest (ReleaseRepo.remainingManifests),
 *    so a blob only a tag lists survives the serial it came from; a tag
 *    creation holds the snapshot locks of its archives until its manifest is
 *    recorded, so the sweep never runs between its reading a serial's blobs
 *    and recording them. Tag trees hard-link their own pool files (no
 *    shared pool tree), so the pool step never touches them.
 *    A derived blob (the cached pool references of an index, index_refs)
 *    counts as referenced while its index is: the cache stays useful for
 *    indices still served, and one whose blob is swept is a cache miss.
 */
import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import { readManifest, parseManifest, manifestBlobs, refsPrefix } from '../snapshot/manifest.ts';
import { loadRefs, blobReader } from '../snapshot/refs.ts';
import { ReleaseRepo } from '../catalog/release.ts';
import { archiveLock } from '../catalog/repo.ts';
import { selectCollectable, type KeepReason } from './state.ts';

export type GcDeps = Pick<Services, 'config' | 'db' | 'repo' | 'store' | 'publisher' | 'now' | 'log'>;

export interface GcReport {
  dryRun: boolean;
  at: string;
  /** Serials collected (or, in a dry run, that would be). */
  collected: Array<{ archive: string; serial: string; validUntil: string | null }>;
  /** Published serials that stay, and why. */
  kept: Array<{ archive: string; serial: string; reason: KeepReason }>;
  /** Trees of serials collected or failed earlier that were still on disk (an interrupted gc). */
  leftoverTrees: string[];
  store: {
    /** Whether the store was swept; false with `skipped` saying why. */
    swept: boolean;
    skipped?: string;
    blobsRemoved: number;
    bytesFreed: number;
    blobsKept: number;
    /** Shared pool directories (`<archive>/.pools/<id>`) no serial links to any more. */
    poolsRemoved: string[];
    /** Files pruned from shared pool trees: no remaining serial lists them. */
    poolFilesRemoved: number;
  };
  /** sweep includes `locked`: how long every snapshot lock was held (a snapshot of another process starting then gets CONFLICT). */
  ms: { collect: number; sweep: number; locked: number; total: number };
}

/** Every archive gc looks at: configured ones and those with history. */
function archivesOf(s: GcDeps): string[] {
  return [...new Set([...s.config.archives.map((a) => a.name), ...s.repo.listArchives().map((a) => a.name)])].sort();
}

export async function runGc(s: GcDeps, opts: { dryRun?: boolean; actor: string }): Promise<GcReport> {
  const t0 = Date.now();
  const now = s.now();
  const dryRun = Boolean(opts.dryRun);
  const rr = new ReleaseRepo(s.db);
  const report: GcReport = {
    dryRun,
    at: now.toISOString(),
    collected: [],
    kept: [],
    leftoverTrees: [],
    store: { swept: false, blobsRemoved: 0, bytesFreed: 0, blobsKept: 0, poolsRemoved: [], poolFilesRemoved: 0 },
    ms: { collect: 0, sweep: 0, locked: 0, total: 0 },
  };
  const archives = archivesOf(s);

  for (const archive of archives) {
    const plan = selectCollectable(s.repo.listSerials(archive), { now, keep: s.config.keep });
    for (const k of plan.keep) report.kept.push({ archive, serial: k.row.serial, reason: k.reason });
    for (const row of plan.collect) {
      if (dryRun) {
        report.collected.push({ archive, serial: row.serial, validUntil: row.valid_until });
        continue;
      }
      const done = s.db
        .transaction(() => {
          if (!rr.markCollected(archive, row.serial, now)) return false;
          s.repo.appendAudit(
            { actor: opts.actor, action: 'collect', target: `${archive}/${row.serial}`, before: { state: 'expired', validUntil: row.valid_until }, after: { state: 'collected' } },
            now,
          );
          return true;
        })
        .immediate();
      if (!done) continue;
      await s.publisher.removeSerial(archive, row.serial);
      report.collected.push({ archive, serial: row.serial, validUntil: row.valid_until });
    }
    if (!dryRun) report.leftoverTrees.push(...(await removeLeftoverTrees(s, rr, archive)));
  }
  const t1 = Date.now();
  report.ms.collect = t1 - t0;

  if (dryRun) await dryRunSweep(s, report, archives);
  else await sweep(s, rr, report, archives, now);
  report.ms.sweep = Date.now() - t1;
  report.ms.total = Date.now() - t0;

  if (!dryRun) {
    s.repo.appendAudit(
      {
        actor: opts.actor,
        action: 'gc',
        target: '*',
        after: {
          collected: report.collected.map((c) => `${c.archive}/${c.serial}`),
          swept: report.store.swept,
          ...(report.store.skipped ? { skipped: report.store.skipped } : {}),
          blobsRemoved: report.store.blobsRemoved,
          bytesFreed: report.store.bytesFreed,
        },
      },
      s.now(),
    );
  }
  s.log.info({ dryRun, collected: report.collected.length, ...report.store, ms: report.ms }, dryRun ? 'gc dry run' : 'gc done');
  return report;
}

/** Serial directories whose row says collected or failed (a gc or a snapshot interrupted before removing them). */
async function removeLeftoverTrees(s: GcDeps, rr: ReleaseRepo, archive: string): Promise<string[]> {
  const states = rr.serialStates(archive);
  return s.publisher.removeSerials(archive, (serial) => {
    const st = states.get(serial);
    return st === 'collected' || st === 'failed';
  });
}

/** Serials that are published but have no manifest: gc cannot know their blobs, so it must not sweep. */
function unmanifested(s: GcDeps): string[] {
  return new ReleaseRepo(s.db).unmanifested();
}

async function referencedBy(s: GcDeps, manifests: Iterable<string>, into: Set<string>, read: Set<string>): Promise<void> {
  for (const m of manifests) {
    if (read.has(m)) continue;
    let man;
    try {
      man = await readManifest(s.store, m);
    } catch (e) {
      throw new AptfreezeError('INTERNAL', `store sweep aborted: the manifest ${m} of a remaining serial cannot be read (${(e as Error).message})`, { cause: e });
    }
    read.add(m);
    into.add(m);
    for (const l of man.tree) into.add(l.sha256);
    for (const l of man.extra) into.add(l.sha256);
  }
}

/** Derived blobs (index_refs) of indices that are referenced. */
function addDerived(rr: ReleaseRepo, referenced: Set<string>): void {
  for (const d of rr.derivedBlobs()) if (referenced.has(d.of)) referenced.add(d.blob);
}

/** The same as referencedBy, failing with what the locked step reports. */
async function referencedByLocked(s: GcDeps, manifests: Iterable<string>, into: Set<string>, read: Set<string>): Promise<void> {
  const reader = blobReader(s.store);
  for (const m of manifests) {
    if (read.has(m)) continue;
    try {
      await manifestBlobs(reader, m, into);
    } catch (e) {
      throw new AptfreezeError('INTERNAL', `store sweep aborted: the manifest ${m} of a remaining serial cannot be read (${(e as Error).message})`, { cause: e });
    }
    read.add(m);
    into.add(m);
  }
}

/**
 * Pool trees are shared and grow: each serial links the files it adds into
 * its predecessor's tree (publish/tree.ts). A file no remaining serial of a
 * tree lists is pruned. What each tree must hold comes from the remaining
 * serials' refs heads (each distinct head read once).
 */
export interface PoolExpectations {
  /** pool id -> paths (relative to the pool tree) some remaining serial lists */
  paths: Map<string, Set<string>>;
  /** `archive/serial` taken into account */
  serials: Set<string>;
  heads: Map<string, Set<string>>;
}

export async function expectPools(s: Pick<GcDeps, 'store' | 'publisher'>, archive: string, rows: Array<{ serial: string; manifest_sha256: string | null }>, into: PoolExpectations): Promise<void> {
  const read = blobReader(s.store);
  for (const row of rows) {
    const key = `${archive}/${row.serial}`;
    if (into.serials.has(key) || !row.manifest_sha256) continue;
    into.serials.add(key);
    const id = s.publisher.poolIdOf(archive, row.serial);
    if (!id) continue;
    const paths = into.paths.get(id) ?? new Set<string>();
    into.paths.set(id, paths);
    const seen = into.heads.get(id) ?? new Set<string>();
    into.heads.set(id, seen);
    const m = parseManifest((await read(row.manifest_sha256)).toString('utf8'), row.manifest_sha256);
    for (const l of m.tree) if (l.path.startsWith('pool/')) paths.add(l.path.slice(5));
    for (const l of m.extra) {
      if (!l.path.startsWith(refsPrefix) || seen.has(l.sha256)) continue;
      seen.add(l.sha256);
      for (const p of (await loadRefs(read, l.sha256)).refs.keys()) if (p.startsWith('pool/')) paths.add(p.slice(5));
    }
  }
}

async function sweep(s: GcDeps, rr: ReleaseRepo, report: GcReport, archives: string[], now: Date): Promise<void> {
  const missing = unmanifested(s);
  if (missing.length) {
    report.store.skipped = `serials without a manifest: ${missing.join(', ')}`;
    return;
  }
  // Unlocked, and the slow part: what the remaining serials reference, and what the store holds besides.
  const referenced = new Set<string>();
  const read = new Set<string>();
  await referencedBy(s, rr.remainingManifests(), referenced, read);
  addDerived(rr, referenced);
  const poolExp = new Map<string, PoolExpectations>();
  const poolCandidates = new Map<string, Array<{ id: string; rel: string }>>();
  for (const a of archives) {
    const exp: PoolExpectations = { paths: new Map(), serials: new Set(), heads: new Map() };
    await expectPools(s, a, s.repo.listSerials(a), exp);
    poolExp.set(a, exp);
    poolCandidates.set(a, s.publisher.poolTrees.filesBeyond(a, exp.paths));
  }
  const candidates: string[] = [];
  let total = 0;
  for await (const h of s.store.list()) {
    total++;
    if (!referenced.has(h)) candidates.push(h);
  }

  // Locked from here to unlock (see THE RULE at the top of this file).
  const names = [...archives.map(archiveLock), archiveLock('')];
  const lock = s.repo.tryLock(names, process.pid, now);
  const lockedAt = Date.now();
  if (!lock.ok) {
    report.store.skipped = `a snapshot is running (${lock.busy.map((b) => `${b.name.slice(archiveLock('').length)}: pid ${b.pid} since ${b.acquired_at}`).join('; ')}); run gc again when it has finished`;
    report.store.blobsKept = total;
    return;
  }
  try {
    const again = unmanifested(s);
    if (again.length) {
      report.store.skipped = `serials without a manifest: ${again.join(', ')}`;
      return;
    }
    // Serials published between the unlocked pass and taking the locks.
    await referencedByLocked(s, rr.remainingManifests(), referenced, read);
    addDerived(rr, referenced);
    for (const h of candidates) {
      if (referenced.has(h)) continue;
      const size = await s.store.size(h).catch(notThere);
      if (size === null) continue;
      await s.store.remove(h);
      report.store.blobsRemoved++;
      report.store.bytesFreed += size;
    }
    for (const archive of archives) {
      // Serials published since the unlocked pass may list some of the candidates.
      const exp = poolExp.get(archive)!;
      await expectPools(s, archive, s.repo.listSerials(archive), exp);
      for (const c of poolCandidates.get(archive) ?? []) {
        if (exp.paths.get(c.id)?.has(c.rel)) continue;
        if (!s.publisher.poolTrees.pruneFileSync(archive, c.id, c.rel)) continue;
        report.store.poolFilesRemoved++;
      }
      for (const id of s.publisher.poolTrees.unusedSync(archive, new Set())) {
        s.publisher.poolTrees.retireSync(archive, id);
        report.store.poolsRemoved.push(`${archive}/${id}`);
      }
    }
    report.store.swept = true;
    report.store.blobsKept = total - report.store.blobsRemoved;
  } finally {
    s.repo.unlock(names, process.pid);
    report.ms.locked = Date.now() - lockedAt;
  }
  for (const archive of archives) await s.publisher.poolTrees.removeRetired(archive);
}

/** A blob's size, or null when it is not there (removed since the list was made). */
function notThere(e: unknown): null {
  if (e instanceof AptfreezeError && e.code === 'NOT_FOUND') return null;
  throw e;
}

/** What a sweep would remove if the collected serials were gone: nothing is locked or deleted. */
async function dryRunSweep(s: GcDeps, report: GcReport, archives: string[]): Promise<void> {
  const missing = unmanifested(s);
  if (missing.length) {
    report.store.skipped = `serials without a manifest: ${missing.join(', ')}`;
    return;
  }
  const collected = new Set(report.collected.map((c) => `${c.archive}/${c.serial}`));
  const manifests = new Set<string>(new ReleaseRepo(s.db).tagManifests());
  for (const a of archives) for (const r of s.repo.listSerials(a)) if (!collected.has(`${a}/${r.serial}`) && r.manifest_sha256) manifests.add(r.manifest_sha256);
  const referenced = new Set<string>();
  await referencedBy(s, manifests, referenced, new Set());
  addDerived(new ReleaseRepo(s.db), referenced);
  for (const a of archives) {
    const ignore = new Set(report.collected.filter((c) => c.archive === a).map((c) => c.serial));
    for (const id of s.publisher.poolTrees.unusedSync(a, ignore)) report.store.poolsRemoved.push(`${a}/${id}`);
  }
  for await (const h of s.store.list()) {
    if (referenced.has(h)) {
      report.store.blobsKept++;
      continue;
    }
    report.store.blobsRemoved++;
    report.store.bytesFreed += await s.store.size(h);
  }
}
