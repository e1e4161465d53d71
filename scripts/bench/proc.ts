// Subprocesses for the bench: timed runs with peak RSS, long-lived servers, and cleanup that
// happens even when the bench itself dies.
//
// - run(): wall time, exit status, output, and peak RSS: /usr/bin/time's "maximum resident set
//   size" (the largest single process of the tree, as wait4 reports it) when /usr/bin/time exists,
//   and in any case the largest sum of VmRSS over the process tree seen by polling /proc.
// - startDaemon(): a long-lived server; resetPeakRss() + samplePeakRss() give the peak RSS of
//   each of its processes over a window (a step handled by the daemon): the kernel's VmHWM reset
//   through /proc/<pid>/clear_refs at the start of the window, with polled VmRSS as the fallback.
// - Every child runs in its own process group (detached), so a timeout or the cleanup kills the
//   whole group (aptly's gpg, reprepro's apt methods, the service's xz).
// - A watchdog shell, started once, waits for the bench's pid to disappear and then runs the
//   cleanup script (kill each live group, stop gpg-agents): nothing outlives a bench that was
//   SIGKILLed. On a normal exit the bench runs the same cleanup itself and stops the watchdog.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** kill the group after this long (default 30 min) */
  timeoutMs?: number;
  input?: string | Buffer;
  /** also written to this file (stdout then stderr) for debugging */
  logFile?: string;
}

export interface RunResult {
  cmd: string;
  code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** /usr/bin/time's maximum RSS in bytes (largest single process), when available */
  maxRssBytes: number | null;
  /** largest sum of VmRSS over the process tree seen by polling (every 50 ms) */
  treeRssBytes: number;
  /** epoch ms of the spawn and of the exit */
  startedAt: number;
  endedAt: number;
  /** the polled samples: [epoch ms, tree RSS bytes] */
  rssTimeline: Array<[number, number]>;
  timedOut: boolean;
}

const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

// ---------------------------------------------------------------------------------------------
// Registry and watchdog

const groups = new Set<number>();
const timeFiles = new Set<string>();
const cleanups = new Map<string, string>(); // key -> shell command run at cleanup
let watchdog: ChildProcess | null = null;
let scriptPath = '';

function writeScript(): void {
  if (!scriptPath) return;
  const lines = ['#!/bin/sh'];
  for (const g of groups) lines.push(`kill -TERM -- -${g} 2>/dev/null`);
  for (const c of cleanups.values()) lines.push(`${c} >/dev/null 2>&1`);
  lines.push('sleep 2');
  for (const g of groups) lines.push(`kill -KILL -- -${g} 2>/dev/null`);
  writeFileSync(scriptPath, `${lines.join('\n')}\n`);
}

/** Starts the watchdog (once). dir: where the cleanup script lives. */
export function startWatchdog(dir: string): void {
  if (watchdog) return;
  scriptPath = path.join(dir, 'cleanup.sh');
  writeScript();
  const sh = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; sh '${scriptPath}'`;
  watchdog = spawn('sh', ['-c', sh], { detached: true, stdio: 'ignore' });
  watchdog.unref();
}

/** A shell command run at cleanup (e.g. stopping a gpg-agent); remove with the returned function. */
export function onCleanup(key: string, command: string): () => void {
  cleanups.set(key, command);
  writeScript();
  return () => {
    cleanups.delete(key);
    writeScript();
  };
}

function track(pid: number | undefined): void {
  if (!pid) return;
  groups.add(pid);
  writeScript();
}

function untrack(pid: number | undefined): void {
  if (!pid) return;
  groups.delete(pid);
  writeScript();
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* gone */
  }
}

/** Kills every live group, runs the cleanup commands, stops the watchdog. Synchronous (exit-safe). */
export function cleanupAll(): void {
  for (const g of groups) killGroup(g, 'SIGTERM');
  for (const c of cleanups.values()) spawnSync('sh', ['-c', c], { stdio: 'ignore', timeout: 10_000 });
  const deadline = Date.now() + 3000;
  while ([...groups].some(alive) && Date.now() < deadline) spawnSync('sleep', ['0.1']);
  for (const g of groups) if (alive(g)) killGroup(g, 'SIGKILL');
  groups.clear();
  cleanups.clear();
  for (const f of timeFiles) {
    try {
      unlinkSync(f);
    } catch {
      /* gone */
    }
  }
  timeFiles.clear();
  if (watchdog?.pid) {
    try {
      process.kill(-watchdog.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    watchdog = null;
  }
  if (scriptPath) {
    try {
      unlinkSync(scriptPath);
    } catch {
      /* gone */
    }
    scriptPath = '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// RSS polling

function children(): Map<number, number[]> {
  const kids = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'latin1');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    let l = kids.get(ppid);
    if (!l) kids.set(ppid, (l = []));
    l.push(Number(d));
  }
  return kids;
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** pid and its descendants. */
export function treePids(pid: number): number[] {
  const kids = children();
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return out;
}

/** VmRSS and VmHWM (peak RSS since start or since the last reset) of a process, bytes; null when gone. */
export function memOf(pid: number): { rss: number; hwm: number } | null {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'latin1');
    const rss = /VmRSS:\s+(\d+) kB/.exec(st);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(st);
    return rss && hwm ? { rss: Number(rss[1]) * 1024, hwm: Number(hwm[1]) * 1024 } : null;
  } catch {
    return null;
  }
}

/**
 * Resets the kernel's peak-RSS mark (VmHWM) of pid and each descendant to its current RSS, by
 * writing "5" to /proc/<pid>/clear_refs (Linux 4.0 and later). Returns the pids whose reset
 * took (VmHWM read back at most 1 MB above VmRSS); for the others VmHWM still holds the past.
 */
export function resetPeakRss(pid: number): Set<number> {
  const ok = new Set<number>();
  for (const p of treePids(pid)) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {
      continue;
    }
    const m = memOf(p);
    if (m && m.hwm <= m.rss + 1_048_576) ok.add(p);
  }
  return ok;
}

export interface PeakSample {
  /** [epoch ms, largest single-process VmRSS in the tree] every interval */
  timeline: Array<[number, number]>;
  /** per process: the peak seen (VmHWM where its reset took or it started after the reset, else the largest polled VmRSS) */
  peaks: Map<number, number>;
  /** the largest of those, and its pid */
  peakBytes: number | null;
  peakPid: number | null;
  /** 'VmHWM' when every process's peak came from the kernel's mark, else 'VmHWM+polled' or 'polled' */
  method: 'VmHWM' | 'VmHWM+polled' | 'polled';
}

/**
 * The peak RSS of a running process tree over a window (a daemon's step): call resetPeakRss
 * first and pass its answer; samples every `everyMs` until stop(). A process that starts during
 * the window (xz) has a fresh VmHWM; one that exits keeps its last sample.
 */
export function samplePeakRss(pid: number, resetOk: Set<number>, everyMs = 50): { stop(): PeakSample } {
  const before = new Set(treePids(pid));
  const polled = new Map<number, number>();
  const hwm = new Map<number, number>();
  const timeline: Array<[number, number]> = [];
  const sample = () => {
    let top = 0;
    for (const p of treePids(pid)) {
      const m = memOf(p);
      if (!m) continue;
      top = Math.max(top, m.rss);
      polled.set(p, Math.max(polled.get(p) ?? 0, m.rss));
      if (resetOk.has(p) || !before.has(p)) hwm.set(p, Math.max(hwm.get(p) ?? 0, m.hwm));
    }
    if (top) timeline.push([Date.now(), top]);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const peaks = new Map<number, number>();
      let kernel = 0;
      for (const [p, v] of polled) {
        const h = hwm.get(p);
        if (h !== undefined) kernel++;
        peaks.set(p, Math.max(v, h ?? 0));
      }
      let peakPid: number | null = null;
      for (const [p, v] of peaks) if (peakPid === null || v > peaks.get(peakPid)!) peakPid = p;
      return {
        timeline,
        peaks,
        peakBytes: peakPid === null ? null : peaks.get(peakPid)!,
        peakPid,
        method: kernel === polled.size && kernel > 0 ? 'VmHWM' : kernel ? 'VmHWM+polled' : 'polled',
      };
    },
  };
}

/** Sum of VmRSS over pid and its descendants. */
export function treeRss(pid: number): number {
  return treePids(pid).reduce((sum, p) => sum + rssOf(p), 0);
}

// ---------------------------------------------------------------------------------------------
// Runs

let seq = 0;

/** Runs a command to completion (see the file header). Never rejects: look at code / timedOut. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeFile = TIME ? path.join(os.tmpdir(), `bench-time-${process.pid}-${seq++}`) : null;
  const [file, argv] = timeFile ? [TIME!, ['-f', '%M', '-o', timeFile, cmd, ...args]] : [cmd, args];
  if (timeFile) timeFiles.add(timeFile);
  const started = performance.now();
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const child = spawn(file, argv, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    track(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input);
    }
    let treePeak = 0;
    const timeline: Array<[number, number]> = [];
    const poll = setInterval(() => {
      if (!child.pid) return;
      const rss = treeRss(child.pid);
      treePeak = Math.max(treePeak, rss);
      if (rss) timeline.push([Date.now(), rss]);
    }, 50);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) killGroup(child.pid, 'SIGKILL');
    }, opts.timeoutMs ?? 30 * 60_000);
    const finish = (code: number, signal: string | null) => {
      const wallMs = performance.now() - started;
      clearInterval(poll);
      clearTimeout(timer);
      untrack(child.pid);
      // Whatever the group left behind (a daemonised helper) goes too.
      if (child.pid) killGroup(child.pid, 'SIGKILL');
      let maxRssBytes: number | null = null;
      if (timeFile) {
        timeFiles.delete(timeFile);
        try {
          const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
          const kb = Number(lines[lines.length - 1]);
          if (Number.isFinite(kb)) maxRssBytes = kb * 1024;
          unlinkSync(timeFile);
        } catch {
          /* time did not write it (killed) */
        }
      }
      const stdout = Buffer.concat(out).toString('utf8');
      // /usr/bin/time reports a non-zero exit of the command on stderr: drop its line.
      const stderr = Buffer.concat(err).toString('utf8').replace(/^Command (exited with non-zero status \d+|terminated by signal \d+)\n/m, '');
      if (opts.logFile) writeFileSync(opts.logFile, `$ ${cmd} ${args.join(' ')}\n# exit ${code} signal ${signal} ${Math.round(wallMs)} ms\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
      resolve({ cmd: `${cmd} ${args.join(' ')}`, code, signal, stdout, stderr, wallMs, maxRssBytes, treeRssBytes: Math.max(treePeak, maxRssBytes ?? 0), rssTimeline: timeline, startedAt, endedAt: Date.now(), timedOut });
    };
    child.on('error', (e) => {
      err.push(Buffer.from(String(e)));
      finish(127, null);
    });
    child.on('close', (code, signal) => finish(code ?? 128, signal));
  });
}

export interface Daemon {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** SIGTERM the group, wait up to 5 s, then SIGKILL */
  stop(): Promise<void>;
}

/** Starts a long-lived process in its own group (tracked for cleanup). */
export function startDaemon(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; logFile?: string } = {}): Daemon {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  if (!child.pid) throw new Error(`could not start ${cmd}`);
  track(child.pid);
  if (opts.logFile) writeFileSync(opts.logFile, `$ ${cmd} ${args.join(' ')}\n`);
  let log = '';
  const keep = (c: Buffer) => {
    if (opts.logFile) appendFileSync(opts.logFile, c);
    log += c.toString('utf8');
    if (log.length > 64_000) log = log.slice(-32_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  const done = new Promise<void>((resolve) =>
    child.on('close', () => {
      exited = true;
      resolve();
    }),
  );
  return {
    child,
    pid: child.pid,
    output: () => log,
    async stop() {
      if (!exited) {
        killGroup(child.pid!, 'SIGTERM');
        const t = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), 5000);
        await done;
        clearTimeout(t);
      }
      untrack(child.pid);
    },
  };
}

/** Bytes used by a directory, hard links counted once (du -s -B1). */
export async function du(dir: string): Promise<number | null> {
  if (!existsSync(dir)) return null;
  const r = await run('du', ['-s', '-B1', dir], { timeoutMs: 10 * 60_000 });
  const n = Number(r.stdout.split(/\s/)[0]);
  return r.code === 0 && Number.isFinite(n) ? n : null;
}

/** Version line of a program, or null when absent. */
export function versionOf(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return null;
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
  return text || null;
}
