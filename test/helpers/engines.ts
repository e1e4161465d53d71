// What the engine helpers (rgw.ts, postgres.ts) share: whether a test file has an engine at all and
// running the engines' own tools. Starting, waiting for and stopping daemons by pid live in run.ts
// (the one place test helpers start programs) and are re-exported here for rgw.ts and
// scripts/test-engines.ts.
//
// Where an engine comes from, in order:
//  1. the environment: .ci/run starts one Ceph cluster and one PostgreSQL cluster for the whole
//     suite (scripts/test-engines.ts) and exports where they listen; each test file then works in
//     a bucket or database of its own;
//  2. its own: a test file run alone on a machine with the engine installed starts a throwaway
//     one in a temp directory and stops it by pid when it is done (Ceph takes ~15 s to start);
//  3. none: the tests that need it are skipped with the reason, except under CI=true, where a
//     missing engine must fail the run, not hide it (the start then fails with what is missing).
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { runOk } from './run.ts';

export { startDaemonProcess, stopInReverse, stopPids, waitFor } from './run.ts';

export type EngineSource = { kind: 'env' } | { kind: 'own' } | { kind: 'none'; skip: string };

/** Decides where an engine comes from (see the file header). */
export function engineSource(what: string, envVars: string[], binaries: string[], env: NodeJS.ProcessEnv = process.env): EngineSource {
  if (envVars.every((v) => env[v])) return { kind: 'env' };
  // .ci/run says the engines did not start (a one-node Ceph start is not yet reliable): skip with its reason.
  if (env['APTFREEZE_TEST_ENGINES_SKIP']) return { kind: 'none', skip: `needs ${what}: ${env['APTFREEZE_TEST_ENGINES_SKIP']}` };
  const missing = binaries.filter((b) => !which(b));
  if (missing.length === 0 || env['CI'] === 'true') return { kind: 'own' };
  return { kind: 'none', skip: `needs ${what}: ${missing.join(', ')} not installed and ${envVars[0]} not set (.ci/run installs and starts it)` };
}

/** The `skip` option of describe() for a source. */
export function skipUnless(source: EngineSource): string | false {
  return source.kind === 'none' ? source.skip : false;
}

/** The path of a program on PATH (or an absolute path that exists), else null. */
export function which(program: string, extraDirs: string[] = []): string | null {
  if (program.includes('/')) return existsSync(program) ? program : null;
  for (const dir of [...extraDirs, ...(process.env['PATH'] ?? '').split(delimiter)]) {
    if (dir && existsSync(join(dir, program))) return join(dir, program);
  }
  return null;
}

/** Runs a tool to completion; rejects with its output when it fails. */
export function tool(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return runOk(cmd, args, { cwd: opts.cwd, timeoutMs: opts.timeoutMs ?? 60_000, env: { ...process.env, LC_ALL: 'C.UTF-8' } });
}
