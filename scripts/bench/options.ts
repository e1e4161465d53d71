// Command line of `npm run bench`. Options may also come from npm's environment:
// `npm run bench --quick` sets npm_config_quick=true, `npm run bench --packages=5000` sets
// npm_config_packages=5000 (npm keeps unknown flags given before `--` as config).
import { existsSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface BenchOptions {
  quick: boolean;
  packages: number;
  /** wrk seconds per measurement */
  seconds: number;
  connections: number;
  seed: number;
  xzPreset: number;
  /** upstream publishes pdiffs from its last N states (0: none, as before) */
  pdiffs: number;
  /** where the measured tools' directories go (a fresh directory is made inside) */
  workdir: string;
  /** where the generated upstream goes (default: /dev/shm when it has room: generation is not measured) */
  upstreamDir: string | null;
  out: string;
  profile: boolean;
  peers: boolean;
  serve: boolean;
  keep: boolean;
  install: boolean;
  /** the service's lifetime (short so that gc has expired serials to collect) */
  lifetime: string;
  /** the checkout of aptfreeze to measure (default this one) */
  serviceRoot: string;
  /** the whole measurement repeated N times, each in a fresh work directory and a regenerated upstream; the report gives medians */
  runs: number;
  /** a second aptfreeze checkout measured after this one on the same upstream states (before / after columns) */
  compare: string | null;
  /** a second, smaller upstream on which the command-line figures are measured as whole processes (0: none) */
  cliPackages: number;
  /** internal (set by the driver of --runs, --compare, --cli-packages): write the run's JSON here */
  childJson: string | null;
  /** internal: command-line mode: every snapshot as a whole `aptfreeze snapshot` process, no daemon, no serving, no freeze/gc */
  cliMode: boolean;
  help: boolean;
}

export const usage = `usage: npm run bench -- [options]
  --quick              2,000 packages and 3 s per serving measurement (under two minutes)
  --packages N         binary packages in the generated upstream (default 60000)
  --pdiffs N           the upstream also publishes pdiffs (Packages.diff/) from its last N states (default 0: none)
  --seconds S          wrk duration per serving measurement (default 10; 3 with --quick)
  --connections N      wrk connections (default 32)
  --seed N             generator seed
  --xz-preset N        xz preset of the upstream's Packages.xz (default 2; Debian uses 9)
  --workdir DIR        parent of the bench's temporary directory (default ${os.tmpdir()})
  --upstream-dir DIR   parent of the generated upstream (default /dev/shm when it has room)
  --out DIR            results folder (default bench-results)
  --profile            run the service's commands under node --cpu-prof; summaries in the report
  --no-peers           skip aptly and reprepro
  --no-serve           skip the serving measurements
  --no-install         never apt-get install missing tools
  --keep               keep the temporary directories
  --lifetime D         the service's serial lifetime (default 1m, 30s with --quick: gc then has expired serials)
  --service-root DIR   measure the aptfreeze checkout in DIR (its bin/aptfreeze.js; default this one)
  --runs N             repeat the whole measurement N times (fresh work directory and upstream each time);
                       the report gives the median of every figure and every run's value (default 1)
  --compare DIR        also measure the aptfreeze checkout in DIR (its bin/aptfreeze.js, node_modules, dist)
                       on the same upstream states, right after this one: before (DIR) / after columns
  --cli-packages N     a second upstream of N packages on which the command-line figures are measured as
                       whole processes, beside aptly and reprepro (default 20000; 0 skips; 0 with --quick)
Also from npm: npm run bench --quick  (npm_config_quick), --packages=N (npm_config_packages).`;

function envFlag(name: string): boolean | undefined {
  const v = process.env[`npm_config_${name}`];
  if (v === undefined || v === '') return undefined;
  return !['false', '0', 'no'].includes(v.toLowerCase());
}

function envNum(name: string): number | undefined {
  const v = process.env[`npm_config_${name}`];
  if (v === undefined || v === '' || v === 'true') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export function parseOptions(argv: string[], repoRoot: string): BenchOptions {
  const o: BenchOptions = {
    quick: envFlag('quick') ?? false,
    packages: 0,
    seconds: 0,
    connections: envNum('connections') ?? 32,
    seed: envNum('seed') ?? 20261127,
    xzPreset: envNum('xz_preset') ?? 2,
    pdiffs: 0,
    workdir: process.env['npm_config_workdir'] || os.tmpdir(),
    upstreamDir: process.env['npm_config_upstream_dir'] || null,
    out: path.join(repoRoot, 'bench-results'),
    profile: envFlag('profile') ?? false,
    peers: !(envFlag('no_peers') ?? false),
    serve: !(envFlag('no_serve') ?? false),
    keep: envFlag('keep') ?? false,
    install: !(envFlag('no_install') ?? false),
    lifetime: '',
    serviceRoot: process.env['npm_config_service_root'] || repoRoot,
    runs: envNum('runs') ?? 1,
    compare: process.env['npm_config_compare'] ? path.resolve(process.env['npm_config_compare']) : null,
    cliPackages: 0,
    childJson: null,
    cliMode: false,
    help: false,
  };
  let packages = envNum('packages');
  let seconds = envNum('seconds');
  let cliPackages = envNum('cli_packages');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${usage}`);
      return v;
    };
    const num = (): number => {
      const n = Number(val());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number`);
      return n;
    };
    switch (flag) {
      case '--quick':
        o.quick = true;
        break;
      case '--packages':
        packages = Math.round(num());
        break;
      case '--seconds':
        seconds = num();
        break;
      case '--connections':
        o.connections = Math.round(num());
        break;
      case '--seed':
        o.seed = Math.round(num());
        break;
      case '--pdiffs':
        o.pdiffs = Math.round(num());
        break;
      case '--xz-preset':
        o.xzPreset = Math.round(Number(val()));
        break;
      case '--workdir':
        o.workdir = path.resolve(val());
        break;
      case '--upstream-dir':
        o.upstreamDir = path.resolve(val());
        break;
      case '--out':
        o.out = path.resolve(val());
        break;
      case '--profile':
        o.profile = true;
        break;
      case '--no-peers':
        o.peers = false;
        break;
      case '--no-serve':
        o.serve = false;
        break;
      case '--no-install':
        o.install = false;
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--lifetime':
        o.lifetime = val();
        break;
      case '--service-root':
        o.serviceRoot = path.resolve(val());
        break;
      case '--runs':
        o.runs = Math.round(num());
        break;
      case '--compare':
        o.compare = path.resolve(val());
        break;
      case '--cli-packages': {
        const n = Number(val());
        if (!Number.isFinite(n) || n < 0) throw new Error('--cli-packages needs a number ≥ 0');
        cliPackages = Math.round(n);
        break;
      }
      case '--child-json':
        o.childJson = path.resolve(val());
        break;
      case '--cli-mode':
        o.cliMode = true;
        break;
      case '-h':
      case '--help':
        o.help = true;
        break;
      default:
        throw new Error(`unknown option ${a}\n${usage}`);
    }
  }
  o.packages = packages ?? (o.quick ? 2000 : 60_000);
  o.seconds = seconds ?? (o.quick ? 3 : 10);
  o.cliPackages = cliPackages ?? (o.quick ? 0 : 20_000);
  if (o.compare && !existsSync(path.join(o.compare, 'bin', 'aptfreeze.js'))) throw new Error(`--compare ${o.compare}: no bin/aptfreeze.js there`);
  if (!o.lifetime) o.lifetime = o.quick ? '30s' : '1m';
  if (!o.upstreamDir) o.upstreamDir = shmWithRoom(o.packages) ?? null;
  return o;
}

/** /dev/shm when it exists and has room for the upstream (~8 KB per package, ×2 for safety). */
function shmWithRoom(packages: number): string | undefined {
  if (!existsSync('/dev/shm')) return undefined;
  try {
    const s = statfsSync('/dev/shm');
    return s.bavail * s.bsize > packages * 16_384 + 512e6 ? '/dev/shm' : undefined;
  } catch {
    return undefined;
  }
}
