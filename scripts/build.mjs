// Bundles the CLI into dist/aptfreeze.mjs (run by `npm ci` through `prepare`), so the installed
// command starts without compiling TypeScript at run time, and the operations thread's entry into
// dist/ops-worker.mjs (server/ops/thread-executor.ts starts it next to the bundle).
// bin/aptfreeze.js falls back to the sources (through tsx) when the bundle is missing or older
// than any file under server/.
//
// Split into chunks (ESM, `splitting`): each verb's action imports its modules with `await import()`
// (server/cli/), so a verb loads only what it runs (`serials` neither openpgp nor express) and
// commander's set-up stays cheap. Chunks sit next to the entries in dist/ (`chunk-<hash>.mjs`): the
// bundle finds migrations/ one level up and ops-worker.mjs beside it, from any chunk. Chunks an
// earlier build left and this one no longer makes are removed.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';

const result = await build({
  entryPoints: { aptfreeze: 'server/cli/main.ts', 'ops-worker': 'server/ops/worker.ts' },
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunk-[hash]',
  packages: 'external',
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
});

const made = new Set(Object.keys(result.metafile.outputs).map((p) => basename(p)));
for (const f of readdirSync('dist')) {
  if (/^chunk-[A-Z0-9]+\.mjs(\.map)?$/.test(f) && !made.has(f)) rmSync(join('dist', f), { force: true });
}
