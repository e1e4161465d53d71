/**
 * The one way test helpers run a program to completion: its exit code (128 + the signal's
 * number's stand-in 128 when killed), stdout and stderr, a deadline after which it is killed,
 * optional stdin. `runCommand` never rejects (a missing program is code 127); `runOk` rejects
 * with the program's output when it fails and returns its stdout. Daemons a suite starts and
 * leaves running (engines.ts `startDaemonProcess`) are the one other kind of child.
 */
import { spawn, spawnSync } from 'node:child_process';

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
