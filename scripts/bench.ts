// `npm run bench`: aptfreeze at Debian scale, side by side with aptly, reprepro and nginx
// (issue 5). One run:
//   1. generates a signed upstream (60,000 packages by default) and serves it from nginx on 127.0.0.1;
//   2. aptly and reprepro: their first run and a run with nothing changed;
//   3. the service (the real bin/aptfreeze.js, own config and data dir) as the daemon it is:
//      `aptfreeze serve --workers 1` with a token from `aptfreeze tokens create`; on the first
//      state: first snapshot (API), nothing changed (CLI `aptfreeze snapshot`), nothing changed
//      (API); then 1% churn upstream and the churn snapshot (API); the daemon stops;
//   4. aptly and reprepro on the same 1% churn; then a second 1% churn, taken through the CLI;
//   5. the service: freeze and thaw of a serial (CLI), `serve` under wrk (small file, large index)
//      against nginx on the same tree, freeze/thaw through the API, then gc;
//   6. one table with the ratios and the targets; JSON and Markdown under bench-results/.
// Everything listens on 127.0.0.1, every command has a timeout, and every process started is
// stopped at the end, on failure, on a signal, and (through a watchdog) if the bench is killed.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseOptions, usage, type BenchOptions } from './bench/options.ts';
import { createKey } from './bench/keys.ts';
import { generateUpstream, mutateUpstream, poolFileNear, type UpstreamState } from './bench/generate.ts';
import { startNginx, type Nginx } from './bench/nginx.ts';
import { freePort } from './bench/net.ts';
import { cleanupAll, resetPeakRss, run, startWatchdog, versionOf, type Daemon } from './bench/proc.ts';
import { ServiceUnderTest, repoRoot, type StepResult } from './bench/service.ts';
import { Aptly, Reprepro, type PeerStep } from './bench/peers.ts';
import { wrk } from './bench/wrk.ts';
import { computeTargets, renderMarkdown, renderText, ms, mb, type BenchResults } from './bench/report.ts';
import { formatProfile, type ProfileSummary } from './bench/profile.ts';
import { driveRuns } from './bench/multi.ts';

const t0 = performance.now();
const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s]`;
const say = (msg: string) => process.stderr.write(`${stamp()} ${msg}\n`);

const TOOLS: Array<{ cmd: string; pkg: string; required: boolean }> = [
  { cmd: 'nginx', pkg: 'nginx', required: true },
  { cmd: 'xz', pkg: 'xz-utils', required: true },
  { cmd: 'gpg', pkg: 'gnupg', required: false },
  { cmd: 'wrk', pkg: 'wrk', required: false },
  { cmd: 'aptly', pkg: 'aptly', required: false },
  { cmd: 'reprepro', pkg: 'reprepro', required: false },
];

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Installs missing tools from Debian's packages (apt-get update once, then install). */
async function ensureTools(opts: BenchOptions, notes: string[]): Promise<void> {
  const missing = TOOLS.filter((t) => !has(t.cmd));
  if (!missing.length) return;
  const pkgs = [...new Set(missing.map((t) => t.pkg))];
  if (opts.install && process.getuid?.() === 0 && has('apt-get')) {
    say(`installing ${pkgs.join(' ')} (apt-get update, apt-get install -y)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const u = await run('apt-get', ['update'], { env, timeoutMs: 15 * 60_000 });
    if (u.code !== 0) notes.push(`apt-get update failed: ${u.stderr.trim().split('\n').pop()}`);
    const i = await run('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env, timeoutMs: 15 * 60_000 });
    if (i.code !== 0) notes.push(`apt-get install ${pkgs.join(' ')} failed: ${i.stderr.trim().split('\n').pop()}`);
  }
  for (const t of TOOLS) {
    if (has(t.cmd)) continue;
    if (t.required) throw new Error(`${t.cmd} is needed (Debian package ${t.pkg}); install it or run the bench as root with apt-get available`);
    notes.push(`${t.cmd} is not installed (Debian package ${t.pkg}): its figures are n/a`);
  }
}

function machineInfo(work: string, serviceRoot: string): Record<string, unknown> {
  const cpus = os.cpus();
  const git = spawnSync('git', ['-C', serviceRoot, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  const df = spawnSync('df', ['-T', work], { encoding: 'utf8' });
  const fsLine = df.stdout?.trim().split('\n')[1]?.split(/\s+/) ?? [];
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? '?',
    memGB: Math.round(os.totalmem() / 1e9),
    os: `${os.type()} ${os.release()}`,
    node: process.versions.node,
    commit: git.stdout?.trim() || (existsSync(path.join(serviceRoot, '.bench-source')) ? readFileSync(path.join(serviceRoot, '.bench-source'), 'utf8').trim() : '?'),
    workFs: fsLine.length ? `${fsLine[1]} (${fsLine[0]})` : '?',
    loadStart: os.loadavg().map((l) => l.toFixed(2)).join(' '),
    aptly: versionOf('aptly', ['version']),
    reprepro: versionOf('reprepro', ['--version']),
    nginx: versionOf('nginx', ['-v']),
    wrk: versionOf('wrk', ['-v']),
    xz: versionOf('xz', ['--version']),
  };
}

/**
 * Removes big trees with several `rm -rf` at once (one per subdirectory): on a disk where each
 * unlink waits on the device, parallel removal is several times faster than one walk.
 */
async function removeTrees(dirs: string[]): Promise<void> {
  const targets: string[] = [];
  for (const d of new Set(dirs)) {
    if (!existsSync(d)) continue;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (!e.isDirectory()) continue;
      // One level further for the tools' own directories (store, pool, public, db…).
      for (const e2 of readdirSync(p, { withFileTypes: true })) targets.push(path.join(p, e2.name));
    }
  }
  let next = 0;
  const worker = async () => {
    while (next < targets.length) await run('rm', ['-rf', targets[next++]!], { timeoutMs: 30 * 60_000 });
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  for (const d of new Set(dirs)) rmSync(d, { recursive: true, force: true });
}

function lifetimeMs(text: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (!m) throw new Error(`--lifetime: not a duration: ${text}`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2), repoRoot);
  if (opts.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  // --runs, --compare and --cli-packages: this process drives one child bench per measurement
  // (each with its own work directory and upstream) and reports medians.
  if (!opts.childJson && (opts.runs > 1 || opts.compare || opts.cliPackages > 0)) return driveRuns(opts, process.argv.slice(2), say);
  mkdirSync(opts.workdir, { recursive: true });
  const work = mkdtempSync(path.join(opts.workdir, 'aptfreeze-bench-'));
  chmodSync(work, 0o755);
  const upParent = opts.upstreamDir ?? work;
  mkdirSync(upParent, { recursive: true });
  const upBase = upParent === work ? path.join(work, 'upstream') : mkdtempSync(path.join(upParent, 'aptfreeze-bench-up-'));
  mkdirSync(upBase, { recursive: true });
  chmodSync(upBase, 0o755);
  const logDir = path.join(work, 'logs');
  mkdirSync(logDir, { recursive: true });
  const runId = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  mkdirSync(opts.out, { recursive: true });
  const profileDir = opts.profile ? path.join(opts.out, `profiles-${runId}`) : undefined;

  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    cleanupAll();
    if (!opts.keep) {
      for (const d of new Set([work, upBase])) rmSync(d, { recursive: true, force: true });
    }
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      say(`${sig}: stopping`);
      cleanup();
      process.exit(130);
    });
  }
  startWatchdog(work);

  const results: BenchResults = {
    version: 2,
    startedAt: new Date().toISOString(),
    options: { ...opts },
    machine: {},
    generation: {},
    service: { api: {}, cli: {} },
    aptly: {},
    reprepro: {},
    nginx: {},
    targets: [],
    notes: [],
    errors: [],
  };
  const notes = results.notes;
  const profiles: ProfileSummary[] = [];
  const keepProfile = (s: StepResult | undefined) => s?.profile && profiles.push(s.profile);
  let nginx: Nginx | null = null;

  try {
    await ensureTools(opts, notes);
    results.machine = machineInfo(work, opts.serviceRoot);
    if (opts.serviceRoot !== repoRoot) results.machine['serviceRoot'] = opts.serviceRoot;
    say(`work directory ${work}; upstream in ${upBase}; ${opts.packages} packages`);

    // ---- upstream
    const keys = await createKey(path.join(work, 'keys'), 'Bench Upstream Archive');
    const peerKey = await createKey(path.join(work, 'keys'), 'Bench Peer Signing');
    const upRoot = path.join(upBase, 'debian');
    say('generating the upstream…');
    const gen = await generateUpstream(upRoot, keys, { packages: opts.packages, seed: opts.seed, xzPreset: opts.xzPreset, pdiffs: opts.pdiffs });
    const state: UpstreamState = gen.state;
    results.generation.first = gen.stats;
    say(`generated ${gen.stats.packages} packages (${gen.stats.sources} sources; Packages ${mb(gen.stats.packagesBytes)}, pool ${mb(gen.stats.poolBytesWritten)}) in ${ms(gen.stats.ms)}`);

    const ports = new Set<number>();
    while (ports.size < 3) ports.add(await freePort());
    const [upPort, pubPort, svcPort] = [...ports] as [number, number, number];
    const svc = new ServiceUnderTest({
      dir: path.join(work, 'aptfreeze'),
      upstreamUrl: `http://127.0.0.1:${upPort}/debian`,
      keyring: keys.keyringPath,
      suite: state.suite,
      component: state.component,
      port: svcPort,
      lifetime: opts.lifetime,
      keep: 1,
      profileDir,
      logDir,
      serviceRoot: opts.serviceRoot,
    });
    mkdirSync(svc.publicDir, { recursive: true });
    nginx = await startNginx(path.join(work, 'nginx'), [
      { port: upPort, root: upBase },
      { port: pubPort, root: svc.publicDir },
    ]);
    const upstreamUrl = `http://127.0.0.1:${upPort}/debian`;
    say(`nginx: upstream ${upstreamUrl}, the service's public tree on ${nginx.urls[1]}`);

    const peerSetup = (name: string) => ({ dir: path.join(work, name), upstreamUrl, suite: state.suite, component: state.component, upstreamKey: keys, signingKey: peerKey, logDir });
    const aptly = opts.peers && has('aptly') && has('gpg') ? new Aptly(peerSetup('aptly')) : null;
    const reprepro = opts.peers && has('reprepro') && has('gpg') ? new Reprepro(peerSetup('reprepro')) : null;
    if (!aptly) results.aptly.skipped = opts.peers ? 'aptly or gpg missing' : '--no-peers';
    if (!reprepro) results.reprepro.skipped = opts.peers ? 'reprepro or gpg missing' : '--no-peers';
    const peerRun = async (name: 'aptly' | 'reprepro', phase: 'first' | 'nochange' | 'churn', fn: () => Promise<PeerStep>) => {
      say(`${name}: ${phase}…`);
      try {
        const r = await fn();
        results[name][phase] = r;
        say(`${name}: ${phase} ${r.ok ? ms(r.wallMs) : `FAILED: ${r.error}`} (${r.parts.map((p) => `${p.name} ${ms(p.wallMs)}`).join(', ')}; peak RSS ${mb(r.peakRssBytes)}, disk ${mb(r.diskAfterBytes)})`);
        if (!r.ok) results.errors.push(`${name} ${phase}: ${r.error}`);
      } catch (e) {
        results.errors.push(`${name} ${phase}: ${(e as Error).message}`);
        say(`${name}: ${phase} failed: ${(e as Error).message}`);
      }
    };
    const logStep = (how: string, label: string, r: StepResult) => {
      if (r.ok) {
        const rss = r.via === 'api' ? `peak RSS ${mb(r.peakRssBytes)} (${r.peakRssMethod}; RSS at the request ${mb(r.rssBeforeBytes)})` : `peak RSS ${mb(r.peakRssBytes)}`;
        say(`aptfreeze: ${how} ${label}: serial ${r.serial} in ${ms(r.wallMs)} (run ${ms(r.internalMs)}; ${Object.entries(r.steps ?? {}).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}); ${rss}, disk ${mb(r.diskAfterBytes)}`);
      } else {
        say(`aptfreeze: ${how} ${label} FAILED: ${r.error}`);
        results.errors.push(`aptfreeze ${how} ${label}: ${r.error}`);
      }
      return r;
    };
    const cliStep = async (label: string, key: 'first' | 'nochange' | 'churn') => {
      say(`aptfreeze: snapshot through the CLI (${label})…`);
      const r = await svc.snapshot(`${key}-cli`, opts.profile);
      results.service.cli[key] = r;
      keepProfile(r);
      return logStep('CLI', label, r);
    };
    const apiStep = async (d: Daemon, label: string, key: 'first' | 'nochange' | 'churn') => {
      say(`aptfreeze: snapshot through the daemon's API (${label})…`);
      const r = await svc.snapshotApi(d);
      results.service.api[key] = r;
      return logStep('API', label, r);
    };

    // ---- first state: the peers
    if (aptly) {
      try {
        await aptly.init();
        await peerRun('aptly', 'first', () => aptly.first());
        await peerRun('aptly', 'nochange', () => aptly.update('nochange'));
      } catch (e) {
        results.errors.push(`aptly setup: ${(e as Error).message}`);
      }
    }
    if (reprepro) {
      try {
        await reprepro.init();
        await peerRun('reprepro', 'first', () => reprepro.cycle('first'));
        await peerRun('reprepro', 'nochange', () => reprepro.cycle('nochange'));
      } catch (e) {
        results.errors.push(`reprepro setup: ${(e as Error).message}`);
      }
    }

    // ---- first state, then 1% churn: the service as a daemon (and once through the CLI in between)
    let daemon: Daemon | null = null;
    if (opts.cliMode) {
      say('command-line mode: every snapshot as a whole `aptfreeze snapshot` process');
    } else try {
      await svc.createToken();
      daemon = await svc.snapshotDaemon(opts.profile);
      const reset = resetPeakRss(daemon.pid).has(daemon.pid);
      results.service.daemon = { pid: daemon.pid, command: 'aptfreeze serve --workers 1', peakRssReset: reset };
      say(`aptfreeze: serve --workers 1 (pid ${daemon.pid}) for the snapshot steps; VmHWM reset through clear_refs ${reset ? 'works' : 'does not work here: peak RSS is polled'}`);
    } catch (e) {
      results.errors.push(`aptfreeze serve for the snapshot steps: ${(e as Error).message}${daemon ? `\n${daemon.output().slice(-2000)}` : ''}`);
      say(`aptfreeze: serve failed (${(e as Error).message}): the first snapshot goes through the CLI`);
      await daemon?.stop();
      daemon = null;
    }
    let nochangeAt = Date.now();
    try {
      if (daemon) await apiStep(daemon, 'first', 'first');
      else await cliStep('first', 'first');
      await cliStep('nothing changed', 'nochange');
      if (daemon) await apiStep(daemon, 'nothing changed', 'nochange');
      nochangeAt = Date.now();

      say('upstream: 1% churn…');
      const mut = await mutateUpstream(state, keys);
      results.generation.mutation = mut.stats;
      say(`upstream: ${mut.stats.changed} changed, ${mut.stats.added} added, ${mut.stats.removed} removed (${mut.stats.newPoolFiles} new pool files, ${mb(mut.stats.newPoolBytes)}) in ${ms(mut.stats.ms)}`);
      if (daemon) await apiStep(daemon, '1% churn', 'churn');
      else await cliStep('1% churn', 'churn');
    } finally {
      await daemon?.stop();
      if (daemon && opts.profile) {
        const p = await svc.serveProfile('serve-snapshots');
        if (p) profiles.push(p);
      }
    }

    // ---- the peers on the same 1% churn
    if (aptly && results.aptly.first?.ok) await peerRun('aptly', 'churn', () => aptly.update('churn'));
    if (reprepro && results.reprepro.first?.ok) await peerRun('reprepro', 'churn', () => reprepro.cycle('churn'));

    // ---- a second 1% churn for the CLI (on the first one it would find nothing changed)
    if (results.service.api.churn) {
      say('upstream: a second 1% churn…');
      const mut2 = await mutateUpstream(state, keys);
      results.generation.mutation2 = mut2.stats;
      say(`upstream: ${mut2.stats.changed} changed, ${mut2.stats.added} added, ${mut2.stats.removed} removed (${mut2.stats.newPoolFiles} new pool files, ${mb(mut2.stats.newPoolBytes)}) in ${ms(mut2.stats.ms)}`);
      await cliStep('1% churn (the second)', 'churn');
    }

    // ---- release management through the CLI
    const s = results.service;
    s.cliBaseline = await svc.verb('serials', ['serials', 'debian'], opts.profile);
    keepProfile(s.cliBaseline);
    say(`aptfreeze: CLI start (serials) ${ms(s.cliBaseline.wallMs)}`);
    const target = s.api.first?.serial ?? s.cli.first?.serial;
    if (target && !opts.cliMode) {
      const until = new Date(Date.now() + 30 * 86_400_000).toISOString();
      s.freeze = await svc.verb('freeze', ['freeze', 'debian', target, '--until', until, '--reason', 'aptfreeze bench'], opts.profile);
      keepProfile(s.freeze);
      say(`aptfreeze: freeze ${target}: ${s.freeze.ok ? ms(s.freeze.wallMs) : `n/a (${s.freeze.error})`}`);
      s.thaw = await svc.verb('thaw', ['thaw', 'debian', target], opts.profile);
      keepProfile(s.thaw);
      say(`aptfreeze: thaw ${target}: ${s.thaw.ok ? ms(s.thaw.wallMs) : `n/a (${s.thaw.error})`}`);
      if (!s.freeze.ok) notes.push(`freeze (CLI) n/a: ${s.freeze.error}`);
      if (!s.thaw.ok) notes.push(`thaw (CLI) n/a: ${s.thaw.error}`);
    }

    // ---- serving
    const latest = s.cli.churn?.serial ?? s.api.churn?.serial ?? s.api.nochange?.serial ?? s.cli.nochange?.serial ?? s.api.first?.serial ?? s.cli.first?.serial;
    if (opts.serve && !opts.cliMode && latest && has('wrk')) {
      const small = poolFileNear(state, 2048);
      const large = state.indexFiles.filter((f) => f.written).sort((a, b) => b.size - a.size)[0]!;
      const smallPath = `/debian/${latest}/${small.filename}`;
      const largePath = `/debian/${latest}/dists/${state.suite}/${large.path}`;
      results.serving = { smallPath, smallBytes: small.size, largePath, largeBytes: large.size, seconds: opts.seconds, connections: opts.connections };
      say('aptfreeze: serve…');
      let serve: Daemon | null = null;
      try {
        serve = await svc.serve(opts.profile);
        const until = new Date(Date.now() + 30 * 86_400_000).toISOString();
        s.freezeApi = await svc.api(`/api/archives/debian/serials/${latest}/freeze`, { until, reason: 'aptfreeze bench' });
        s.thawApi = s.freezeApi.ok ? await svc.api(`/api/archives/debian/serials/${latest}/thaw`, {}) : { ok: false, wallMs: null, peakRssBytes: null, diskAfterBytes: null, error: 'freeze through the API failed' };
        say(`aptfreeze: API freeze ${s.freezeApi.ok ? ms(s.freezeApi.wallMs) : `n/a (${s.freezeApi.error})`}, thaw ${s.thawApi.ok ? ms(s.thawApi.wallMs) : `n/a (${s.thawApi.error})`}`);
        const w = { seconds: opts.seconds, connections: opts.connections, warmupSeconds: 1 };
        const svcUrl = svc.url;
        const ngxUrl = nginx.urls[1]!;
        s.serveSmall = await wrk(`${svcUrl}${smallPath}`, { ...w, expectBytes: small.size, serverPid: serve.pid });
        results.nginx.small = await wrk(`${ngxUrl}${smallPath}`, { ...w, expectBytes: small.size, serverPid: nginx.daemon.pid });
        say(`serve small file (${small.size} B): aptfreeze ${s.serveSmall.ok ? `${Math.round(s.serveSmall.requestsPerSec)} req/s` : s.serveSmall.error}, nginx ${results.nginx.small.ok ? `${Math.round(results.nginx.small.requestsPerSec)} req/s` : results.nginx.small.error}`);
        s.serveLarge = await wrk(`${svcUrl}${largePath}`, { ...w, expectBytes: large.size, serverPid: serve.pid });
        results.nginx.large = await wrk(`${ngxUrl}${largePath}`, { ...w, expectBytes: large.size, serverPid: nginx.daemon.pid });
        say(`serve large index (${mb(large.size)}): aptfreeze ${s.serveLarge.ok ? `${s.serveLarge.mbPerSec.toFixed(0)} MB/s` : s.serveLarge.error}, nginx ${results.nginx.large.ok ? `${results.nginx.large.mbPerSec.toFixed(0)} MB/s` : results.nginx.large.error}`);
        for (const [n, v] of [
          ['aptfreeze small', s.serveSmall],
          ['nginx small', results.nginx.small],
          ['aptfreeze large', s.serveLarge],
          ['nginx large', results.nginx.large],
        ] as const) {
          if (!v.ok) results.errors.push(`serve ${n}: ${v.error}`);
        }
      } catch (e) {
        results.errors.push(`serve: ${(e as Error).message}${serve ? `\n${serve.output().slice(-2000)}` : ''}`);
        say(`aptfreeze: serve failed: ${(e as Error).message}`);
      } finally {
        await serve?.stop();
        if (opts.profile) {
          const p = await svc.serveProfile('serve');
          if (p) profiles.push(p);
        }
      }
    } else if (!opts.serve) {
      results.nginx.skipped = '--no-serve';
    } else if (!has('wrk')) {
      results.nginx.skipped = 'wrk missing';
    }

    // ---- gc, once the older serials have expired (lifetime), so that it has work
    if (!opts.cliMode) {
      let waitMs = Math.max(0, nochangeAt + lifetimeMs(opts.lifetime) + 2000 - Date.now());
      if (waitMs > 90_000) {
        notes.push(`gc ran before the older serials expired (lifetime ${opts.lifetime}): it had nothing to collect`);
        waitMs = 0;
      }
      if (waitMs > 0) say(`waiting ${ms(waitMs)} for the older serials to expire (lifetime ${opts.lifetime})…`);
      await new Promise((r) => setTimeout(r, waitMs));
      s.gcWaitedMs = waitMs;
      s.gc = await svc.verb('gc', ['gc'], opts.profile);
      keepProfile(s.gc);
      say(`aptfreeze: gc ${s.gc.ok ? `${ms(s.gc.wallMs)}, disk after ${mb(s.gc.diskAfterBytes)}: ${(s.gc.output ?? '').split('\n').join('; ')}` : `n/a (${s.gc.error})`}`);
      if (!s.gc.ok) notes.push(`gc n/a: ${s.gc.error}`);
    }
  } catch (e) {
    results.errors.push(`bench: ${(e as Error).stack ?? String(e)}`);
    say(`bench failed: ${(e as Error).message}`);
  } finally {
    await nginx?.stop().catch(() => {});
  }

  // ---- report
  results.machine['loadEnd'] = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  results.finishedAt = new Date().toISOString();
  results.totalMs = performance.now() - t0;
  const sd = results.service.daemon;
  const m2 = results.generation.mutation2;
  results.notes.push(
    'The service is a daemon: its snapshot figures, and the snapshot targets, are the wall time of `POST /api/archives/debian/snapshots?wait=1` to a running `aptfreeze serve --workers 1` (bearer token from `aptfreeze tokens create --role release-manager`), from sending the request to reading the answer. With wait=1 the route answers 201 only once the serial is published (stage, commit, record, latest link): the request covers the whole run. The daemon is started once, after the peers\' first-state runs, and stopped after the churn step; its first snapshot is its first work (cold, as a CLI run is), the later ones run warm, as in service.',
    'The same snapshots as CLI commands (`aptfreeze snapshot debian --json`) are shown next to the daemon\'s and not judged: their wall time is the whole command (process start to exit; node and tsx start included, see "CLI start").',
    `Order of the service's steps: first snapshot (API); nothing changed (CLI), then nothing changed (API), both on the first upstream state, each one run after a serial of that same state; then 1% churn upstream and its snapshot (API), the churn the peers then run; the daemon stops; then a second 1% churn${m2 ? ` (${m2.changed} changed, ${m2.added} added, ${m2.removed} removed, ${mb(m2.newPoolBytes)} of new pool files, made by the same generator)` : ''} and its snapshot through the CLI, since on the first churn the CLI would find nothing changed. The CLI churn's ratios to the peers compare equal-sized, not identical, churns. The first snapshot is taken once, through the API: a CLI first would need a second, empty data directory (at 60,000 packages another ~35 s and ~500 MB); it would cost about the API figure plus one CLI start.`,
    'Why `--workers 1`: with `serve --workers N` (N > 1; the default is the CPU count, at most 4) the primary process runs only the schedules and an API snapshot runs in whichever HTTP worker takes the connection; with one process every step runs in the same, measured, process (as a scheduled snapshot runs in the primary). The serving figures come from a separate `aptfreeze serve` with its default workers, started later.',
    `Peak RSS: for CLI commands the largest single process (/usr/bin/time), for the service its node process. For the daemon's steps the largest single process of the daemon (and any child, such as xz) over the request: each process's VmHWM is reset to its current RSS by writing 5 to /proc/<pid>/clear_refs just before the request${sd ? (sd.peakRssReset ? ' (the reset works on this machine)' : ' (the reset did not take on this machine: the figures are VmRSS polled every 50 ms)') : ''}, then read, with VmRSS polled every 50 ms, until the answer. It includes what the daemon already held when the request came ("daemon RSS when the request was sent").`,
    'stats.ms, the run\'s own time, is taken when its "record" step starts: it leaves out recording (provenance and the database) and the latest link, which the API request and the CLI wall include (see Steps). For the daemon steps, "(start)" in Steps is the request to the run\'s first step and "(exit)" its publication to the answer.',
    'Disk: from the nothing-changed step on, the service\'s data directory holds two nothing-changed serials (the CLI\'s and the API\'s) where each peer ran once; "disk added" for a serial is its own step\'s before and after.',
    'Disk: du -s -B1 of each tool\'s directory (hard links counted once).',
    `Serving: wrk, 2 threads, ${opts.connections} connections, ${opts.seconds} s after 1 s of warm-up, on the same machine as the servers; nginx with worker_processes auto and access_log off.`,
    `The service: its defaults (fetch concurrency 16) with lifetime ${opts.lifetime} and keep 1, so that gc has expired serials to collect; the upstream's generated files live in ${opts.upstreamDir ?? 'the work directory'}, every tool's own files in ${opts.workdir}.`,
    'The peers: aptly with downloadConcurrency 16 (the same as the service) and skipContentsPublishing (no Contents indices, as the service makes none), publish signed with a bench gpg key; reprepro with VerifyRelease (the upstream key) and SignWith (the bench key).',
  );
  if (Number((results.machine['loadStart'] as string | undefined)?.split(' ')[0] ?? 0) > os.cpus().length) {
    results.notes.push(`The machine was busy when the run started (load ${results.machine['loadStart']} on ${os.cpus().length} CPUs): absolute times are noisy; the ratios within one run are what the targets use.`);
  }
  results.targets = computeTargets(results);
  const base = path.join(opts.out, `bench-${runId}-${opts.packages}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${base}.md`, renderMarkdown(results, profiles));
  if (opts.childJson) writeFileSync(opts.childJson, `${JSON.stringify(results, null, 2)}\n`);
  else {
    writeFileSync(path.join(opts.out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(path.join(opts.out, 'latest.md'), renderMarkdown(results, profiles));
  }
  try {
    if (existsSync(logDir)) cpSync(logDir, `${base}-logs`, { recursive: true });
  } catch {
    /* best effort */
  }
  process.stdout.write(`\n${renderText(results)}\n`);
  if (profiles.length) process.stdout.write(`\n${profiles.map(formatProfile).join('\n\n')}\n`);
  process.stdout.write(`\nresults: ${base}.json, ${base}.md (logs in ${base}-logs)\n`);
  say('cleaning up…');
  cleanupAll();
  if (!opts.keep) await removeTrees([work, upBase]);
  cleanup();
  say('done');
  return results.errors.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
