// The command line from its bundle (dist/, scripts/build.mjs): every verb starts and answers
// --help, and a reading verb loads only what it needs (`serials`: the catalog, not the signing
// code nor the HTTP server's), checked on the list of modules the process really resolved.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../server/cli/program.ts';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages } from './helpers/upstream.ts';
import { setUp, suite, token, snapshot, type Fixture } from './helpers/release.ts';
import { repoRoot, runCli } from './helpers/service.ts';

const tracer = join(repoRoot, 'test', 'helpers', 'module-trace.mjs');

function newest(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n = Math.max(n, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs);
  return n;
}

/** The modules a CLI run resolved (URLs), through the preloaded resolve hook. */
async function traced(dir: string, args: string[]): Promise<{ code: number; stderr: string; modules: string[] }> {
  const file = join(dir, `trace-${Math.random().toString(36).slice(2)}`);
  const r = await runCli(args, { env: { APTFREEZE_TEST_MODULE_TRACE: file, NODE_OPTIONS: `--import=${tracer}` } });
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // nothing resolved
  }
  return { code: r.code, stderr: r.stderr, modules: text.split('\n').filter(Boolean) };
}

const pkg = (modules: string[], name: string) => modules.some((u) => u.includes(`/node_modules/${name}/`));

function verbs(c: Command, prefix: string[] = []): string[][] {
  return c.commands.flatMap((s) => [[...prefix, s.name()], ...verbs(s, [...prefix, s.name()])]);
}

let f: Fixture;
let dir: string;

before(async () => {
  let bundle = 0;
  try {
    bundle = statSync(join(repoRoot, 'dist', 'aptfreeze.mjs')).mtimeMs;
  } catch {
    // not built yet
  }
  if (bundle < newest(join(repoRoot, 'server'))) {
    const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
  }
  dir = await tmpDir('af-cli-bundle');
  f = await setUp(dir, [suite(makePackages(3))]);
  await snapshot(f.h, token(f.h, 'admin'));
});

after(async () => {
  await f?.close();
});

describe('the bundled command line', () => {
  it('starts every verb from the bundle and answers --help', async () => {
    const all = verbs(buildProgram());
    assert.ok(all.length >= 20, `verbs found: ${all.length}`);
    for (const v of all) {
      const r = await runCli([...v, '--help']);
      assert.equal(r.code, 0, `${v.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: aptfreeze ${v.join(' ')}\\b`, 'm'), v.join(' '));
    }
  });

  it('runs the bundle, not the sources, when the bundle is fresh', async () => {
    const t = await traced(dir, ['--help']);
    assert.equal(t.code, 0, t.stderr);
    assert.ok(t.modules.some((u) => u.endsWith('/dist/aptfreeze.mjs')), 'dist/aptfreeze.mjs loaded');
    assert.ok(!t.modules.some((u) => u.endsWith('.ts')), 'no TypeScript source loaded');
  });

  it('serials reads the catalog without the signing or HTTP modules', async () => {
    const t = await traced(dir, ['--config', f.h.configPath, '--data', f.h.dataDir, 'serials', 'debian']);
    assert.equal(t.code, 0, t.stderr);
    assert.ok(pkg(t.modules, 'better-sqlite3'), 'the trace sees the database module (the check can see packages)');
    for (const heavy of ['openpgp', 'express', 'undici', 'pino', '@aws-sdk', 'pg', 'prom-client']) assert.ok(!pkg(t.modules, heavy), `serials loaded ${heavy}`);
  });

  it('serials, run again on the same configuration, loads only better-sqlite3 (config/cache.ts, cli/fast-serials.ts: no commander, yaml, zod nor node-cron)', async () => {
    const args = ['--config', f.h.configPath, '--data', f.h.dataDir, 'serials', 'debian'];
    const first = await runCli(args);
    assert.equal(first.code, 0, first.stderr);
    const t = await traced(dir, args);
    assert.equal(t.code, 0, t.stderr);
    const packages = [...new Set(t.modules.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter(Boolean))].sort();
    // better-sqlite3 finds its native module through `bindings` (and its helper): its own, not ours.
    assert.deepEqual(packages, ['better-sqlite3', 'bindings', 'file-uri-to-path']);
  });

  it('serials answers the same from the cached configuration as from a full load, and a changed file is loaded again', async () => {
    const args = ['--config', f.h.configPath, '--data', f.h.dataDir, 'serials', 'debian', '--json'];
    const cached = await runCli(args);
    rmSync(join(f.h.dataDir, 'config-cache.json'), { force: true });
    const full = await runCli(args);
    assert.equal(cached.code, 0, cached.stderr);
    assert.equal(cached.stdout, full.stdout);
    const text = readFileSync(f.h.configPath, 'utf8');
    try {
      writeFileSync(f.h.configPath, `${text}\nbogusKey: 1\n`);
      const bad = await runCli(args);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /CONFIG_INVALID/);
    } finally {
      writeFileSync(f.h.configPath, text);
    }
  });

  it('answers a cached serials from the front alone (dist/lean.mjs): no chunk, not the full program', async () => {
    const args = ['--config', f.h.configPath, '--data', f.h.dataDir, 'serials', 'debian'];
    assert.equal((await runCli(args)).code, 0);
    const t = await traced(dir, args);
    assert.equal(t.code, 0, t.stderr);
    const dist = t.modules.filter((u) => u.includes('/dist/'));
    assert.ok(dist.some((u) => u.endsWith('/dist/lean.mjs')), 'the front ran');
    assert.deepEqual(dist.filter((u) => !u.endsWith('/dist/lean.mjs')), [], 'nothing else of dist/ was loaded');
  });

  it('gives an unknown archive the same code and status from the front as from the full program', async () => {
    const args = ['--config', f.h.configPath, '--data', f.h.dataDir, 'serials', 'nosuch'];
    rmSync(join(f.h.dataDir, 'config-cache.json'), { force: true });
    const full = await traced(dir, args);
    const lean = await traced(dir, args);
    assert.ok(full.modules.some((u) => u.endsWith('/dist/aptfreeze.mjs')), 'without the cache, the full program answered');
    assert.ok(!lean.modules.some((u) => u.endsWith('/dist/aptfreeze.mjs')), 'with it, the front answered');
    for (const r of [full, lean]) {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^aptfreeze: NOT_FOUND: /);
    }
    assert.equal(lean.stderr, full.stderr);
  });

  it('hands serials to the full program when the data directory needs recovery, which recovers it', async () => {
    const args = ['--config', f.h.configPath, '--data', f.h.dataDir, 'serials', 'debian', '--json'];
    const before = await runCli(args);
    assert.equal(before.code, 0, before.stderr);
    const leftover = join(f.h.dataDir, 'public', 'debian', '.staging-2026010101-test');
    mkdirSync(leftover, { recursive: true });
    const t = await traced(dir, args);
    assert.equal(t.code, 0, t.stderr);
    assert.ok(t.modules.some((u) => u.endsWith('/dist/aptfreeze.mjs')), 'the full program ran');
    assert.ok(!existsSync(leftover), 'recovery removed the half-built serial');
    const again = await runCli(args);
    assert.equal(again.stdout, before.stdout);
  });

  // The fixture's daemon runs on the data directory: the command hands the snapshot to it, loading neither the
  // configuration's validation nor the operations' code (a run without a daemon loads the tags' yaml and zod).
  it('a snapshot handed to the daemon takes a configuration validated before from the cache, and validates an edited one again', async () => {
    const config = ['--config', f.h.configPath, '--data', f.h.dataDir];
    assert.equal((await runCli([...config, 'serials', 'debian'])).code, 0);
    const t = await traced(dir, [...config, 'snapshot', 'debian', '--json']);
    assert.equal(t.code, 0, t.stderr);
    for (const p of ['yaml', 'zod', 'node-cron']) assert.ok(!pkg(t.modules, p), `snapshot loaded ${p}`);
    const text = readFileSync(f.h.configPath, 'utf8');
    try {
      writeFileSync(f.h.configPath, `${text}\nbogusKey: 1\n`);
      const bad = await traced(dir, [...config, 'snapshot', 'debian', '--json']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^aptfreeze: CONFIG_INVALID: /m);
      assert.ok(pkg(bad.modules, 'zod'), 'the edited file was validated');
    } finally {
      writeFileSync(f.h.configPath, text);
    }
  });

  it('a verb that checks signatures does load openpgp (the trace would catch it)', async () => {
    const t = await traced(dir, ['verify', '--proof', join(dir, 'none.deb'), '--keyring', join(dir, 'none.gpg'), join(dir, 'none_1_all.deb')]);
    assert.notEqual(t.code, 0);
    assert.ok(pkg(t.modules, 'openpgp'), 'verify loaded openpgp');
  });
});
