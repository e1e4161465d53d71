// Bundles the CLI into dist/aptfreeze.mjs (run by `npm ci` through `prepare`), so the installed
// command starts without compiling TypeScript at run time. bin/aptfreeze.js falls back to the
// sources (through tsx) when the bundle is missing or older than any file under server/.
import { build } from 'esbuild';

await build({
  entryPoints: ['server/cli/main.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: 'dist/aptfreeze.mjs',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
