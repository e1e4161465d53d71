// What the engine helpers (rgw.ts, postgres.ts) share: whether a test file has an engine at all,
// running the engines' own tools, waiting for a daemon, and stopping daemons by pid.
//
// Where an engine comes from, in order:
//  1. the environment: .ci/run starts one Ceph cluster and one PostgreSQL cluster for the whole
//     suite (scripts/test-engines.ts) and exports where they listen; each test file then works in
//     a bucket or database of its own;
//  2. its own: a test file run alone on a machine with the engine installed starts a throwaway
//     one in a temp directory and stops it by pid when it is done (Ceph takes ~15 s to start);
//  3. none: the tests that need it are skipped with the reason, except under CI=true, where a
//     missing engine must fail the run, not hide it (the start then fails with what is missing).
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { processAlive } from '../../server/util/process.ts';

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
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 << 20, env: { ...process.env, LC_ALL: 'C.UTF-8' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}${stdout}`.trim()));
      else resolve(stdout);
    });
  });
}

/**
 * Starts a daemon in the foreground of a process of its own (detached, so it outlives the script
 * that starts the suite's engines), with no pipe back to us: its output goes to `output` (what it
 * says before its own log is open, e.g. why it exits at once). Returns its pid.
 */
export function startDaemonProcess(cmd: string, args: string[], output: string): number {
  const fd = openSync(output, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    if (child.pid === undefined) throw new Error(`${cmd} did not start`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * Waits for `ready()` to hold, checking every `everyMs`, for at most `timeoutMs`. Fails early when
 * a daemon it depends on has exited, with the tail of its log. (Polling an engine for readiness is
 * the only wait here; nothing waits for time itself to pass.)
 */
export async function waitFor(what: string, ready: () => Promise<boolean>, opts: { timeoutMs: number; everyMs?: number; pids?: number[]; logs?: string[] }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await ready().catch(() => false)) return;
    const dead = (opts.pids ?? []).filter((p) => !processAlive(p));
    if (dead.length || Date.now() > deadline) {
      const why = dead.length ? `pid ${dead.join(', ')} exited` : `not ready after ${opts.timeoutMs} ms`;
      throw new Error(`${what}: ${why}${(opts.logs ?? []).map((l) => `\n--- ${l}\n${tail(l)}`).join('')}`);
    }
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 200));
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Stops daemons one by one in the reverse order of their start (a client before the servers it talks to). */
export async function stopInReverse(pids: number[], graceMs = 10_000): Promise<void> {
  for (const pid of [...pids].reverse()) await stopPids([pid], graceMs);
}

/** Stops daemons by pid: SIGTERM, then SIGKILL to any still there after `graceMs`. Resolves once all are gone. */
export async function stopPids(pids: number[], graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const live = () => pids.filter((p) => processAlive(p));
  for (const p of live()) signalPid(p, signal);
  const deadline = Date.now() + graceMs;
  while (live().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const p of live()) signalPid(p, 'SIGKILL');
  while (live().length) await new Promise((r) => setTimeout(r, 50));
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* gone meanwhile */
  }
}
