import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { manifestBlobs } from '../snapshot/manifest.ts';
import { blobReader } from '../snapshot/refs.ts';
import { expectPools, type PoolExpectations } from '../release/gc.ts';
import { loadOrCreateServiceKey } from '../sign/key.ts';
import { resignFromRecord } from '../release/finish-resign.ts';
import { syncFileSystem } from '../util/atomic-write.ts';
import { archiveLock } from '../catalog/repo.ts';
import type { Finding, FsckContext } from './check.ts';
import { dataLayout } from '../datadir.ts';
import { poolLinkTarget } from '../publish/layout.ts';

/**
 * --repair: finishes half-done steps and removes what nothing references.
 *
 * - pending serials of dead processes become failed (as crash recovery does);
 * - a published file that is missing or not its hash is linked again from its
 *   store blob, when that blob is whole; a lost blob is put back from a whole
 *   published copy; a wrong pool symlink is pointed at its pool tree;
 * - a suite whose signed files disagree with each other or with the database's
 *   Valid-Until is re-signed from the text our own signature still vouches for
 *   (as freeze does), in one IMMEDIATE transaction with the row re-read;
 * - latest and the trace file are pointed at the newest published serial; the
 *   key files get their modes and the served public key back;
 * - staging trees, unpublished serial trees, stray and temp files, unused pool
 *   trees, unreferenced blobs and partial downloads are removed, holding the
 *   snapshot lock of every archive (no snapshot runs meanwhile), after the
 *   references are read again under those locks.
 *
 * Nothing that a published serial references is ever removed; corrupt data
 * that has no whole copy (a corrupt blob, a suite no signature vouches for)
 * is reported and left for the operator.
 */
export async function repair(ctx: FsckContext, findings: Finding[], note: (s: string) => void): Promise<void> {
  const now = ctx.now();
  const of = (...kinds: Finding['kind'][]) => findings.filter((f) => kinds.includes(f.kind));

  for (const f of of('pending-serial')) ctx.repo.markFailed(f.archive!, f.serial!, 'INTERNAL: interrupted (marked failed by fsck --repair)');

  for (const f of of('missing-file', 'corrupt-file')) {
    if (!f.fix?.abs || !f.fix.sha256) continue;
    mkdirSync(dirname(f.fix.abs), { recursive: true });
    const tmp = `${f.fix.abs}.fsck-${randomBytes(4).toString('hex')}`;
    await ctx.publisher.linkBlob(f.fix.sha256, tmp);
    rmSync(f.fix.abs, { recursive: true, force: true });
    renameSync(tmp, f.fix.abs);
  }
  for (const f of of('missing-blob')) {
    if (!f.fix?.abs || !f.fix.sha256) continue;
    ctx.publisher.adoptBlob(f.fix.sha256, f.fix.abs);
  }
  for (const f of of('bad-pool-link')) {
    if (!f.fix?.abs || !f.fix.sha256) continue;
    const tmp = `${f.fix.abs}.fsck-${randomBytes(4).toString('hex')}`;
    symlinkSync(poolLinkTarget(f.fix.sha256), tmp);
    rmSync(f.fix.abs, { recursive: true, force: true });
    renameSync(tmp, f.fix.abs);
  }

  await resign(ctx, of('bad-signature', 'release-mismatch', 'valid-until'), note);

  const archives = new Set(of('latest', 'trace').map((f) => f.archive!));
  for (const a of archives) await ctx.publisher.setLatest(a, ctx.repo.latestSerial(a), now);

  for (const f of of('key-mode')) chmodSync(f.fix!.abs!, f.fix!.abs!.endsWith('private.asc') ? 0o600 : 0o700);
  if (of('public-key').length && existsSync(join(dataLayout(ctx.dataDir).keys, 'private.asc'))) {
    await loadOrCreateServiceKey(dataLayout(ctx.dataDir).keys);
    mkdirSync(join(ctx.publisher.root, 'keys'), { recursive: true });
    for (const n of ['aptfreeze.asc', 'aptfreeze.gpg']) copyFileSync(join(dataLayout(ctx.dataDir).keys, n), join(ctx.publisher.root, 'keys', n));
  }

  const removable = of('staging', 'unpublished-serial-dir', 'temp-file', 'unexpected-file', 'unused-pool', 'unused-pool-file', 'unreferenced-blob', 'partial-file', 'stray-store-file');
  if (removable.length) await removeUnderLocks(ctx, removable, note);
  // The links and renames above were made in bulk: one barrier makes them durable (util/atomic-write.ts).
  syncFileSystem(ctx.dataDir);
}

/** Re-signs the suites whose signed files disagree, from the text a valid signature of ours still covers (release/finish-resign.ts). */
async function resign(ctx: FsckContext, findings: Finding[], note: (s: string) => void): Promise<void> {
  const bySerial = new Map<string, Set<string>>();
  for (const f of findings) {
    if (!f.archive || !f.serial || !f.fix?.suites) continue;
    const k = `${f.archive}/${f.serial}`;
    const set = bySerial.get(k) ?? new Set<string>();
    for (const s of f.fix.suites) set.add(s);
    bySerial.set(k, set);
  }
  if (!bySerial.size) return;
  if (!existsSync(join(dataLayout(ctx.dataDir).keys, 'private.asc'))) {
    note('cannot re-sign: no service private key');
    return;
  }
  const key = await loadOrCreateServiceKey(dataLayout(ctx.dataDir).keys);
  for (const [k, suites] of bySerial) {
    const [archive, serial] = k.split('/') as [string, string];
    await resignFromRecord(ctx, key, archive, serial, suites, note);
  }
}

/**
 * Removes leftovers holding every archive's snapshot lock, re-reading under
 * them what published serials reference, so that a snapshot published since
 * the check cannot lose a blob or a pool tree.
 */
async function removeUnderLocks(ctx: FsckContext, findings: Finding[], note: (s: string) => void): Promise<void> {
  const archives = [...new Set([...ctx.repo.listArchives().map((a) => a.name), ...findings.map((f) => f.archive).filter((a): a is string => !!a)])];
  const names = [...archives.map(archiveLock), archiveLock('')];
  const lock = ctx.repo.tryLock(names, process.pid, ctx.now());
  if (!lock.ok) {
    note(`leftovers not removed: a snapshot is running (${lock.busy.map((b) => `${b.name} pid ${b.pid}`).join(', ')})`);
    return;
  }
  try {
    const referenced = new Set<string>();
    const read = blobReader(ctx.store);
    for (const m of ctx.rr.remainingManifests()) {
      referenced.add(m);
      await manifestBlobs(read, m, referenced);
    }
    // Pool files listed by a serial published since the check stay.
    const poolPaths = new Map<string, PoolExpectations>();
    const listedInPool = async (archive: string, abs: string): Promise<boolean> => {
      let exp = poolPaths.get(archive);
      if (!exp) {
        exp = { paths: new Map(), serials: new Set(), heads: new Map() };
        await expectPools(ctx, archive, ctx.repo.listSerials(archive), exp);
        poolPaths.set(archive, exp);
      }
      const rel = relative(ctx.publisher.poolsDir(archive), abs).split('/');
      return exp.paths.get(rel[0]!)?.has(rel.slice(1).join('/')) ?? false;
    };
    for (const d of ctx.rr.derivedBlobs()) if (referenced.has(d.of)) referenced.add(d.blob);
    const usedPools = new Set<string>();
    for (const a of archives) {
      for (const r of ctx.repo.listSerials(a)) {
        try {
          usedPools.add(readlinkSync(join(ctx.publisher.serialDir(a, r.serial), 'pool')).split('/').pop()!);
        } catch {
          // no pool
        }
      }
    }
    for (const f of findings) {
      const abs = f.fix?.abs;
      if (!abs) continue;
      if (f.kind === 'unreferenced-blob' && referenced.has(f.fix!.sha256!)) continue;
      if (f.kind === 'unused-pool' && usedPools.has(abs.split('/').pop()!)) continue;
      if (f.kind === 'unused-pool-file' && (await listedInPool(f.archive!, abs))) continue;
      if (f.kind === 'unpublished-serial-dir') {
        const st = ctx.repo.getSerial(f.archive!, f.serial!)?.state;
        if (st === 'live' || st === 'frozen') continue;
      }
      if (f.kind === 'unreferenced-blob') unlinkSync(abs);
      else rmSync(abs, { recursive: true, force: true });
    }
  } finally {
    ctx.repo.unlock(names, process.pid);
  }
}
