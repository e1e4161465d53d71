import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../util/process.ts';
import { syncDir } from '../util/atomic-write.ts';

/**
 * Start-up recovery of the store after a power cut. Small blobs are written in bulk and made
 * durable together (util/atomic-write.ts); while a process has such blobs not yet flushed, a
 * durable marker `<store>/unsynced-<pid>` says so. A marker of a process that is gone means its
 * last batch may not have reached the disk: a blob renamed into place may be empty or short.
 * Every blob changed since the marker was written is hashed again and removed unless it is
 * whole (a later snapshot fetches it again); nothing published refers to such a blob, since a
 * serial is published only after its blobs are flushed. Returns the blobs removed.
 */
export async function recoverUnsynced(storeBase: string, blobRoot: string): Promise<string[]> {
  const removed: string[] = [];
  const markers: Array<{ path: string; since: number }> = [];
  for (const f of await fsp.readdir(storeBase).catch(() => [] as string[])) {
    const m = /^unsynced-(\d+)$/.exec(f);
    if (!m) continue;
    const pid = Number(m[1]);
    // Our own pid on a marker is a dead process's whose pid came round again.
    if (pid !== process.pid && processAlive(pid)) continue;
    const st = await fsp.stat(join(storeBase, f)).catch(() => null);
    if (st) markers.push({ path: join(storeBase, f), since: st.mtimeMs });
  }
  if (!markers.length) return removed;
  // Timestamps are coarse (a clock tick): look a little before the marker.
  const since = Math.min(...markers.map((m) => m.since)) - 2000;
  for (const d of await fsp.readdir(blobRoot).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{2}$/.test(d)) continue;
    for (const f of await fsp.readdir(join(blobRoot, d)).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}$/.test(f)) continue;
      const p = join(blobRoot, d, f);
      const st = await fsp.lstat(p).catch(() => null);
      if (!st || st.ctimeMs < since) continue;
      if (st.isFile() && (await sha256Of(p)) === f) continue;
      await fsp.rm(p, { force: true });
      removed.push(f);
    }
    if (removed.length) await syncDir(join(blobRoot, d));
  }
  for (const m of markers) await fsp.rm(m.path, { force: true });
  await syncDir(storeBase);
  return removed;
}

async function sha256Of(path: string): Promise<string | null> {
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  } catch {
    return null;
  }
  return h.digest('hex');
}
