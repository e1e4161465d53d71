// The service under measurement: the real `bin/aptfreeze.js` as a subprocess, with its own
// configuration file and data directory. Each step is timed from outside (wall time of the
// whole command, node and tsx start included) and, for snapshots, from inside (the run's own
// `stats.ms` and its per-step debug log lines).
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { run, du, startDaemon, type RunResult, type Daemon } from './proc.ts';
import { httpGet, waitForHttp } from './net.ts';
import { summariseProfile, type ProfileSummary } from './profile.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface StepResult {
  ok: boolean;
  /** wall time of the command (process start to exit) */
  wallMs: number | null;
  /** the operation's own time where it reports one (snapshot: stats.ms) */
  internalMs?: number | null;
  /** largest single process (/usr/bin/time), else the polled tree sum */
  peakRssBytes: number | null;
  diskAfterBytes: number | null;
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

  async snapshot(label: string, profile: boolean): Promise<StepResult> {
    const r = await this.cli(['snapshot', 'debian', '--json'], label, profile);
    const d = await this.disk();
    const res: StepResult = { ok: r.code === 0, wallMs: r.wallMs, peakRssBytes: r.maxRssBytes ?? r.treeRssBytes, diskAfterBytes: d.total, diskParts: d.parts, steps: stepTimes(r.stderr, r.startedAt, r.endedAt), stepRss: stepRss(r.stderr, r.rssTimeline), profile: r.profile };
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
    const d = await this.disk();
    const res: StepResult = { ok: r.code === 0, wallMs: r.wallMs, peakRssBytes: r.maxRssBytes ?? r.treeRssBytes, diskAfterBytes: d.total, diskParts: d.parts, profile: r.profile, output: r.stdout.trim().slice(0, 2000) };
    if (r.code !== 0) res.error = lastLine(r.stderr) || lastLine(r.stdout) || `exit ${r.code}`;
    return res;
  }

  /** `aptfreeze serve`; with a profile dir, under --cpu-prof (written when it stops on SIGTERM). */
  async serve(profile = false): Promise<Daemon> {
    const profArgs = profile && this.o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${this.serveProfileDir}`] : [];
    const d = startDaemon(process.execPath, [...profArgs, this.binPath, '--config', this.configPath, '--data', this.dataDir, 'serve'], { cwd: this.o.dir, env: this.env({ APTFREEZE_LOG: 'warn' }) });
    await waitForHttp(`${this.url}/keys/aptfreeze.asc`, 60_000, d);
    return d;
  }

  get serveProfileDir(): string {
    return path.join(this.o.profileDir ?? this.o.dir, 'serve');
  }

  async serveProfile(): Promise<ProfileSummary | undefined> {
    const dir = this.serveProfileDir;
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
    const token = this.adminToken();
    const t0 = performance.now();
    try {
      const r = await httpGet(`${this.url}${pathname}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      const ms = performance.now() - t0;
      const ok = r.status >= 200 && r.status < 300;
      return { ok, wallMs: ms, peakRssBytes: null, diskAfterBytes: null, ...(ok ? {} : { error: `HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 200)}` }) };
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
