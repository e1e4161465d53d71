// pdiffs the way Debian's archive publishes them (dak's merged patches): for an index
// <base> (e.g. main/binary-amd64/Packages), <base>.diff/Index lists SHA256-Current, and for each
// kept earlier state its hash (SHA256-History), the patch from it straight to the current index
// (SHA256-Patches, `diff --ed` output) and that patch gzipped (SHA256-Download), each named
// T-<to>-F-<from> and served as <base>.diff/T-<to>-F-<from>.gz; X-Patch-Precedence: merged.
// The Index is listed in the Release like any index file. Used by the bench's generator and the
// tests' fixtures; the earlier states are kept as files under `stateDir` (outside dists/).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export interface PdiffHistory {
  /** Where the earlier states of the index are kept (one file each, by sha256). */
  stateDir: string;
  /** Earlier states, oldest first. */
  states: Array<{ sha256: string; size: number; stamp: string }>;
  /** How many earlier states the Index offers patches from (Debian keeps weeks of them). */
  keep: number;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** dak's time stamps in patch names: 2026-12-05-0830.11 */
export function pdiffStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}.${p(d.getUTCSeconds())}`;
}

/** `diff --ed old new`: exit 0 (same) or 1 (different) is a result, 2 is trouble. */
export function diffEd(oldFile: string, newFile: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile('diff', ['--ed', oldFile, newFile], { encoding: 'buffer', maxBuffer: 1 << 30 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: number }).code : 0;
      if (code === 0 || code === 1) resolve(stdout);
      else reject(new Error(`diff --ed failed (${String(code)}): ${stderr.toString()}`));
    });
  });
}

/**
 * Writes <suiteDir>/<base>.diff/{Index, <name>.gz} for the index's new text and records the new
 * state. Returns the Index's bytes (for the Release) and what was written.
 */
export async function writePdiffs(suiteDir: string, base: string, plain: Buffer, date: Date, h: PdiffHistory): Promise<{ index: Buffer; patches: number; patchBytes: number }> {
  await mkdir(h.stateDir, { recursive: true });
  const diffDir = path.join(suiteDir, `${base}.diff`);
  await mkdir(diffDir, { recursive: true });
  const cur = { sha256: sha256(plain), size: plain.length, stamp: pdiffStamp(date) };
  const curFile = path.join(h.stateDir, cur.sha256);
  await writeFile(curFile, plain);
  const rows: Array<{ from: (typeof h.states)[number]; name: string; patch: Buffer; gz: Buffer }> = [];
  for (const s of h.states) {
    if (s.sha256 === cur.sha256) continue;
    const patch = await diffEd(path.join(h.stateDir, s.sha256), curFile);
    const gz = gzipSync(patch, { level: 9 });
    const name = `T-${cur.stamp}-F-${s.stamp}`;
    const tmp = path.join(diffDir, `.${name}.gz.tmp`);
    await writeFile(tmp, gz);
    await rename(tmp, path.join(diffDir, `${name}.gz`));
    rows.push({ from: s, name, patch, gz });
  }
  const list = (pick: (r: (typeof rows)[number]) => [string, number, string]) => rows.map((r) => pick(r)).map(([hash, size, name]) => ` ${hash} ${size} ${name}`);
  const index = Buffer.from(
    [
      `SHA256-Current: ${cur.sha256} ${cur.size}`,
      'SHA256-History:',
      ...list((r) => [r.from.sha256, r.from.size, r.name]),
      'SHA256-Patches:',
      ...list((r) => [sha256(r.patch), r.patch.length, r.name]),
      'SHA256-Download:',
      ...list((r) => [sha256(r.gz), r.gz.length, `${r.name}.gz`]),
      'X-Patch-Precedence: merged',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(diffDir, '.Index.tmp'), index);
  await rename(path.join(diffDir, '.Index.tmp'), path.join(diffDir, 'Index'));
  // With Acquire-By-Hash, apt asks for the Index by its hash, as for any index file.
  const byHash = path.join(diffDir, 'by-hash', 'SHA256');
  await mkdir(byHash, { recursive: true });
  await writeFile(path.join(byHash, sha256(index)), index);
  // The new state joins the history; the oldest beyond `keep` go, with their patches.
  h.states = [...h.states.filter((s) => s.sha256 !== cur.sha256), cur].slice(-h.keep);
  const keepNames = new Set(rows.map((r) => `${r.name}.gz`));
  for (const f of await readdir(diffDir)) if (f.startsWith('T-') && !keepNames.has(f)) await rm(path.join(diffDir, f), { force: true });
  const kept = new Set(h.states.map((s) => s.sha256));
  for (const f of await readdir(h.stateDir)) if (!kept.has(f)) await rm(path.join(h.stateDir, f), { force: true });
  return { index, patches: rows.length, patchBytes: rows.reduce((n, r) => n + r.gz.length, 0) };
}
