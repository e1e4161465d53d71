// A power cut, modelled after the fact on the journal test/helpers/kill-preload.mjs writes
// (APTFREEZE_TEST_POWER_JOURNAL) while a command runs and is killed.
//
// The model is that of a journaling filesystem (ext4's default data=ordered, made harsher):
// - directory entries (files made, renamed, linked, removed; directories made) reach the disk in
//   the order they were made, up to the last point that forced them there: an fsync of a
//   directory, or a flush of the whole filesystem (syncfs); every later one is lost;
// - a file's contents reach the disk only through an fsync of that file or a later syncfs;
//   a file whose last write was not followed by either is left EMPTY (where its entry survives),
//   harsher than ext4, which would often keep them.
// Undoing is exact because the preload turned every removal into a rename to a backup directory
// and kept a hard link of every file a rename replaced.
import { readFileSync, readdirSync, lstatSync, renameSync, rmSync, truncateSync, existsSync } from 'node:fs';
import { join } from 'node:path';

type Rec =
  | { t: 'new'; p: string }
  | { t: 'rename'; from: string; to: string; backup?: string }
  | { t: 'remove'; p: string; backup: string }
  | { t: 'data'; ino: number }
  | { t: 'fsync'; ino: number; dir: boolean }
  | { t: 'barrier' };

export interface PowerCut {
  /** Mutations journaled before the kill. */
  ops: number;
  /** Directory entries dropped (made after the last point that made them durable). */
  entriesDropped: number;
  /** Files left empty (contents written and never fsync'd). */
  filesEmptied: number;
}

export function applyPowerCut(journal: string, dataDir: string): PowerCut {
  const recs: Rec[] = existsSync(journal) ? readFileSync(journal, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec) : [];
  let lastMeta = -1;
  let lastBarrier = -1;
  const lastData = new Map<number, number>();
  const lastSync = new Map<number, number>();
  recs.forEach((r, i) => {
    if (r.t === 'barrier') lastMeta = lastBarrier = i;
    else if (r.t === 'fsync') {
      lastSync.set(r.ino, i);
      if (r.dir) lastMeta = i;
    } else if (r.t === 'data') lastData.set(r.ino, i);
  });
  let entriesDropped = 0;
  for (let i = recs.length - 1; i > lastMeta; i--) {
    const r = recs[i]!;
    if (r.t === 'new') {
      rmSync(r.p, { recursive: true, force: true });
      entriesDropped++;
    } else if (r.t === 'rename') {
      renameSync(r.to, r.from);
      if (r.backup) renameSync(r.backup, r.to);
      entriesDropped++;
    } else if (r.t === 'remove') {
      renameSync(r.backup, r.p);
      entriesDropped++;
    }
  }
  const lost = new Set<number>();
  for (const [ino, at] of lastData) if (Math.max(lastSync.get(ino) ?? -1, lastBarrier) < at) lost.add(ino);
  let filesEmptied = 0;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && lost.has(st.ino) && st.size > 0) {
        truncateSync(p, 0);
        filesEmptied++;
      }
    }
  };
  if (lost.size) walk(dataDir);
  return { ops: recs.length, entriesDropped, filesEmptied };
}
