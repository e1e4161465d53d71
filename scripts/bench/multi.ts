// `--runs N`, `--compare DIR` and `--cli-packages N` (issues 11 and 16): this process drives one
// child bench (scripts/bench.ts with --child-json) per measurement and reports medians.
// Per run, in this order, each child with its own work directory and its own upstream,
// generated from the same seed (so every child starts from the same first state and sees
// the same churns: the upstream is regenerated, never carried over from a run that changed it):
//   1. this checkout at --packages (daemon, CLI, peers, serving, gc: the usual bench);
//   2. with --compare: the other checkout at --packages (--no-peers: the peers' figures are the
//      same work, taken once, in 1);
//   3. with --cli-packages: this checkout at that size in command-line mode (every snapshot a
//      whole `aptfreeze snapshot` process, beside aptly and reprepro);
//   4. with both: the other checkout in command-line mode (--no-peers).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchOptions } from './options.ts';
import type { StepResult } from './service.ts';
import type { PeerStep } from './peers.ts';
import { computeTargets, mb, ms, poolRate, poolTarget, renderMarkdown, renderText, type BenchResults, type Target } from './report.ts';

const benchScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bench.ts');

/** The driver's own flags: never passed on to a child. */
const DRIVER_FLAGS = new Set(['--runs', '--compare', '--cli-packages', '--out', '--child-json', '--cli-mode']);

/** argv without the driver's flags (both `--flag value` and `--flag=value`). */
export function childArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const flag = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (!DRIVER_FLAGS.has(flag)) {
      out.push(a);
      continue;
    }
    if (!a.includes('=') && flag !== '--cli-mode') i++;
  }
  return out;
}

type Kind = 'main' | 'compare' | 'cli' | 'cliCompare';

export interface MultiResults {
  version: 3;
  startedAt: string;
  finishedAt?: string;
  totalMs?: number;
  options: Record<string, unknown>;
  /** per kind, one BenchResults per run (null where the child left no results) */
  runs: Record<Kind, Array<BenchResults | null>>;
  /** per kind, the median of every number over the runs (see medianResults) */
  median: Partial<Record<Kind, BenchResults>>;
  targets: Target[];
  issue16: Target[];
  comparison: ComparisonRow[];
  errors: string[];
}

// ---------------------------------------------------------------------------------------------
// Medians

export function median(values: number[]): number | null {
  const v = values.filter((n) => Number.isFinite(n)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/**
 * One BenchResults whose every number is the median over the runs' values at the same place
 * (taking only the runs where the enclosing step succeeded); `ok` is true when any run's was;
 * strings, arrays and the rest are the first run's. The usual table and targets are then
 * computed on it: a ratio in it is the ratio of the medians.
 */
export function medianResults(runs: BenchResults[]): BenchResults {
  const merge = (vals: unknown[]): unknown => {
    const present = vals.filter((v) => v !== undefined && v !== null);
    if (!present.length) return vals[0];
    const first = present[0];
    if (typeof first === 'number') return median(present.filter((v): v is number => typeof v === 'number'));
    if (typeof first !== 'object' || Array.isArray(first)) return first;
    const objs = present.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v));
    const okOnes = objs.filter((o) => o['ok'] !== false);
    const use = 'ok' in first && okOnes.length ? okOnes : objs;
    const out: Record<string, unknown> = {};
    for (const k of new Set(objs.flatMap((o) => Object.keys(o)))) {
      out[k] = k === 'ok' ? objs.some((o) => o['ok'] === true) : merge(use.map((o) => o[k]));
    }
    return out;
  };
  const m = merge(runs) as BenchResults;
  m.errors = runs.flatMap((r, i) => r.errors.map((e) => `run ${i + 1}: ${e}`));
  m.notes = [...runs[0]!.notes];
  return m;
}

// ---------------------------------------------------------------------------------------------
// The figures shown run by run and before / after

type Unit = 'ms' | 'bytes' | 'rps' | 'mbps' | 'x';
interface Figure {
  kind: 'main' | 'cli';
  label: string;
  unit: Unit;
  better: 'lower' | 'higher';
  /** an aptfreeze figure (compared before / after); the peers' are shown by run only */
  own: boolean;
  get: (r: BenchResults) => number | null;
}

const okv = (s: { ok: boolean; wallMs: number | null } | undefined) => (s?.ok ? s.wallMs : null);
const rssv = (s: { ok: boolean; peakRssBytes: number | null } | undefined) => (s?.ok ? s.peakRssBytes : null);
const div = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);

function figures(cliPackages: number, packages: number): Figure[] {
  const f: Figure[] = [];
  const own = (kind: Figure['kind'], label: string, unit: Unit, get: Figure['get'], better: Figure['better'] = unit === 'rps' || unit === 'mbps' ? 'higher' : 'lower') => f.push({ kind, label, unit, better, own: true, get });
  const peer = (kind: Figure['kind'], label: string, unit: Unit, get: Figure['get'], better: Figure['better'] = 'higher') => f.push({ kind, label, unit, better, own: false, get });
  const k = `${packages / 1000}k`;
  own('main', `${k}: first snapshot (daemon API)`, 'ms', (r) => okv(r.service.api.first));
  own('main', `${k}: first snapshot, pool downloads (files/s)`, 'rps', (r) => poolRate(r.service.api.first)?.filesPerSec ?? null);
  own('main', `${k}: nothing changed (daemon API)`, 'ms', (r) => okv(r.service.api.nochange));
  own('main', `${k}: 1% churn (daemon API)`, 'ms', (r) => okv(r.service.api.churn));
  own('main', `${k}: nothing changed (CLI wall)`, 'ms', (r) => okv(r.service.cli.nochange));
  own('main', `${k}: 1% churn (CLI wall, second churn)`, 'ms', (r) => okv(r.service.cli.churn));
  own('main', `${k}: aptfreeze serials (CLI wall)`, 'ms', (r) => okv(r.service.cliBaseline));
  own('main', `${k}: freeze (CLI wall)`, 'ms', (r) => okv(r.service.freeze));
  own('main', `${k}: thaw (CLI wall)`, 'ms', (r) => okv(r.service.thaw));
  own('main', `${k}: freeze (API)`, 'ms', (r) => okv(r.service.freezeApi));
  own('main', `${k}: thaw (API)`, 'ms', (r) => okv(r.service.thawApi));
  own('main', `${k}: gc (CLI wall)`, 'ms', (r) => okv(r.service.gc));
  own('main', `${k}: peak RSS, first (daemon)`, 'bytes', (r) => rssv(r.service.api.first));
  own('main', `${k}: peak RSS, nothing changed (daemon)`, 'bytes', (r) => rssv(r.service.api.nochange));
  own('main', `${k}: peak RSS, 1% churn (daemon)`, 'bytes', (r) => rssv(r.service.api.churn));
  own('main', `${k}: peak RSS, nothing changed (CLI)`, 'bytes', (r) => rssv(r.service.cli.nochange));
  own('main', `${k}: peak RSS, 1% churn (CLI)`, 'bytes', (r) => rssv(r.service.cli.churn));
  own('main', `${k}: peak RSS, freeze / thaw / gc (largest)`, 'bytes', (r) => Math.max(rssv(r.service.freeze) ?? 0, rssv(r.service.thaw) ?? 0, rssv(r.service.gc) ?? 0) || null);
  own('main', `${k}: peak RSS, serve under wrk`, 'bytes', (r) => Math.max(r.service.serveSmall?.serverRssBytes ?? 0, r.service.serveLarge?.serverRssBytes ?? 0) || null);
  own('main', `${k}: serve small file, req/s`, 'rps', (r) => (r.service.serveSmall?.ok ? r.service.serveSmall.requestsPerSec : null));
  own('main', `${k}: serve large index, MB/s`, 'mbps', (r) => (r.service.serveLarge?.ok ? r.service.serveLarge.mbPerSec : null));
  own('main', `${k}: disk added by the 1%-churn serial (API)`, 'bytes', (r) => {
    const c = r.service.api.churn;
    return c?.ok && c.diskBeforeBytes != null && c.diskAfterBytes != null ? c.diskAfterBytes - c.diskBeforeBytes : null;
  });
  peer('main', `${k}: aptly first`, 'ms', (r) => okv(r.aptly.first), 'lower');
  peer('main', `${k}: aptly 1% churn`, 'ms', (r) => okv(r.aptly.churn), 'lower');
  peer('main', `${k}: reprepro first`, 'ms', (r) => okv(r.reprepro.first), 'lower');
  peer('main', `${k}: reprepro 1% churn`, 'ms', (r) => okv(r.reprepro.churn), 'lower');
  peer('main', `${k}: nginx small file, req/s`, 'rps', (r) => (r.nginx.small?.ok ? r.nginx.small.requestsPerSec : null));
  peer('main', `${k}: nginx large index, MB/s`, 'mbps', (r) => (r.nginx.large?.ok ? r.nginx.large.mbPerSec : null));
  peer('main', `${k}: 1% churn (daemon): aptly / aptfreeze`, 'x', (r) => div(okv(r.aptly.churn), okv(r.service.api.churn)));
  peer('main', `${k}: 1% churn (daemon): reprepro / aptfreeze`, 'x', (r) => div(okv(r.reprepro.churn), okv(r.service.api.churn)));
  peer('main', `${k}: first (daemon): aptly / aptfreeze`, 'x', (r) => div(okv(r.aptly.first), okv(r.service.api.first)));
  if (cliPackages > 0) {
    const c = `${cliPackages / 1000}k command-line upstream`;
    own('cli', `${c}: first snapshot (CLI wall)`, 'ms', (r) => okv(r.service.cli.first));
    own('cli', `${c}: nothing changed (CLI wall)`, 'ms', (r) => okv(r.service.cli.nochange));
    own('cli', `${c}: 1% churn (CLI wall)`, 'ms', (r) => okv(r.service.cli.churn));
    own('cli', `${c}: aptfreeze serials (CLI wall)`, 'ms', (r) => okv(r.service.cliBaseline));
    own('cli', `${c}: peak RSS, first / nothing changed / churn (CLI, largest)`, 'bytes', (r) => Math.max(rssv(r.service.cli.first) ?? 0, rssv(r.service.cli.nochange) ?? 0, rssv(r.service.cli.churn) ?? 0) || null);
    peer('cli', `${c}: aptly first`, 'ms', (r) => okv(r.aptly.first), 'lower');
    peer('cli', `${c}: aptly 1% churn`, 'ms', (r) => okv(r.aptly.churn), 'lower');
    peer('cli', `${c}: reprepro first`, 'ms', (r) => okv(r.reprepro.first), 'lower');
    peer('cli', `${c}: reprepro 1% churn`, 'ms', (r) => okv(r.reprepro.churn), 'lower');
    peer('cli', `${c}: 1% churn (CLI): aptly / aptfreeze`, 'x', (r) => div(okv(r.aptly.churn), okv(r.service.cli.churn)));
    peer('cli', `${c}: 1% churn (CLI): reprepro / aptfreeze`, 'x', (r) => div(okv(r.reprepro.churn), okv(r.service.cli.churn)));
  }
  return f;
}

function fmt(v: number | null, unit: Unit): string {
  if (v === null) return 'n/a';
  switch (unit) {
    case 'ms':
      return ms(v);
    case 'bytes':
      return mb(v);
    case 'rps':
      return `${Math.round(v)}`;
    case 'mbps':
      return `${v.toFixed(0)}`;
    case 'x':
      return `${v >= 10 ? v.toFixed(0) : v.toFixed(1)}×`;
  }
}

interface ComparisonRow {
  figure: string;
  before: number | null;
  after: number | null;
  ratio: number | null;
  verdict: string;
}

function compareRow(fig: Figure, before: number | null, after: number | null): ComparisonRow {
  const ratio = div(after, before);
  let verdict = 'n/a';
  if (ratio !== null) {
    const worse = fig.better === 'lower' ? ratio > 1 : ratio < 1;
    verdict = worse ? `worse by ${Math.round(Math.abs(ratio - 1) * 100)}%` : 'at least as good';
  } else if (after !== null && before === null) verdict = 'n/a (before: not measured)';
  return { figure: fig.label, before, after, ratio, verdict };
}

// ---------------------------------------------------------------------------------------------
// Issue 16's targets (judged on the medians)

function issue16Targets(main: BenchResults | undefined, cli: BenchResults | undefined, cliPackages: number, packages: number, pdiffs: number): Target[] {
  const t: Target[] = [];
  const v = (x: number | null, ok: (n: number) => boolean): Target['verdict'] => (x === null ? 'n/a' : ok(x) ? 'met' : 'MISSED');
  const xr = (q: number | null) => (q === null ? 'n/a' : `${q >= 10 ? q.toFixed(0) : q.toFixed(1)}×`);
  const c = `${cliPackages.toLocaleString('en')} packages (command-line upstream)`;
  const p = `${packages.toLocaleString('en')} packages (main upstream)`;
  const cc = cli?.service.cli.churn;
  for (const [peerName, peerStep, min] of [
    ['aptly', cli?.aptly.churn, 10],
    ['reprepro', cli?.reprepro.churn, 3],
  ] as Array<[string, PeerStep | undefined, number]>) {
    const q = div(okv(peerStep), okv(cc));
    t.push({ figure: `1%-churn snapshot, whole \`aptfreeze snapshot\` process, ${c}: vs ${peerName}`, measured: xr(q), target: `≥ ${min}× ${peerName}`, verdict: cli ? v(q, (n) => n >= min) : 'n/a', detail: cli ? `aptfreeze ${ms(okv(cc))}, ${peerName} ${ms(okv(peerStep))}` : 'no --cli-packages run' });
  }
  for (const [size, r] of [
    [c, cli],
    [p, main],
  ] as Array<[string, BenchResults | undefined]>) {
    const n = okv(r?.service.cli.nochange);
    t.push({ figure: `nothing changed, whole process, ${size}`, measured: ms(n), target: '≤ 0.4 s', verdict: v(n, (x) => x <= 400), detail: r ? `run: stats.ms ${ms(r.service.cli.nochange?.internalMs ?? null)}` : 'not run' });
  }
  for (const [size, r] of [
    [c, cli],
    [p, main],
  ] as Array<[string, BenchResults | undefined]>) {
    const n = okv(r?.service.cliBaseline);
    t.push({ figure: `\`aptfreeze serials\` wall, ${size}`, measured: ms(n), target: '≤ 150 ms', verdict: v(n, (x) => x <= 150), detail: r ? '' : 'not run' });
  }
  const ac = main?.service.api.churn;
  for (const [peerName, peerStep, min] of [
    ['aptly', main?.aptly.churn, 20],
    ['reprepro', main?.reprepro.churn, 6],
  ] as Array<[string, PeerStep | undefined, number]>) {
    const q = div(okv(peerStep), okv(ac));
    t.push({ figure: `1% churn through the daemon, ${p}: vs ${peerName}`, measured: xr(q), target: `≥ ${min}× ${peerName}`, verdict: v(q, (n) => n >= min), detail: `aptfreeze ${ms(okv(ac))}, ${peerName} ${ms(okv(peerStep))}` });
  }
  const af = main?.service.api.first;
  const qf = div(okv(main?.aptly.first), okv(af));
  t.push({ figure: `first snapshot (daemon), ${p}: vs aptly`, measured: xr(qf), target: '≥ 4× aptly', verdict: v(qf, (n) => n >= 4), detail: `aptfreeze ${ms(okv(af))}, aptly ${ms(okv(main?.aptly.first))}` });
  t.push(poolTarget(main?.service.api.first, `daemon, ${p}`, main?.nginx.small));
  const steps: Array<[string, StepResult | undefined]> = [];
  if (main) {
    const s = main.service;
    steps.push(['first, daemon', s.api.first], ['nothing changed, daemon', s.api.nochange], ['churn, daemon', s.api.churn], ['nothing changed, CLI', s.cli.nochange], ['churn, CLI', s.cli.churn], ['freeze, CLI', s.freeze], ['thaw, CLI', s.thaw], ['gc, CLI', s.gc]);
  }
  if (cli) steps.push([`first, CLI, ${c}`, cli.service.cli.first], [`nothing changed, CLI, ${c}`, cli.service.cli.nochange], [`churn, CLI, ${c}`, cli.service.cli.churn]);
  const worst = steps.filter(([, s]) => rssv(s) !== null).sort((a, b) => rssv(b[1])! - rssv(a[1])!)[0];
  t.push({ figure: 'peak RSS of any step (snapshots, freeze, thaw, gc)', measured: worst ? `${mb(rssv(worst[1]))} (${worst[0]})` : 'n/a', target: '≤ 200 MB', verdict: worst ? v(rssv(worst[1]), (n) => n <= 200e6) : 'n/a' });
  t.push({
    figure: 'bytes fetched by a 1%-churn snapshot with pdiffs, vs without',
    measured: 'n/a',
    target: '≤ 10% of without',
    verdict: 'n/a',
    detail: pdiffs > 0 ? 'the bench does not count the bytes a snapshot fetches yet (nor runs the churn without pdiffs beside it)' : 'run with --pdiffs N',
  });
  return t;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function table(header: string[], data: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...data.map((d) => (d[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? '').padEnd(w[i]!)).join('  ').trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...data.map(line)].join('\n');
}

function mdTable(header: string[], data: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${header.map(esc).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...data.map((d) => `| ${d.map(esc).join(' | ')} |`)].join('\n');
}

interface Section {
  title: string;
  header: string[];
  data: string[][];
  note?: string;
}

function sections(m: MultiResults, figs: Figure[], compareDir: string | null): Section[] {
  const out: Section[] = [];
  const n = m.runs.main.length;
  const byRun = (kind: Kind, fig: Figure) => m.runs[kind].map((r) => (r ? fig.get(r) : null));
  const perRun: string[][] = [];
  for (const fig of figs) {
    const kinds: Kind[] = fig.kind === 'main' ? ['main', 'compare'] : ['cli', 'cliCompare'];
    for (const kind of kinds) {
      if (kind !== kinds[0] && (!fig.own || !compareDir)) continue;
      const vals = byRun(kind, fig);
      perRun.push([`${fig.label}${kind === kinds[1] ? ' (before)' : ''}`, ...vals.map((v) => fmt(v, fig.unit)), fmt(median(vals.filter((x): x is number => x !== null)), fig.unit)]);
    }
  }
  out.push({ title: `Every run (${n}) and the median`, header: ['figure', ...Array.from({ length: n }, (_, i) => `run ${i + 1}`), 'median'], data: perRun, note: 'Ratios here are per run; the median column of a ratio is the median of the runs\' ratios.' });
  if (compareDir) {
    out.push({
      title: `Before (${compareDir}) / after (this checkout), medians over ${n} run${n === 1 ? '' : 's'}`,
      header: ['figure', 'before', 'after', 'after / before', 'verdict'],
      data: m.comparison.map((c) => {
        const fig = figs.find((f) => f.label === c.figure)!;
        return [c.figure, fmt(c.before, fig.unit), fmt(c.after, fig.unit), c.ratio === null ? 'n/a' : c.ratio.toFixed(2), c.verdict];
      }),
      note: 'Both checkouts ran on the same upstream states (regenerated from the same seed), one right after the other in each run. Lower is better for times, memory and disk; higher for requests/s and MB/s. "at least as good" is a plain comparison of medians, with no allowance for noise.',
    });
  }
  return out;
}

export function renderMulti(m: MultiResults, figs: Figure[], compareDir: string | null, md: boolean): string {
  const T = md ? mdTable : table;
  const h = (s: string) => (md ? `## ${s}` : `== ${s}`);
  const tgt = (ts: Target[]) => T(['target', 'measured', 'target', 'verdict', 'detail'], ts.map((t) => [t.figure, t.measured, t.target, t.verdict, t.detail ?? '']));
  const main = m.median.main;
  const parts: string[] = [];
  parts.push(md ? `# aptfreeze bench — ${m.options['packages']} packages, median of ${m.runs.main.length} run(s)` : `aptfreeze bench: median of ${m.runs.main.length} run(s)`);
  parts.push('', `Runs ${m.startedAt} → ${m.finishedAt} (${ms(m.totalMs)}).${compareDir ? ` Compared with ${compareDir}.` : ''}${m.options['cliPackages'] ? ` Command-line figures also at ${m.options['cliPackages']} packages.` : ''}`);
  if (main) {
    parts.push('', h(`${m.options['packages']} packages: medians`), '', md ? renderMarkdown(main, []).split('\n## Steps')[0]!.split('\n').slice(4).join('\n') : renderText(main).split('\nnotes:')[0]!);
  }
  parts.push('', h('Targets of issue 16 (medians)'), '', tgt(m.issue16));
  for (const s of sections(m, figs, compareDir)) {
    parts.push('', h(s.title), '');
    if (s.note) parts.push(s.note, '');
    parts.push(T(s.header, s.data));
  }
  if (m.median.cli) {
    parts.push('', h(`${m.options['cliPackages']} packages, command-line mode: medians`), '', md ? renderMarkdown(m.median.cli, []).split('\n## Targets')[0]!.split('\n').slice(4).join('\n') : renderText(m.median.cli).split('\n\nThe service is a daemon')[0]!);
  }
  if (m.errors.length) parts.push('', h('Errors'), '', ...m.errors.map((e) => `- ${e}`));
  if (main?.notes.length) parts.push('', h('Notes'), '', ...main.notes.map((n) => `- ${n}`));
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Driving the children

function runChild(args: string[], logFile: string): Promise<number> {
  return new Promise((resolve) => {
    const fd = openSync(logFile, 'w');
    const child = spawn(process.execPath, ['--import', 'tsx', benchScript, ...args], { stdio: ['ignore', fd, 'inherit'], env: process.env });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
    child.on('exit', (code) => {
      closeSync(fd);
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, forward);
      resolve(code ?? 1);
    });
  });
}

export async function driveRuns(opts: BenchOptions, argv: string[], say: (m: string) => void): Promise<number> {
  const t0 = performance.now();
  const runId = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  const dir = path.join(opts.out, `runs-${runId}`);
  mkdirSync(dir, { recursive: true });
  const base = childArgs(argv);
  const m: MultiResults = {
    version: 3,
    startedAt: new Date().toISOString(),
    options: { ...opts },
    runs: { main: [], compare: [], cli: [], cliCompare: [] },
    median: {},
    targets: [],
    issue16: [],
    comparison: [],
    errors: [],
  };
  const plan: Array<[Kind, string[]]> = [['main', []]];
  if (opts.compare) plan.push(['compare', ['--service-root', opts.compare, '--no-peers']]);
  if (opts.cliPackages > 0) {
    const cli = ['--packages', String(opts.cliPackages), '--cli-mode', '--no-serve'];
    plan.push(['cli', cli]);
    if (opts.compare) plan.push(['cliCompare', [...cli, '--service-root', opts.compare, '--no-peers']]);
  }
  for (let i = 1; i <= opts.runs; i++) {
    for (const [kind, extra] of plan) {
      const name = `run${i}-${kind}`;
      const json = path.join(dir, `${name}.json`);
      say(`==== run ${i}/${opts.runs}: ${kind} (${name}) ====`);
      const code = await runChild([...base, ...extra, '--out', dir, '--child-json', json], path.join(dir, `${name}.txt`));
      let r: BenchResults | null = null;
      if (existsSync(json)) r = JSON.parse(readFileSync(json, 'utf8')) as BenchResults;
      else m.errors.push(`${name}: the child bench left no results (exit ${code}); see ${path.join(dir, `${name}.txt`)}`);
      if (r?.errors.length) m.errors.push(...r.errors.map((e) => `${name}: ${e.split('\n')[0]}`));
      m.runs[kind].push(r);
    }
  }
  for (const kind of Object.keys(m.runs) as Kind[]) {
    const ok = m.runs[kind].filter((r): r is BenchResults => r !== null);
    if (ok.length) {
      const med = medianResults(ok);
      med.targets = computeTargets(med);
      m.median[kind] = med;
    }
  }
  m.targets = m.median.main?.targets ?? [];
  m.issue16 = issue16Targets(m.median.main, m.median.cli, opts.cliPackages, opts.packages, opts.pdiffs);
  const figs = figures(opts.cliPackages, opts.packages);
  if (opts.compare) {
    for (const fig of figs.filter((f) => f.own)) {
      const [after, before] = fig.kind === 'main' ? [m.median.main, m.median.compare] : [m.median.cli, m.median.cliCompare];
      const a = median(m.runs[fig.kind === 'main' ? 'main' : 'cli'].flatMap((r) => (r ? [fig.get(r)] : [])).filter((x): x is number => x !== null));
      const b = median(m.runs[fig.kind === 'main' ? 'compare' : 'cliCompare'].flatMap((r) => (r ? [fig.get(r)] : [])).filter((x): x is number => x !== null));
      m.comparison.push(compareRow(fig, before ? b : null, after ? a : null));
    }
  }
  m.finishedAt = new Date().toISOString();
  m.totalMs = performance.now() - t0;
  const out = path.join(opts.out, `bench-${runId}-${opts.packages}-x${opts.runs}`);
  writeFileSync(`${out}.json`, `${JSON.stringify(m, null, 2)}\n`);
  const md = renderMulti(m, figs, opts.compare, true);
  writeFileSync(`${out}.md`, `${md}\n`);
  writeFileSync(path.join(opts.out, 'latest.json'), `${JSON.stringify(m, null, 2)}\n`);
  writeFileSync(path.join(opts.out, 'latest.md'), `${md}\n`);
  process.stdout.write(`\n${renderMulti(m, figs, opts.compare, false)}\n`);
  process.stdout.write(`\nresults: ${out}.json, ${out}.md (each run's own results and logs in ${dir})\n`);
  return m.errors.length ? 1 : 0;
}
