#!/usr/bin/env node
// The package's bin. Runs dist/aptfreeze.mjs (made by `npm run build`, which `npm ci` runs) when it
// is newer than every source file; otherwise the TypeScript sources through tsx's loader, so an
// edited tree never runs a stale bundle. APTFREEZE_FROM_SOURCE=1 forces the sources.
import { statSync, readdirSync } from 'node:fs';
import v8 from 'node:v8';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

// V8 sized for memory rather than speed, before the heap grows: a snapshot at Debian scale makes
// ~100 MB of short-lived garbage (a 50 MB index scanned, 60,000 references), and V8's default
// growth keeps that much heap committed; measured on the 60,000-package bench, see README
// "Performance". APTFREEZE_V8_DEFAULTS=1 keeps V8's defaults.
if (process.env.APTFREEZE_V8_DEFAULTS !== '1') v8.setFlagsFromString('--optimize-for-size');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'aptfreeze.mjs');

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  try {
    return statSync(bundle).mtimeMs >= newestSource(join(root, 'server'));
  } catch {
    return false;
  }
}

let main;
if (process.env.APTFREEZE_FROM_SOURCE !== '1' && bundleIsFresh()) {
  ({ main } = await import(bundle));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../server/cli/main.ts'));
}
await main(process.argv);
