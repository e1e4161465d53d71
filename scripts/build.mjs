// Bundles the CLI into dist/aptfreeze.mjs (run by `npm ci` through `prepare`), so the installed
// command starts without compiling TypeScript at run time, and the operations thread's entry into
// dist/ops-worker.mjs (server/ops/thread-executor.ts starts it next to the bundle).
//
// Split into chunks (ESM, `splitting`): each verb's action imports its modules with `await import()`
// (server/cli/), so a verb loads only what it runs (`serials` neither openpgp nor express) and
// commander's set-up stays cheap. Chunks sit next to the entries in dist/ (`chunk-<hash>.mjs`): the
// bundle finds migrations/ one level up and ops-worker.mjs beside it, from any chunk. Chunks an
// earlier build left and this one no longer makes are removed.
//
// dist/lean.mjs: the command line's front (server/cli/lean.ts), one file without chunks, which
// answers a cached `serials` itself and hands everything else to dist/aptfreeze.mjs: node resolves
// and reads one module instead of ~50 chunks on that path (README "Performance"). The build fails
// when it reaches a package other than better-sqlite3, so that it stays lean.
//
// dist/inputs.json: the source files each part was built from (`lean`: the front and the
// configuration's loading; `full`: the full program); bin/aptfreeze.js runs a part only when none of
// its sources is newer than the bundle (an edited tree never runs a stale bundle).
import { build } from 'esbuild';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  packages: 'external',
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
};

const [result, lean] = await Promise.all([
  build({ ...common, entryPoints: { aptfreeze: 'server/cli/main.ts', 'ops-worker': 'server/ops/worker.ts' }, splitting: true, chunkNames: 'chunk-[hash]' }),
  build({ ...common, entryPoints: { lean: 'server/cli/lean.ts' } }),
]);

// The packages it reaches: imports, and requires through createRequire (which the metafile does not list).
const leanText = readFileSync(join('dist', 'lean.mjs'), 'utf8');
const leanPackages = [
  ...lean.metafile.outputs['dist/lean.mjs'].imports.filter((i) => i.external && !i.path.startsWith('node:')).map((i) => i.path),
  ...[...leanText.matchAll(/(?:\brequire\w*|createRequire\([^)]*\))\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]).filter((p) => !p.startsWith('node:') && !p.startsWith('.')),
];
const unexpected = [...new Set(leanPackages)].filter((p) => p !== 'better-sqlite3');
if (unexpected.length) {
  console.error(`dist/lean.mjs reaches ${unexpected.join(', ')}: server/cli/lean.ts must import only what a cached \`serials\` needs`);
  process.exit(1);
}

const made = new Set(Object.keys(result.metafile.outputs).map((p) => basename(p)));
for (const f of readdirSync('dist')) {
  if (/^chunk-[A-Z0-9]+\.mjs(\.map)?$/.test(f) && !made.has(f)) rmSync(join('dist', f), { force: true });
}
// What each part runs, for bin/aptfreeze.js: the front's own inputs with the configuration's loading
// (the front trusts <data>/config-cache.json, which that code validated), and the full program's.
const local = (paths) => [...new Set(paths)].filter((p) => !p.includes('node_modules')).sort();
const closure = (graph, roots) => {
  const seen = new Set();
  const walk = (p) => {
    if (seen.has(p) || !graph[p]) return;
    seen.add(p);
    for (const i of graph[p].imports) if (!i.external) walk(i.path);
  };
  roots.forEach(walk);
  return [...seen];
};
const inputs = {
  lean: local([...Object.keys(lean.metafile.inputs), ...closure(result.metafile.inputs, ['server/config/load.ts'])]),
  full: local(Object.keys(result.metafile.inputs)),
};
if (inputs.lean.length === 0 || !inputs.lean.includes('server/config/schema.ts')) {
  console.error('dist/inputs.json: the front\'s list misses the configuration\'s sources');
  process.exit(1);
}
writeFileSync(join('dist', 'inputs.json'), `${JSON.stringify(inputs)}\n`);
