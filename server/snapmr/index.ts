import { whereStored } from '../store/port.ts';
import { posix } from 'node:path';
import type { Services } from '../services.ts';
import { parseRelease } from '../debian/release.ts';
import { compressionOf, stripCompression } from '../debian/compress.ts';
import { stanzasOfBlob, sourcesRefs } from '../snapshot/parse-index.ts';
import { readPackagesBlob } from '../snapshot/packages-reader.ts';
import { proofComponent } from '../proof/manifest.ts';
import type { MrRepo, MrBinaryRow } from '../catalog/snapmr.ts';
import { fillMissingSha1 } from './sha1.ts';

export type IndexerDeps = Pick<Services, 'config' | 'repo' | 'store' | 'publisher' | 'log'> & { mr: MrRepo };

/** Compressions read in order of preference: cheapest to read first. */
const preference = ['none', 'gz', 'xz', 'zst', 'bz2', 'lz4'];

/**
 * Brings the snapshot.debian.org-compatible tables up to date with the published serials: each
 * serial not indexed yet, oldest first, has its served Packages and Sources read, except those
 * (by hash) already read for the archive, so the work is proportional to the indices that changed.
 * Idempotent (INSERT OR IGNORE, one transaction per serial): two processes may run it at once.
 * One run at a time per process: a caller arriving during a run waits for it and runs again.
 */
export function mrIndexer(deps: IndexerDeps): () => Promise<void> {
  let running: Promise<void> | null = null;
  let again = false;
  // The files lacking a SHA-1 are looked for once per process (data stored before migration 006, or
  // a pair a crash lost) and after each new serial, not at every request: it scans every file row.
  let checked = false;
  const run = async (): Promise<void> => {
    do {
      again = false;
      let indexed = 0;
      const archives = new Set([...deps.config.archives.map((a) => a.name), ...deps.repo.listArchives().map((a) => a.name)]);
      for (const a of archives) {
        for (const s of deps.mr.serialsToIndex(a)) {
          await indexSerial(deps, a, s.serial);
          indexed++;
        }
      }
      if (indexed || !checked) await fillMissingSha1(deps.mr, deps.store);
      checked = true;
    } while (again);
  };
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = run().finally(() => (running = null));
    return running;
  };
}

async function indexSerial(deps: IndexerDeps, archive: string, serial: string): Promise<void> {
  const got = { indices: [] as string[], files: [] as Array<{ sha256: string; path: string; name: string; size: number }>, sources: [] as Array<{ source: string; version: string; sha256: string }>, binaries: [] as MrBinaryRow[] };
  for (const { suite } of deps.repo.suiteSnapshots(archive, serial)) {
    let text: string;
    try {
      text = await deps.publisher.reads.readText(archive, serial, `dists/${suite}/Release`);
    } catch {
      continue; // collected meanwhile
    }
    const entries = parseRelease(text).sha256;
    const held = new Set(await whereStored(deps.store, entries.map((e) => e.hash), (h) => h));
    for (const v of servedIndices(entries, (h) => held.has(h))) {
      if (deps.mr.indexSeen(archive, v.hash) || got.indices.includes(v.hash)) continue;
      const where = `${archive}/${serial} dists/${suite}/${v.path}`;
      const maxBytes = deps.config.fetch.maxDecompressedBytes;
      if (v.kind === 'packages') {
        // A stanza without Package, Version or Architecture names no binary of the tables: skipped.
        for await (const batch of readPackagesBlob(deps.store, { sha256: v.hash, path: v.path }, { maxBytes, where, select: (name) => name !== '', sourceVersion: true })) {
          for (const e of batch) {
            if (!e.version || !e.architecture) continue;
            got.binaries.push({ name: e.package, version: e.version, source: e.source, source_version: e.sourceVersion!, architecture: e.architecture, sha256: e.sha256 });
            got.files.push({ sha256: e.sha256, path: `/${posix.dirname(e.filename)}`, name: posix.basename(e.filename), size: e.size });
          }
        }
      } else {
        for await (const st of stanzasOfBlob(deps.store, v.hash, v.path, maxBytes)) {
          const source = st.get('Package');
          const version = st.get('Version');
          if (!source || !version) continue;
          for (const r of sourcesRefs(st, where)) {
            got.sources.push({ source, version, sha256: r.sha256 });
            got.files.push({ sha256: r.sha256, path: `/${posix.dirname(r.path)}`, name: posix.basename(r.path), size: r.size });
          }
        }
      }
      got.indices.push(v.hash);
    }
  }
  deps.mr.recordSerial(archive, serial, got);
  deps.log.debug({ archive, serial, files: got.files.length }, 'snapshot.debian.org tables updated');
}

/** One stored variant of each Packages and Sources index our Release lists (the proof component left out). */
function servedIndices(entries: ReadonlyArray<{ path: string; hash: string }>, stored: (sha256: string) => boolean): Array<{ path: string; hash: string; kind: 'packages' | 'sources' }> {
  const groups = new Map<string, Array<{ path: string; hash: string }>>();
  for (const e of entries) {
    const base = stripCompression(e.path);
    const m = /^(.+)\/(?:binary-[^/]+\/Packages|source\/Sources)$/.exec(base);
    if (!m || m[1] === proofComponent) continue;
    if (!groups.has(base)) groups.set(base, []);
    groups.get(base)!.push(e);
  }
  const out: Array<{ path: string; hash: string; kind: 'packages' | 'sources' }> = [];
  for (const [base, variants] of groups) {
    // Release lists the uncompressed name even where only .gz/.xz is served (as Debian's does): read one we hold.
    const v = variants.filter((x) => stored(x.hash)).sort((x, y) => preference.indexOf(compressionOf(x.path)) - preference.indexOf(compressionOf(y.path)))[0];
    if (v) out.push({ ...v, kind: base.endsWith('/Sources') ? 'sources' : 'packages' });
  }
  return out;
}
