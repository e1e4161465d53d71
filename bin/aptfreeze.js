#!/usr/bin/env node
// The package's bin. Runs the bundle (made by `npm run build`, which `npm ci` runs) when no source
// file it was built from is newer than it; otherwise the TypeScript sources through tsx's loader, so
// an edited tree never runs a stale bundle. APTFREEZE_FROM_SOURCE=1 forces the sources.
//
// The bundle is a small front (dist/lean.mjs: a cached `serials`) and the full program it hands every
// other command to (dist/aptfreeze.mjs). dist/inputs.json lists the sources of each (scripts/build.mjs);
// each part is checked when it is about to run, one stat a file: the front's ~45 before it starts,
// the full program's ~195 only when the front hands over. An edit in place changes only the file's
// own mtime, so no single stamp (a directory's mtime, git's index) could stand for them; a stat costs
// ~50 µs here (docs/performance.md, 2026-12-06). A missing or unreadable list means the sources.
import { readFileSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const lean = join(dist, 'lean.mjs');
const bundle = join(dist, 'aptfreeze.mjs');

let inputs = null;
try {
  inputs = JSON.parse(readFileSync(join(dist, 'inputs.json'), 'utf8'));
} catch {
  inputs = null;
}

/** No source of `part` ('lean' or 'full') is newer than the bundle (both of its files). */
function fresh(part) {
  try {
    const list = inputs?.[part];
    if (!Array.isArray(list) || list.length === 0) return false;
    const built = Math.min(statSync(lean).mtimeMs, statSync(bundle).mtimeMs);
    for (const p of list) if (statSync(join(root, p)).mtimeMs > built) return false;
    return true;
  } catch {
    return false;
  }
}

async function sources() {
  const { register } = await import('tsx/esm/api');
  register();
  return import('../server/cli/main.ts');
}

if (process.env.APTFREEZE_FROM_SOURCE !== '1' && fresh('lean')) {
  const { main } = await import(lean);
  await main(process.argv, () => (fresh('full') ? import(bundle) : sources()));
} else {
  const { main } = await sources();
  await main(process.argv);
}
