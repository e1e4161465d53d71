// Bundles the CLI into dist/aptfreeze.mjs (run by `npm ci` through `prepare`), so the installed
// command starts without compiling TypeScript at run time, and the operations thread's entry into
// dist/ops-worker.mjs (server/ops/thread-executor.ts starts it next to the bundle).
// bin/aptfreeze.js falls back to the sources (through tsx) when the bundle is missing or older
// than any file under server/.
import { build } from 'esbuild';

await build({
  entryPoints: { aptfreeze: 'server/cli/main.ts', 'ops-worker': 'server/ops/worker.ts' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
