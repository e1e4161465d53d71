// The service under measurement: the real `bin/aptfreeze.js` as a subprocess, with its own
// configuration file and data directory. A snapshot is taken either as a CLI command (timed from
// outside: wall time of the whole command, node and tsx start included) or by a running
// `aptfreeze serve` through `POST /api/archives/<archive>/snapshots` (timed as the request's wall
// time: the route answers once the serial is published). Both are also timed from inside (the
// run's own `stats.ms` and its per-step debug log lines).
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { run, du, startDaemon, memOf, resetPeakRss, samplePeakRss, type RunResult, type Daemon } from './proc.ts';
import { httpGet, waitForHttp } from './net.ts';
import { summariseProfile, type ProfileSummary } from './profile.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface StepResult {
  ok: boolean;
  /** how the step was taken: a CLI command, or a request to the running daemon */
  via?: 'cli' | 'api';
  /** wall time of the command (process start to exit), or of the API request (sent to answer read) */
  wallMs: number | null;
  /** the operation's own time where it reports one (snapshot: stats.ms) */
  internalMs?: number | null;
  /** CLI: largest single process (/usr/bin/time), else the polled tree sum; API: the daemon's largest single process over the request (VmHWM reset at its start) */
  peakRssBytes: number | null;
  /** API: how the peak was read (VmHWM, or polled VmRSS where the reset did not take) */
  peakRssMethod?: string;
  /** API: the daemon process that ran the snapshot (from its log line), its RSS when the request was sent and its peak */
  snapshotPid?: number;
  rssBeforeBytes?: number | null;
  snapshotPidPeakBytes?: number | null;
  diskAfterBytes: number | null;
  /** the data directory before the step (the previous step's disk after) */
  diskBeforeBytes?: number | null;
  error?: string;
  /** snapshot: milliseconds per named step (from the debug log) */
  steps?: Record<string, number>;
  /** snapshot: the largest polled RSS (process tree) during each step, bytes */
  stepRss?: Record<string, number>;
  /** snapshot: the run's stats */
  stats?: Record<string, unknown>;
  serial?: string;
  profile?: ProfileSummary;
  /** du of the data directory's parts after the step: store (every blob), public (what the tree adds: directories, symlinks, signed files), other (database, keys) */
  diskParts?: { store: number; public: number; other: number };
  /** the command's output (trimmed), for verbs */
  output?: string;
}

export interface ServiceOptions {
  dir: string;
  upstreamUrl: string;
  keyring: string;
  suite: string;
  component: string;
  port: number;
  lifetime: string;
  keep: number;
  profileDir?: string;
  logDir: string;
  /** the checkout whose bin/aptfreeze.js runs (default this one) */
  serviceRoot?: string;
}

export class ServiceUnderTest {
  readonly dataDir: string;
  readonly configPath: string;
  readonly binPath: string;
  private n = 0;
  /** the data directory's size after the last step, for the next step's diskBeforeBytes */
  private lastDisk: number | null = null;
  /** the API token made with `tokens create` (else the bootstrap admin token is used) */
  private token: string | null = null;
  /** the debug log lines of the snapshot daemon that the steps read (parsed JSON) */
  private daemonLog: Array<{ msg?: string; step?: string; time?: number; pid?: number; serial?: string; line: string }> = [];

  constructor(readonly o: ServiceOptions) {
    this.dataDir = path.join(o.dir, 'data');
    this.configPath = path.join(o.dir, 'aptfreeze.yaml');
    this.binPath = path.join(o.serviceRoot ?? repoRoot, 'bin', 'aptfreeze.js');
    mkdirSync(o.dir, { recursive: true });
    mkdirSync(o.logDir, { recursive: true });
    const config = {
      listen: `127.0.0.1:${o.port}`,
      baseUrl: `http://127.0.0.1:${o.port}`,
      lifetime: o.lifetime,
      keep: o.keep,
      // The bench runs gc itself; the daemon's own (daily 03:30) must not fire during a step.
      gcSchedule: '0 0 29 2 *',
      archives: {
        debian: { url: o.upstreamUrl, suites: [o.suite], components: [o.component], architectures: ['amd64'], keyring: o.keyring },
      },
    };
    writeFileSync(this.configPath, YAML.stringify(config));
  }

  get url(): string {
    return `http://127.0.0.1:${this.o.port}`;
  }

  get publicDir(): string {
    return path.join(this.dataDir, 'public');
  }

  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, APTFREEZE_LOG: 'debug', ...extra };
    for (const k of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'NODE_OPTIONS']) delete env[k];
    return env;
  }

  /** Runs `aptfreeze <args>`; with a profile name and a profile dir, under --cpu-prof. */
  async cli(args: string[], label: string, profile = false): Promise<RunResult & { profile?: ProfileSummary }> {
    const profDir = profile && this.o.profileDir ? path.join(this.o.profileDir, `${String(++this.n).padStart(2, '0')}-${label}`) : null;
    const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    const r = await run(process.execPath, [...nodeArgs, this.binPath, '--config', this.configPath, '--data', this.dataDir, ...args], {
      cwd: this.o.dir,
      env: this.env(),
      timeoutMs: 60 * 60_000,
      logFile: path.join(this.o.logDir, `aptfreeze-${label}.log`),
    });
    let summary: ProfileSummary | undefined;
    if (profDir && existsSync(profDir)) {
      const f = readdirSync(profDir).find((x) => x.endsWith('.cpuprofile'));
      if (f) summary = await summariseProfile(path.join(profDir, f)).catch(() => undefined);
    }
    return { ...r, profile: summary };
  }

  /** du -s -B1 store public . in the data directory: hard links are counted once, under the first argument that holds them. */
  async disk(): Promise<{ total: number | null; parts?: { store: number; public: number; other: number } }> {
    if (!existsSync(this.dataDir)) return { total: null };
    const r = await run('du', ['-s', '-B1', 'store', 'public', '.'], { cwd: this.dataDir, timeoutMs: 10 * 60_000 });
    const n = r.stdout.trim().split('\n').map((l) => Number(l.split(/\s/)[0]));
    if (r.code !== 0 || n.length !== 3 || n.some((x) => !Number.isFinite(x))) return { total: await du(this.dataDir) };
    return { total: n[0]! + n[1]! + n[2]!, parts: { store: n[0]!, public: n[1]!, other: n[2]! } };
  }

  /** du after a step, remembered as the next step's "before". */
  private async diskStep(): Promise<{ before: number | null; total: number | null; parts?: { store: number; public: number; other: number } }> {
    const before = this.lastDisk;
    const d = await this.disk();
    this.lastDisk = d.total;
    return { before, ...d };
  }

  /** The snapshot as a CLI command: `aptfreeze snapshot debian --json`. */
  async snapshot(label: string, profile: boolean): Promise<StepResult> {
    const r = await this.cli(['snapshot', 'debian', '--json'], label, profile);
    const d = await this.diskStep();
    const res: StepResult = { ok: r.code === 0, via: 'cli', diskBeforeBytes: d.before, wallMs: r.wallMs, peakRssBytes: r.maxRssBytes ?? r.treeRssBytes, diskAfterBytes: d.total, diskParts: d.parts, steps: stepTimes(r.stderr, r.startedAt, r.endedAt), stepRss: stepRss(r.stderr, r.rssTimeline), profile: r.profile };
    if (r.code !== 0) {
      res.error = lastLine(r.stderr) || `exit ${r.code}`;
      return res;
    }
    try {
      const out = JSON.parse(r.stdout) as Array<{ serial: string; stats: Record<string, unknown> & { ms?: number } }>;
      res.serial = out[0]?.serial;
      res.stats = out[0]?.stats;
      res.internalMs = typeof out[0]?.stats.ms === 'number' ? out[0].stats.ms : null;
    } catch {
      res.error = 'could not parse snapshot --json output';
    }
    return res;
  }

  /** A verb that may not exist yet (freeze, thaw, gc): a failure is reported, never thrown. */
  async verb(label: string, args: string[], profile = false): Promise<StepResult> {
    const r = await this.cli(args, label, profile);
    const d = await this.diskStep();
    const res: StepResult = { ok: r.code === 0, via: 'cli', diskBeforeBytes: d.before, wallMs: r.wallMs, peakRssBytes: r.maxRssBytes ?? r.treeRssBytes, diskAfterBytes: d.total, diskParts: d.parts, profile: r.profile, output: r.stdout.trim().slice(0, 2000) };
    if (r.code !== 0) res.error = lastLine(r.stderr) || lastLine(r.stdout) || `exit ${r.code}`;
    return res;
  }

  /** `aptfreeze serve` (its default workers); with a profile dir, under --cpu-prof (written when it stops on SIGTERM). */
  async serve(profile = false): Promise<Daemon> {
    const profArgs = profile && this.o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${this.serveProfileDir('serve')}`] : [];
    const d = startDaemon(process.execPath, [...profArgs, this.binPath, '--config', this.configPath, '--data', this.dataDir, 'serve'], { cwd: this.o.dir, env: this.env({ APTFREEZE_LOG: 'warn' }) });
    await waitForHttp(`${this.url}/keys/aptfreeze.asc`, 60_000, d);
    return d;
  }

  /**
   * `aptfreeze serve --workers 1` for the snapshot steps, at debug level (the steps' log lines).
   * With --workers N > 1 an API snapshot runs in whichever HTTP worker took the connection (the
   * primary runs only the schedules): one process makes every step run in the same, measured,
   * process, as a scheduled snapshot runs in the primary.
   */
  async snapshotDaemon(profile = false): Promise<Daemon> {
    const profArgs = profile && this.o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${this.serveProfileDir('serve-snapshots')}`] : [];
    const d = startDaemon(process.execPath, [...profArgs, this.binPath, '--config', this.configPath, '--data', this.dataDir, 'serve', '--workers', '1'], {
      cwd: this.o.dir,
      env: this.env(),
      logFile: path.join(this.o.logDir, 'aptfreeze-serve-snapshots.log'),
    });
    this.daemonLog = [];
    let rest = '';
    d.child.stderr!.on('data', (c: Buffer) => {
      const lines = (rest + c.toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          const j = JSON.parse(line) as { msg?: string; step?: string; time?: number; pid?: number; serial?: string };
          if (j.msg === 'step' || j.msg === 'snapshot published') this.daemonLog.push({ ...j, line });
        } catch {
          /* not a log line */
        }
      }
    });
    await waitForHttp(`${this.url}/keys/aptfreeze.asc`, 60_000, d);
    return d;
  }

  /** An API token for the bench: `aptfreeze tokens create --role release-manager` (output not logged: it holds the token). */
  async createToken(): Promise<string> {
    const r = await run(process.execPath, [this.binPath, '--config', this.configPath, '--data', this.dataDir, 'tokens', 'create', '--role', 'release-manager', '--name', 'aptfreeze-bench', '--json'], {
      cwd: this.o.dir,
      env: this.env({ APTFREEZE_LOG: 'warn' }),
      timeoutMs: 5 * 60_000,
    });
    if (r.code !== 0) throw new Error(`tokens create: ${lastLine(r.stderr) || `exit ${r.code}`}`);
    const t = (JSON.parse(r.stdout) as { token?: string }).token;
    if (!t) throw new Error('tokens create: no token in its output');
    this.token = t;
    this.lastDisk = (await this.disk()).total;
    return t;
  }

  /**
   * The snapshot through a running daemon: POST /api/archives/debian/snapshots?wait=1, timed from
   * the request to the answer (sent once the serial is published: with wait=1 the route answers
   * when the operation has ended, as the bench always measured).
   * Peak RSS: every process of the daemon has its VmHWM reset just before the request, the
   * largest single process over the request counts (polled VmRSS where a reset did not take).
   */
  async snapshotApi(d: Daemon): Promise<StepResult> {
    const resetOk = resetPeakRss(d.pid);
    const rssBefore = memOf(d.pid)?.rss ?? null;
    const logFrom = this.daemonLog.length;
    const sampler = samplePeakRss(d.pid, resetOk);
    const startedAt = Date.now();
    const t0 = performance.now();
    let status = 0;
    let body = '';
    let error: string | undefined;
    try {
      const r = await httpGet(`${this.url}/api/archives/debian/snapshots?wait=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token ?? this.adminToken() ?? ''}` },
        body: '{}',
        timeoutMs: 60 * 60_000,
      });
      status = r.status;
      body = r.body.toString('utf8');
    } catch (e) {
      error = (e as Error).message;
    }
    const wallMs = performance.now() - t0;
    const endedAt = Date.now();
    const peak = sampler.stop();
    const res: StepResult = { ok: !error && status === 201, via: 'api', wallMs, peakRssBytes: peak.peakBytes, peakRssMethod: peak.method, rssBeforeBytes: rssBefore, diskAfterBytes: null };
    if (!res.ok) res.error = error ?? `HTTP ${status}: ${body.slice(0, 300)}`;
    else {
      try {
        const out = JSON.parse(body) as { serial?: string; stats?: Record<string, unknown> & { ms?: number } };
        res.serial = out.serial;
        res.stats = out.stats;
        res.internalMs = typeof out.stats?.ms === 'number' ? out.stats.ms : null;
      } catch {
        res.error = 'could not parse the snapshot response';
      }
      // The log line of the publication is written before the answer; its pipe may be read a little later.
      for (let i = 0; i < 100 && !this.daemonLog.slice(logFrom).some((l) => l.msg === 'snapshot published' && l.serial === res.serial); i++) await new Promise((r) => setTimeout(r, 20));
      const lines = this.daemonLog.slice(logFrom);
      const text = lines.map((l) => l.line).join('\n');
      res.steps = stepTimes(text, startedAt, endedAt);
      res.stepRss = stepRss(text, peak.timeline);
      const pid = lines.find((l) => l.msg === 'snapshot published')?.pid;
      if (pid !== undefined) {
        res.snapshotPid = pid;
        res.snapshotPidPeakBytes = peak.peaks.get(pid) ?? null;
      }
    }
    const dd = await this.diskStep();
    res.diskBeforeBytes = dd.before;
    res.diskAfterBytes = dd.total;
    res.diskParts = dd.parts;
    return res;
  }

  serveProfileDir(name: string): string {
    return path.join(this.o.profileDir ?? this.o.dir, name);
  }

  async serveProfile(name = 'serve'): Promise<ProfileSummary | undefined> {
    const dir = this.serveProfileDir(name);
    if (!existsSync(dir)) return undefined;
    const f = readdirSync(dir).find((x) => x.endsWith('.cpuprofile'));
    return f ? summariseProfile(path.join(dir, f)).catch(() => undefined) : undefined;
  }

  adminToken(): string | null {
    const f = path.join(this.dataDir, 'admin-token');
    return existsSync(f) ? readFileSync(f, 'utf8').trim() : null;
  }

  /** POST to the API of a running `serve`; wall time of the request. */
  async api(pathname: string, body: unknown): Promise<StepResult> {
    const token = this.token ?? this.adminToken();
    const t0 = performance.now();
    try {
      const r = await httpGet(`${this.url}${pathname}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      const ms = performance.now() - t0;
      const ok = r.status >= 200 && r.status < 300;
      return { ok, via: 'api', wallMs: ms, peakRssBytes: null, diskAfterBytes: null, ...(ok ? {} : { error: `HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 200)}` }) };
    } catch (e) {
      return { ok: false, wallMs: null, peakRssBytes: null, diskAfterBytes: null, error: (e as Error).message };
    }
  }
}

/** The CLI's one error line (`aptfreeze: CODE: message`), else the first line naming an error. */
function lastLine(s: string): string {
  const lines = s.trim().split('\n').filter((l) => l.trim() && !l.startsWith('{'));
  return lines.find((l) => l.startsWith('aptfreeze:')) ?? lines.find((l) => /error/i.test(l))?.trim() ?? lines[lines.length - 1] ?? '';
}

function stepMarks(stderr: string): Array<[string, number]> {
  const marks: Array<[string, number]> = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { msg?: string; step?: string; time?: number };
      if (j.msg === 'step' && j.step && j.time) marks.push([j.step, j.time]);
      else if (j.msg === 'snapshot published' && j.time) marks.push(['(end)', j.time]);
    } catch {
      /* not a log line */
    }
  }
  return marks;
}

/** The largest RSS sample within each step (before the first step: "(start)"; after the run: "(exit)"). */
export function stepRss(stderr: string, timeline: Array<[number, number]>): Record<string, number> {
  const marks = stepMarks(stderr);
  const out: Record<string, number> = {};
  for (const [t, rss] of timeline) {
    let name = '(start)';
    for (const [n, at] of marks) if (at <= t) name = n === '(end)' ? '(exit)' : n;
    out[name] = Math.max(out[name] ?? 0, rss);
  }
  return out;
}

/** Milliseconds between the run's debug `step` lines (pino JSON on stderr), last step to publication. */
export function stepTimes(stderr: string, startedAt?: number, endedAt?: number): Record<string, number> {
  const marks = stepMarks(stderr);
  const out: Record<string, number> = {};
  // Process start to the first step (node, tsx, opening the data directory), and publication to exit.
  if (startedAt !== undefined && marks.length) out['(start)'] = marks[0]![1] - startedAt;
  for (let i = 0; i + 1 < marks.length; i++) out[marks[i]![0]] = (out[marks[i]![0]] ?? 0) + marks[i + 1]![1] - marks[i]![1];
  const last = marks[marks.length - 1];
  if (endedAt !== undefined && last?.[0] === '(end)') out['(exit)'] = endedAt - last[1];
  return out;
}
