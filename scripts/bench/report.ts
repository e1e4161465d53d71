// The bench's one table: every figure, the peers side by side, the ratios and the targets of
// issue 5, printed as text and written as JSON and Markdown.
import type { StepResult } from './service.ts';
import type { PeerStep } from './peers.ts';
import type { WrkResult } from './wrk.ts';
import type { GenStats, MutationStats } from './generate.ts';
import { formatProfile, type ProfileSummary } from './profile.ts';

/** The three snapshot steps, taken one way (through the daemon's API, or as CLI commands). */
export interface SnapshotSteps {
  first?: StepResult;
  nochange?: StepResult;
  churn?: StepResult;
}

export interface BenchResults {
  /** 2: the snapshot steps are under service.api (the daemon) and service.cli */
  version: 2;
  startedAt: string;
  finishedAt?: string;
  totalMs?: number;
  options: Record<string, unknown>;
  machine: Record<string, unknown>;
  generation: { first?: GenStats; mutation?: MutationStats; mutation2?: MutationStats };
  service: {
    /** through `serve`'s API: first, nothing changed (after the CLI's), 1% churn — the judged figures */
    api: SnapshotSteps;
    /** as CLI commands: nothing changed (on the first state), 1% churn (on a second 1% churn); first only when the daemon could not start */
    cli: SnapshotSteps;
    /** the daemon that took the API steps */
    daemon?: { pid: number; command: string; peakRssReset: boolean };
    cliBaseline?: StepResult;
    freeze?: StepResult;
    thaw?: StepResult;
    freezeApi?: StepResult;
    thawApi?: StepResult;
    gc?: StepResult;
    gcWaitedMs?: number;
    serveSmall?: WrkResult;
    serveLarge?: WrkResult;
  };
  aptly: { first?: PeerStep; nochange?: PeerStep; churn?: PeerStep; skipped?: string };
  reprepro: { first?: PeerStep; nochange?: PeerStep; churn?: PeerStep; skipped?: string };
  nginx: { small?: WrkResult; large?: WrkResult; skipped?: string };
  serving?: { smallPath: string; smallBytes: number; largePath: string; largeBytes: number; seconds: number; connections: number };
  targets: Target[];
  notes: string[];
  errors: string[];
}

export interface Target {
  figure: string;
  measured: string;
  target: string;
  /** 'not judged': an extra figure shown next to the judged one (the CLI's, where the daemon's is judged) */
  verdict: 'met' | 'MISSED' | 'n/a' | 'not judged';
  detail?: string;
}

// ---------------------------------------------------------------------------------------------
// Formatting

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 100_000) return `${(v / 1000).toFixed(2)} s`;
  return `${(v / 1000).toFixed(0)} s`;
}

export function mb(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  const x = v / 1e6;
  return `${x < 10 ? x.toFixed(2) : x < 1000 ? x.toFixed(1) : x.toFixed(0)} MB`;
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

function x(r: number | null): string {
  return r === null ? 'n/a' : `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

function pct(r: number | null): string {
  return r === null ? 'n/a' : `${Math.round(r * 100)}%`;
}

const okMs = (s: { ok: boolean; wallMs: number | null } | undefined): number | null => (s && s.ok ? s.wallMs : null);

/** Issue 16: the first snapshot's pool downloads reach this many small files a second from nginx on 127.0.0.1. */
export const poolFilesPerSecTarget = 10_000;

/**
 * The pool step of a snapshot in files a second: the files it fetched (its stats.poolFetched)
 * over the step's own time (`pool` to the next step, from the daemon's step log). Null when the
 * step fetched nothing or was not timed.
 */
export function poolRate(s: StepResult | undefined): { files: number; ms: number; filesPerSec: number } | null {
  const files = s?.ok ? s.stats?.['poolFetched'] : undefined;
  const stepMs = s?.ok ? s.steps?.['pool'] : undefined;
  if (typeof files !== 'number' || typeof stepMs !== 'number' || files <= 0 || stepMs <= 0) return null;
  return { files, ms: stepMs, filesPerSec: files / (stepMs / 1000) };
}

/** The pool-downloads target (issue 16) on one snapshot step, nginx's small-file rate beside it. */
export function poolTarget(step: StepResult | undefined, how: string, nginxSmall: WrkResult | undefined): Target {
  const pr = poolRate(step);
  return {
    figure: `pool downloads of the first snapshot, files/s from nginx on 127.0.0.1 (${how})`,
    measured: pr ? `${Math.round(pr.filesPerSec)} files/s` : 'n/a',
    target: `≥ ${poolFilesPerSecTarget.toLocaleString('en')} files/s`,
    verdict: pr === null ? 'n/a' : pr.filesPerSec >= poolFilesPerSecTarget ? 'met' : 'MISSED',
    detail: `${pr ? `${pr.files} files in the pool step's ${ms(pr.ms)}` : 'the pool step was not timed'}; nginx serves one small file at ${rps(nginxSmall)} (wrk)`,
  };
}
const note = (s: { ok: boolean; error?: string } | undefined): string => (!s ? 'not run' : s.ok ? '' : `failed: ${s.error ?? '?'}`);

// ---------------------------------------------------------------------------------------------
// Targets

export function computeTargets(r: BenchResults): Target[] {
  const t: Target[] = [];
  const s = r.service;
  const { api, cli } = s;
  const inproc = (v: StepResult | undefined) => (v?.ok ? (v.internalMs ?? null) : null);
  const verdict = (v: number | null, ok: (v: number) => boolean): Target['verdict'] => (v === null ? 'n/a' : ok(v) ? 'met' : 'MISSED');
  const mut2 = r.generation.mutation2;
  const secondChurn = mut2 ? `the CLI's is a second 1% churn (${mut2.changed} changed, ${mut2.added} added, ${mut2.removed} removed), the peers' the first` : "the CLI's is a second 1% churn, the peers' the first";
  // Speed against the peers. The service is a daemon: judged on the API request to a running
  // `serve` (answered once the serial is published); the CLI command's wall time (node and tsx
  // start included) is shown next to it, not judged.
  const speed = (figure: string, peer: PeerStep | undefined, peerName: string, key: keyof SnapshotSteps, min: number, cliNote: string) => {
    const mine = api[key];
    const q = ratio(okMs(peer), okMs(mine));
    t.push({ figure: `${figure} (daemon API request)`, measured: x(q), target: `≥ ${min}×`, verdict: verdict(q, (v) => v >= min), detail: mine ? `aptfreeze ${ms(okMs(mine))} (run: stats.ms ${ms(inproc(mine))}), ${peerName} ${ms(okMs(peer))}` : 'the daemon step did not run' });
    const c = cli[key];
    const qc = ratio(okMs(peer), okMs(c));
    t.push({ figure: `${figure} (CLI wall)`, measured: x(qc), target: `≥ ${min}×`, verdict: 'not judged', detail: c ? `aptfreeze ${ms(okMs(c))} (run: stats.ms ${ms(inproc(c))}), ${peerName} ${ms(okMs(peer))}${cliNote ? `; ${cliNote}` : ''}` : 'not run through the CLI (see notes)' });
  };
  speed('1% churn vs aptly update+snapshot+publish', r.aptly.churn, 'aptly', 'churn', 10, secondChurn);
  speed('1% churn vs reprepro update+gensnapshot', r.reprepro.churn, 'reprepro', 'churn', 3, secondChurn);
  speed('first snapshot vs aptly first mirror+snapshot+publish', r.aptly.first, 'aptly', 'first', 2, '');
  const ncApi = okMs(api.nochange);
  const ncCli = okMs(cli.nochange);
  t.push({ figure: 'snapshot with nothing changed upstream (daemon API request)', measured: ms(ncApi), target: '≤ 0.5 s', verdict: verdict(ncApi, (v) => v <= 500), detail: `run: stats.ms ${ms(inproc(api.nochange))}` });
  t.push({ figure: 'snapshot with nothing changed upstream (CLI wall)', measured: ms(ncCli), target: '≤ 0.5 s', verdict: 'not judged', detail: `run: stats.ms ${ms(inproc(cli.nochange))}; CLI start ≈ ${ms(okMs(s.cliBaseline))}` });
  for (const [name, apiStep, cliStep] of [
    ['freeze', s.freezeApi, s.freeze],
    ['thaw', s.thawApi, s.thaw],
  ] as const) {
    const apiMs = apiStep?.ok ? apiStep.wallMs : null;
    const cliMs = okMs(cliStep);
    const base = okMs(s.cliBaseline);
    const est = cliMs !== null && base !== null ? Math.max(0, cliMs - base) : null;
    const v = apiMs ?? est;
    t.push({
      figure: `${name} of a serial${apiMs !== null ? ' (API request)' : ' (CLI wall − CLI start)'}`,
      measured: ms(v),
      target: '≤ 100 ms',
      verdict: verdict(v, (n) => n <= 100),
      detail: v === null ? `${note(cliStep) || 'CLI n/a'}; API: ${note(apiStep) || 'n/a'}` : `CLI wall ${ms(cliMs)}; API ${apiMs === null ? `n/a (${note(apiStep)})` : ms(apiMs)}`,
    });
  }
  // Peak RSS: the daemon's snapshot steps (its largest process over each request), and freeze,
  // thaw and gc as CLI commands (the only way their RSS is measured).
  const worstOf = (steps: Array<[string, StepResult | undefined]>) =>
    (steps.filter(([, v]) => v?.ok && v.peakRssBytes !== null) as Array<[string, StepResult]>).sort((a, b) => b[1].peakRssBytes! - a[1].peakRssBytes!)[0];
  const daemonSteps: Array<[string, StepResult | undefined]> = [
    [api.first ? 'first, daemon' : 'first, CLI', api.first ?? cli.first],
    ['nothing changed, daemon', api.nochange],
    ['churn, daemon', api.churn],
    ['freeze, CLI', s.freeze],
    ['thaw, CLI', s.thaw],
    ['gc, CLI', s.gc],
  ];
  const worst = worstOf(daemonSteps);
  const worstCli = worstOf([
    ['first', cli.first],
    ['nothing changed', cli.nochange],
    ['churn', cli.churn],
  ]);
  const aptlyRss = Math.max(r.aptly.first?.peakRssBytes ?? 0, r.aptly.churn?.peakRssBytes ?? 0) || null;
  t.push({ figure: 'peak RSS of any step (daemon snapshots; freeze, thaw, gc as CLI commands)', measured: worst ? `${mb(worst[1].peakRssBytes)} (${worst[0]})` : 'n/a', target: '≤ 200 MB', verdict: !worst ? 'n/a' : worst[1].peakRssBytes! <= 200e6 ? 'met' : 'MISSED', detail: `aptly's largest step: ${mb(aptlyRss)}` });
  t.push({ figure: 'peak RSS of a snapshot as a CLI command', measured: worstCli ? `${mb(worstCli[1].peakRssBytes)} (${worstCli[0]})` : 'n/a', target: '≤ 200 MB', verdict: 'not judged', detail: 'the node process of `aptfreeze snapshot` (/usr/bin/time)' });
  const c = api.churn;
  const added = c?.ok && c.diskBeforeBytes != null && c.diskAfterBytes != null ? c.diskAfterBytes - c.diskBeforeBytes : null;
  const m = r.generation.mutation;
  const bound = m ? m.newIndexBytes + m.newPoolBytes + 1e6 : null;
  t.push({
    figure: 'disk added by a 1%-churn serial',
    measured: mb(added),
    target: `≤ changed indices + churned pool + 1 MB = ${mb(bound)}`,
    verdict: added === null || bound === null ? 'n/a' : added <= bound ? 'met' : 'MISSED',
    detail: m ? `changed index files ${mb(m.newIndexBytes)}, churned pool files ${mb(m.newPoolBytes)} (${m.newPoolFiles} files)` : undefined,
  });
  t.push(poolTarget(api.first ?? cli.first, api.first ? 'daemon' : 'CLI', r.nginx.small));
  const small = ratio(s.serveSmall?.ok ? s.serveSmall.requestsPerSec : null, r.nginx.small?.ok ? r.nginx.small.requestsPerSec : null);
  t.push({ figure: 'built-in server, small file, requests/s vs nginx', measured: pct(small), target: '≥ 40%', verdict: small === null ? 'n/a' : small >= 0.4 ? 'met' : 'MISSED', detail: `aptfreeze ${rps(s.serveSmall)}, nginx ${rps(r.nginx.small)}` });
  const large = ratio(s.serveLarge?.ok ? s.serveLarge.mbPerSec : null, r.nginx.large?.ok ? r.nginx.large.mbPerSec : null);
  t.push({ figure: 'built-in server, large index, MB/s vs nginx', measured: pct(large), target: '≥ 70%', verdict: large === null ? 'n/a' : large >= 0.7 ? 'met' : 'MISSED', detail: `aptfreeze ${mbps(s.serveLarge)}, nginx ${mbps(r.nginx.large)}` });
  return t;
}

function rps(w: WrkResult | undefined): string {
  return !w ? 'n/a' : w.ok ? `${Math.round(w.requestsPerSec)} req/s` : `n/a (${w.error})`;
}
function mbps(w: WrkResult | undefined): string {
  return !w ? 'n/a' : w.ok ? `${w.mbPerSec.toFixed(0)} MB/s` : `n/a (${w.error})`;
}

// ---------------------------------------------------------------------------------------------
// The table

type Cell = string;
interface Row {
  figure: string;
  aptfreeze: Cell;
  aptly: Cell;
  reprepro: Cell;
  nginx: Cell;
  ratio: Cell;
}

function peerCell(p: PeerStep | undefined, skipped?: string): string {
  if (!p) return skipped ? 'n/a' : 'not run';
  return p.ok ? ms(p.wallMs) : 'failed';
}

export function rows(r: BenchResults): Row[] {
  const s = r.service;
  const { api, cli } = s;
  const out: Row[] = [];
  const vs = (a: PeerStep | undefined, b: PeerStep | undefined, mine: StepResult | undefined) => {
    const ra = ratio(okMs(a), okMs(mine));
    const rr = ratio(okMs(b), okMs(mine));
    return `aptly ${x(ra)}, reprepro ${x(rr)}`;
  };
  const svc = (v: StepResult | undefined) => (!v ? 'not run' : v.ok ? ms(v.wallMs) : 'failed');
  const run2 = (a: StepResult | undefined, c: StepResult | undefined) => `${a?.ok ? ms(a.internalMs) : 'n/a'} / ${c?.ok ? ms(c.internalMs) : 'n/a'}`;
  const blank = { aptly: '', reprepro: '', nginx: '', ratio: '' };
  // The daemon's figures first (judged), then the CLI's; the peers' cells sit on the daemon's rows.
  out.push({ figure: 'first snapshot (daemon API request)', aptfreeze: svc(api.first), aptly: peerCell(r.aptly.first, r.aptly.skipped), reprepro: peerCell(r.reprepro.first, r.reprepro.skipped), nginx: '', ratio: vs(r.aptly.first, r.reprepro.first, api.first) });
  const firstPool = poolRate(api.first ?? cli.first);
  out.push({ figure: `first snapshot: pool downloads, files/s${api.first ? '' : ' (CLI)'}`, aptfreeze: firstPool ? `${Math.round(firstPool.filesPerSec)} (${firstPool.files} files in ${ms(firstPool.ms)})` : 'n/a', aptly: '', reprepro: '', nginx: r.nginx.small?.ok ? `${Math.round(r.nginx.small.requestsPerSec)} (one small file, wrk)` : '', ratio: '' });
  out.push({ figure: 'first snapshot (in-process stats.ms)', aptfreeze: api.first?.ok ? ms(api.first.internalMs) : cli.first?.ok ? `${ms(cli.first.internalMs)} (CLI)` : 'n/a', ...blank });
  if (cli.first) out.push({ figure: 'first snapshot (CLI wall)', aptfreeze: svc(cli.first), ...blank, ratio: vs(r.aptly.first, r.reprepro.first, cli.first) });
  out.push({ figure: 'nothing changed (daemon API request)', aptfreeze: svc(api.nochange), aptly: peerCell(r.aptly.nochange, r.aptly.skipped), reprepro: peerCell(r.reprepro.nochange, r.reprepro.skipped), nginx: '', ratio: vs(r.aptly.nochange, r.reprepro.nochange, api.nochange) });
  out.push({ figure: 'nothing changed (CLI wall)', aptfreeze: svc(cli.nochange), ...blank, ratio: vs(r.aptly.nochange, r.reprepro.nochange, cli.nochange) });
  out.push({ figure: 'nothing changed (in-process stats.ms: API / CLI)', aptfreeze: run2(api.nochange, cli.nochange), ...blank });
  out.push({ figure: '1% churn (daemon API request)', aptfreeze: svc(api.churn), aptly: peerCell(r.aptly.churn, r.aptly.skipped), reprepro: peerCell(r.reprepro.churn, r.reprepro.skipped), nginx: '', ratio: vs(r.aptly.churn, r.reprepro.churn, api.churn) });
  out.push({ figure: '1% churn (CLI wall; a second 1% churn)', aptfreeze: svc(cli.churn), ...blank, ratio: `${vs(r.aptly.churn, r.reprepro.churn, cli.churn)} (peers: the first churn)` });
  out.push({ figure: '1% churn (in-process stats.ms: API / CLI)', aptfreeze: run2(api.churn, cli.churn), ...blank });
  out.push({ figure: 'CLI start (aptfreeze serials, wall)', aptfreeze: svc(s.cliBaseline), aptly: '', reprepro: '', nginx: '', ratio: '' });
  out.push({ figure: 'freeze (CLI wall)', aptfreeze: s.freeze ? (s.freeze.ok ? ms(s.freeze.wallMs) : 'n/a') : 'not run', aptly: '', reprepro: '', nginx: '', ratio: '' });
  out.push({ figure: 'freeze (API request)', aptfreeze: s.freezeApi ? (s.freezeApi.ok ? ms(s.freezeApi.wallMs) : 'n/a') : 'not run', aptly: '', reprepro: '', nginx: '', ratio: '' });
  out.push({ figure: 'thaw (CLI wall)', aptfreeze: s.thaw ? (s.thaw.ok ? ms(s.thaw.wallMs) : 'n/a') : 'not run', aptly: '', reprepro: '', nginx: '', ratio: '' });
  out.push({ figure: 'thaw (API request)', aptfreeze: s.thawApi ? (s.thawApi.ok ? ms(s.thawApi.wallMs) : 'n/a') : 'not run', aptly: '', reprepro: '', nginx: '', ratio: '' });
  out.push({ figure: 'gc (CLI wall)', aptfreeze: s.gc ? (s.gc.ok ? ms(s.gc.wallMs) : 'n/a') : 'not run', aptly: '', reprepro: '', nginx: '', ratio: '' });
  if (s.gc?.ok && s.gc.output) out.push({ figure: 'gc did', aptfreeze: gcSummary(s.gc.output), aptly: '', reprepro: '', nginx: '', ratio: '' });
  const rss = (v: { ok: boolean; peakRssBytes: number | null } | undefined) => (!v ? 'not run' : v.ok ? mb(v.peakRssBytes) : 'n/a');
  const first = api.first ?? cli.first;
  out.push({ figure: `peak RSS: first${api.first ? ' (daemon process)' : ' (CLI)'}`, aptfreeze: rss(first), aptly: rss(r.aptly.first), reprepro: rss(r.reprepro.first), nginx: '', ratio: '' });
  out.push({ figure: 'peak RSS: nothing changed (daemon process / CLI)', aptfreeze: `${rss(api.nochange)} / ${rss(cli.nochange)}`, aptly: rss(r.aptly.nochange), reprepro: rss(r.reprepro.nochange), nginx: '', ratio: '' });
  out.push({ figure: 'peak RSS: 1% churn (daemon process / CLI)', aptfreeze: `${rss(api.churn)} / ${rss(cli.churn)}`, aptly: rss(r.aptly.churn), reprepro: rss(r.reprepro.churn), nginx: '', ratio: '' });
  const before = (v: StepResult | undefined) => (!v ? 'not run' : mb(v.rssBeforeBytes));
  if (api.first || api.nochange || api.churn) out.push({ figure: 'daemon RSS when the request was sent: first / nothing changed / 1% churn', aptfreeze: `${before(api.first)} / ${before(api.nochange)} / ${before(api.churn)}`, ...blank });
  out.push({ figure: 'peak RSS: freeze / thaw / gc (CLI)', aptfreeze: `${rss(s.freeze)} / ${rss(s.thaw)} / ${rss(s.gc)}`, ...blank });
  out.push({ figure: 'peak RSS: serve under wrk (tree)', aptfreeze: mb(Math.max(s.serveSmall?.serverRssBytes ?? 0, s.serveLarge?.serverRssBytes ?? 0) || null), aptly: '', reprepro: '', nginx: mb(Math.max(r.nginx.small?.serverRssBytes ?? 0, r.nginx.large?.serverRssBytes ?? 0) || null), ratio: '' });
  const disk = (v: { diskAfterBytes: number | null } | undefined) => (v ? mb(v.diskAfterBytes) : 'not run');
  // The service's data directory after its daemon steps; from the nothing-changed step on it also
  // holds the CLI's nothing-changed serial (two such serials, where each peer has run once).
  out.push({ figure: 'disk after first', aptfreeze: disk(first), aptly: disk(r.aptly.first), reprepro: disk(r.reprepro.first), nginx: '', ratio: '' });
  out.push({ figure: 'disk after nothing changed (aptfreeze: 2 serials, CLI + API)', aptfreeze: disk(api.nochange ?? cli.nochange), aptly: disk(r.aptly.nochange), reprepro: disk(r.reprepro.nochange), nginx: '', ratio: '' });
  out.push({ figure: 'disk after 1% churn', aptfreeze: disk(api.churn), aptly: disk(r.aptly.churn), reprepro: disk(r.reprepro.churn), nginx: '', ratio: '' });
  out.push({ figure: 'disk after the second 1% churn (CLI)', aptfreeze: disk(cli.churn), ...blank });
  const added = (a: { diskAfterBytes: number | null } | undefined, b: { diskAfterBytes: number | null } | undefined) => (a?.diskAfterBytes != null && b?.diskAfterBytes != null ? mb(b.diskAfterBytes - a.diskAfterBytes) : 'n/a');
  const own = (v: StepResult | undefined) => (v?.ok && v.diskBeforeBytes != null && v.diskAfterBytes != null ? mb(v.diskAfterBytes - v.diskBeforeBytes) : 'n/a');
  out.push({ figure: 'disk added: nothing-changed serial (API / CLI)', aptfreeze: `${own(api.nochange)} / ${own(cli.nochange)}`, aptly: added(r.aptly.first, r.aptly.nochange), reprepro: added(r.reprepro.first, r.reprepro.nochange), nginx: '', ratio: '' });
  out.push({ figure: 'disk added: 1%-churn serial (API / CLI, second churn)', aptfreeze: `${own(api.churn)} / ${own(cli.churn)}`, aptly: added(r.aptly.nochange, r.aptly.churn), reprepro: added(r.reprepro.nochange, r.reprepro.churn), nginx: '', ratio: '' });
  const parts = (v: StepResult | undefined) => (v?.diskParts ? `store ${mb(v.diskParts.store)}, tree ${mb(v.diskParts.public)}, db+keys ${mb(v.diskParts.other)}` : 'n/a');
  out.push({ figure: 'aptfreeze disk after first', aptfreeze: parts(first), ...blank });
  out.push({ figure: 'aptfreeze disk after nothing changed (CLI + API)', aptfreeze: parts(api.nochange ?? cli.nochange), ...blank });
  out.push({ figure: 'aptfreeze disk after 1% churn', aptfreeze: parts(api.churn), ...blank });
  out.push({ figure: 'aptfreeze disk after the second 1% churn', aptfreeze: parts(cli.churn), ...blank });
  out.push({ figure: 'aptfreeze disk after gc', aptfreeze: parts(s.gc), ...blank });
  out.push({ figure: 'disk after freeze, thaw, gc', aptfreeze: `${disk(s.freeze)}, ${disk(s.thaw)}, ${disk(s.gc)}`, aptly: '', reprepro: '', nginx: '', ratio: '' });
  const sv = r.serving;
  const smallR = ratio(s.serveSmall?.ok ? s.serveSmall.requestsPerSec : null, r.nginx.small?.ok ? r.nginx.small.requestsPerSec : null);
  const largeR = ratio(s.serveLarge?.ok ? s.serveLarge.mbPerSec : null, r.nginx.large?.ok ? r.nginx.large.mbPerSec : null);
  out.push({ figure: `serve small file${sv ? ` (${sv.smallBytes} B)` : ''}, req/s`, aptfreeze: s.serveSmall?.ok ? `${Math.round(s.serveSmall.requestsPerSec)}` : 'n/a', aptly: '', reprepro: '', nginx: r.nginx.small?.ok ? `${Math.round(r.nginx.small.requestsPerSec)}` : 'n/a', ratio: `${pct(smallR)} of nginx` });
  out.push({ figure: `serve large index${sv ? ` (${mb(sv.largeBytes)})` : ''}, MB/s`, aptfreeze: s.serveLarge?.ok ? `${s.serveLarge.mbPerSec.toFixed(0)}` : 'n/a', aptly: '', reprepro: '', nginx: r.nginx.large?.ok ? `${r.nginx.large.mbPerSec.toFixed(0)}` : 'n/a', ratio: `${pct(largeR)} of nginx` });
  return out;
}

/** "2 serials collected; kept 2 serials (…); store: removed 5 files, 0.57 MB freed" from gc's text output. */
function gcSummary(out: string): string {
  const lines = out.split('\n');
  const n = lines.filter((l) => /^collected \S+\/\d+/.test(l)).length;
  const kept = lines.find((l) => l.startsWith('kept')) ?? '';
  const store = (lines.find((l) => l.startsWith('store:')) ?? '').replace(/(\d+) bytes/, (_m, b: string) => mb(Number(b))).replace(/; \d+ kept$/, '');
  return [`${n} serial${n === 1 ? '' : 's'} collected`, kept, store].filter(Boolean).join('; ');
}

function table(header: string[], data: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...data.map((d) => (d[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...data.map(line)].join('\n');
}

function mdTable(header: string[], data: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${header.map(esc).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...data.map((d) => `| ${d.map(esc).join(' | ')} |`)].join('\n');
}

const TARGETS_NOTE = 'The service is a daemon: the snapshot targets are judged on the request to a running `aptfreeze serve` (daemon API request); the CLI command figures are shown next to them, not judged.';

const HEAD = ['figure', 'aptfreeze', 'aptly', 'reprepro', 'nginx', 'ratio (peer / aptfreeze)'];
const THEAD = ['target', 'measured', 'target', 'verdict', 'detail'];

function stepLines(r: BenchResults): string[] {
  const out: string[] = [];
  const { api, cli } = r.service;
  // In the order they ran.
  for (const [name, v] of [
    ['first (CLI)', cli.first],
    ['first (API)', api.first],
    ['nothing changed (CLI)', cli.nochange],
    ['nothing changed (API)', api.nochange],
    ['1% churn (API)', api.churn],
    ['second 1% churn (CLI)', cli.churn],
  ] as const) {
    if (!v?.steps || !Object.keys(v.steps).length) continue;
    const total = Object.entries(v.steps).reduce((a, [k, n]) => (k.startsWith('(') ? a : a + n), 0);
    out.push(`${name}: ${Object.entries(v.steps).map(([k, n]) => `${k} ${ms(n)}`).join(', ')} (steps ${ms(total)}, ${v.via === 'api' ? 'request' : 'wall'} ${ms(v.wallMs)})`);
    if (v.stepRss && Object.keys(v.stepRss).length) out.push(`${name}, peak RSS by step${v.via === 'api' ? ' (largest daemon process, polled)' : ' (process tree, polled)'}: ${Object.entries(v.stepRss).map(([k, n]) => `${k} ${mb(n)}`).join(', ')}`);
    if (v.via === 'api' && v.ok) out.push(`${name}: daemon RSS when the request was sent ${mb(v.rssBeforeBytes)}, peak over the request ${mb(v.peakRssBytes)} (${v.peakRssMethod}${v.snapshotPid !== undefined ? `; the snapshot ran in pid ${v.snapshotPid}, peak ${mb(v.snapshotPidPeakBytes)}` : ''})`);
  }
  for (const [peer, p] of [
    ['aptly', r.aptly],
    ['reprepro', r.reprepro],
  ] as const) {
    for (const [name, v] of [
      ['first', p.first],
      ['nothing changed', p.nochange],
      ['1% churn', p.churn],
    ] as const) {
      if (v) out.push(`${peer} ${name}: ${v.parts.map((x) => `${x.name} ${x.ok ? ms(x.wallMs) : 'failed'} (${mb(x.peakRssBytes)})`).join(', ')}`);
    }
  }
  return out;
}

export function renderText(r: BenchResults): string {
  const data = rows(r).map((x) => [x.figure, x.aptfreeze, x.aptly, x.reprepro, x.nginx, x.ratio]);
  const tgt = r.targets.map((t) => [t.figure, t.measured, t.target, t.verdict, t.detail ?? '']);
  const g = r.generation;
  return [
    `aptfreeze bench: ${r.options['packages']} packages${r.options['quick'] ? ' (--quick)' : ''}, ${r.machine['cpus']}× ${r.machine['cpuModel']}, ${r.machine['memGB']} GB, node ${r.machine['node']}, load ${r.machine['loadStart']} → ${r.machine['loadEnd'] ?? '?'}`,
    g.first ? `upstream: ${g.first.packages} packages in ${g.first.sources} sources, Packages ${mb(g.first.packagesBytes)} (${g.first.avgStanzaBytes} B/stanza; .gz ${mb(g.first.packagesGzBytes)}, .xz ${mb(g.first.packagesXzBytes)}), pool ${mb(g.first.poolBytesWritten)}, generated in ${ms(g.first.ms)}` : '',
    g.mutation ? `1% churn: ${g.mutation.changed} changed, ${g.mutation.added} added, ${g.mutation.removed} removed; ${g.mutation.newPoolFiles} new pool files (${mb(g.mutation.newPoolBytes)}), new index files ${mb(g.mutation.newIndexBytes)}; made in ${ms(g.mutation.ms)}` : '',
    g.mutation2 ? `second 1% churn (CLI): ${g.mutation2.changed} changed, ${g.mutation2.added} added, ${g.mutation2.removed} removed; ${g.mutation2.newPoolFiles} new pool files (${mb(g.mutation2.newPoolBytes)}), new index files ${mb(g.mutation2.newIndexBytes)}; made in ${ms(g.mutation2.ms)}` : '',
    '',
    table(HEAD, data),
    '',
    TARGETS_NOTE,
    table(THEAD, tgt),
    '',
    ...stepLines(r),
    ...(r.notes.length ? ['', 'notes:', ...r.notes.map((n) => `- ${n}`)] : []),
    ...(r.errors.length ? ['', 'errors:', ...r.errors.map((n) => `- ${n}`)] : []),
  ]
    .filter((l, i, a) => !(l === '' && a[i - 1] === ''))
    .join('\n');
}

export function renderMarkdown(r: BenchResults, profiles: ProfileSummary[]): string {
  const data = rows(r).map((x) => [x.figure, x.aptfreeze, x.aptly, x.reprepro, x.nginx, x.ratio]);
  const tgt = r.targets.map((t) => [t.figure, t.measured, t.target, t.verdict, t.detail ?? '']);
  const m = r.machine;
  return [
    `# aptfreeze bench — ${r.options['packages']} packages${r.options['quick'] ? ' (--quick)' : ''}`,
    '',
    `Run ${r.startedAt} (${ms(r.totalMs)}), commit ${m['commit']}. Machine: ${m['cpus']}× ${m['cpuModel']}, ${m['memGB']} GB RAM, ${m['os']}, node ${m['node']}; work directory on ${m['workFs']}; load average ${m['loadStart']} at start, ${m['loadEnd']} at the end.`,
    `Peers: ${m['aptly']}; ${m['reprepro']}; ${m['nginx']}; ${m['wrk']}.`,
    '',
    mdTable(HEAD, data),
    '',
    '## Targets (issue 5)',
    '',
    TARGETS_NOTE,
    '',
    mdTable(THEAD, tgt),
    '',
    '## Steps',
    '',
    ...stepLines(r).map((l) => `- ${l}`),
    '',
    ...(r.notes.length ? ['## Notes', '', ...r.notes.map((n) => `- ${n}`), ''] : []),
    ...(r.errors.length ? ['## Errors', '', ...r.errors.map((n) => `- ${n}`), ''] : []),
    ...(profiles.length ? ['## Profiles', '', '```', ...profiles.map(formatProfile), '```', ''] : []),
    '## Reproduce',
    '',
    '```',
    `npm run bench -- ${r.options['quick'] ? '--quick' : `--packages ${r.options['packages']}`}`,
    '```',
    '',
  ].join('\n');
}
