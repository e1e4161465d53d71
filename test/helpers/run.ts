/**
 * The one place test helpers start programs (test-hygiene.test.ts keeps it so). Three kinds of child:
 * - run to completion (`runCommand`, `runOk`, …): exit code (128 when killed by a signal), stdout
 *   and stderr, a deadline after which it is killed, optional stdin. `runCommand` never rejects (a
 *   missing program is code 127); `runOk` rejects with the program's output when it fails.
 * - long-running (`startProcess`): a handle with its output so far, a wait for a line, its exit,
 *   and `stop()` (SIGTERM, then SIGKILL after a bound); every handle still running when the test
 *   process exits is killed then, so no test leaves one behind.
 * - detached daemons (`startDaemonProcess`): the engines .ci/run starts once for the whole suite
 *   (scripts/test-engines.ts), which must outlive the script that starts them; stopped by pid
 *   (`stopPids`, `stopInReverse`), possibly from another process, so that stop polls.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { processAlive } from '../../server/util/process.ts';

export interface RunOptions {
  cwd?: string;
  /** Replaces the environment (default: this process's, with LC_ALL=C). */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, then closed; default: no stdin. */
  input?: string | Uint8Array;
  /** Killed with SIGKILL after this long (default 120 s): a test never hangs on a child. */
  timeoutMs?: number;
}

export interface RunResult<T = string> {
  code: number;
  stdout: T;
  stderr: string;
}

const defaultEnv = (): NodeJS.ProcessEnv => ({ ...process.env, LC_ALL: 'C', LANG: 'C' });

function spawnCollect(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult<Buffer>> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? defaultEnv(), stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout: Buffer.alloc(0), stderr: String(e) });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString('utf8') + (signal ? `\n(killed by ${signal})` : ''),
      });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {}); // a program that exits without reading its input
      child.stdin!.end(opts.input);
    }
  });
}

/** Runs a program to completion; never rejects. */
export async function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await spawnCollect(cmd, args, opts);
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

/** Like runCommand, stdout as bytes. */
export function runCommandBytes(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult<Buffer>> {
  return spawnCollect(cmd, args, opts);
}

function failure(cmd: string, args: readonly string[], r: { code: number; stderr: string; stdout: string | Buffer }): Error {
  const out = typeof r.stdout === 'string' ? r.stdout : '';
  return new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}${out}`.trim());
}

/** Runs a program that must succeed; returns its stdout, rejects with its output otherwise. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) throw failure(cmd, args, r);
  return r.stdout;
}

/** runOk with stdout as bytes (a filter program: compressors, dpkg-deb --fsys-tarfile). */
export async function runOkBytes(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Buffer> {
  const r = await spawnCollect(cmd, args, opts);
  if (r.code !== 0) throw failure(cmd, args, r);
  return r.stdout;
}

/** The synchronous form, for set-up code that is synchronous (key generation before a suite). */
export function runOkSync(cmd: string, args: readonly string[], opts: RunOptions = {}): Buffer {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? defaultEnv(), input: opts.input, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 256 << 20 });
  const code = r.status ?? (r.signal ? 128 : r.error ? 127 : 1);
  if (code !== 0) throw failure(cmd, args, { code, stderr: `${r.stderr?.toString('utf8') ?? ''}${r.error ? String(r.error) : ''}`, stdout: r.stdout?.toString('utf8') ?? '' });
  return r.stdout;
}

/** A long-running child of this test process (see `startProcess`). */
export interface ProcessHandle {
  readonly pid: number;
  /** What it printed so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves with the first line of stdout or stderr matching `pattern`; rejects if it exits first or after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when it has exited, with its code (128 when killed by a signal). */
  readonly exited: Promise<number>;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number, signal?: NodeJS.Signals): Promise<number>;
}

const running = new Set<ChildProcess>();
// The backstop: a test file is a process of its own, so its exit is the end of its tests.
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/**
 * Starts a program that keeps running (a server under test). Its stdout and stderr are captured;
 * it is killed with SIGKILL when this process exits if nobody stopped it before.
 */
export function startProcess(cmd: string, args: readonly string[], opts: Omit<RunOptions, 'timeoutMs' | 'input'> = {}): ProcessHandle {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? defaultEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${cmd} did not start`);
  const pid = child.pid;
  running.add(child);
  let stdout = '';
  let stderr = '';
  const lineWaiters = new Set<(text: string) => void>();
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    for (const w of lineWaiters) w(stdout);
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    for (const w of lineWaiters) w(stderr);
  });
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => {
      running.delete(child);
      resolve(127);
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
  const lineIn = (text: string, pattern: RegExp) => text.split('\n').find((l) => pattern.test(l));
  return {
    pid,
    exited,
    output: () => ({ stdout, stderr }),
    waitForLine(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const done = (f: () => void) => {
          clearTimeout(timer);
          lineWaiters.delete(check);
          f();
        };
        const check = (text: string) => {
          const line = lineIn(text, pattern);
          if (line !== undefined) done(() => resolve(line));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${cmd}: no line matching ${pattern} after ${timeoutMs} ms\n${stderr}${stdout}`))), timeoutMs);
        lineWaiters.add(check);
        check(stdout);
        check(stderr);
        void exited.then((code) => done(() => reject(new Error(`${cmd} exited ${code} before a line matching ${pattern}\n${stderr}${stdout}`))));
      });
    },
    async stop(graceMs = 10_000, signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
}

/**
 * Starts a daemon in the foreground of a process of its own (detached, so it outlives the script
 * that starts the suite's engines), with no pipe back to us: its output goes to `output` (what it
 * says before its own log is open, e.g. why it exits at once). Returns its pid; stop it with
 * `stopPids` or `stopInReverse`.
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
 * a daemon it depends on has exited, with the tail of its log. Only for an engine that gives no
 * event when it is ready (Ceph, PostgreSQL); nothing here waits for time itself to pass.
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

/**
 * Stops processes by pid: SIGTERM (or `signal`), then SIGKILL to any still there after `graceMs`.
 * Resolves once all are gone. A pid that is not our child (a detached daemon, possibly started by
 * another process) gives no exit event, so this polls.
 */
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
