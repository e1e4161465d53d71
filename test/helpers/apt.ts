// The real apt-get / apt-cache as an isolated test client.
//
// Everything apt reads or writes lives under `workdir`:
//   workdir/apt.conf           APT_CONFIG: empties Dir::Etc::Parts and Dir::Etc::main (the host's
//                              /etc/apt/apt.conf.d turns the date checks off, and adds hooks), and
//                              points every Dir:: at workdir
//   workdir/etc/sources.list   the one source line; sources.list.d, preferences(.d), trusted.gpg(.d) empty
//   workdir/state/lists/       downloaded indices        workdir/cache/archives/   downloaded .debs
//   workdir/status             an empty dpkg status      workdir/log/              apt's logs
// The system's lists, cache, dpkg status and locks are never touched (Debug::NoLocking, own dirs).
// apt runs as root with APT::Sandbox::User=root; proxies from the environment are dropped.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from './run.ts';

export interface AptResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface AptClient {
  /**
   * apt-get update --error-on=any (so that any failed fetch is a non-zero exit). Note that exit 0
   * still does not prove apt fetched a Packages file: apt silently skips an index the Release does
   * not list (check with policy() or download()).
   */
  update(): Promise<AptResult>;
  /** apt-cache policy <pkg> */
  policy(pkg: string): Promise<AptResult>;
  /** apt-get download <pkg> (name or name=version) into destDir; files: the new files there (absolute paths) */
  download(pkg: string, destDir: string): Promise<AptResult & { files: string[] }>;
  /**
   * apt-get install -y <pkgs> into a throwaway dpkg root (created if needed): dpkg runs with
   * --root=<rootDir>, so its database is rootDir/var/lib/dpkg. For fixture-like packages without
   * maintainer scripts. Packages come from the index fetched by update().
   */
  install(pkgs: string[], rootDir: string): Promise<AptResult>;
  /** extra: the paths used (for debugging or further apt commands) */
  readonly dirs: { workdir: string; config: string; lists: string; archives: string };
  /** extra: runs apt-get with the client's configuration and any arguments */
  run(args: string[], opts?: { cwd?: string; tool?: 'apt-get' | 'apt-cache' }): Promise<AptResult>;
}

/** Quotes a value for apt.conf. apt.conf strings cannot hold a double quote. */
function q(v: string): string {
  if (v.includes('"') || v.includes('\n')) throw new Error(`apt.conf value cannot hold " or newline: ${v}`);
  return `"${v}"`;
}

const STRIPPED_ENV = ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ftp_proxy', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'];

export function createAptClient(
  workdir: string,
  opts: { sourcesLine: string; checkDates?: boolean; arch?: string },
): AptClient {
  const wd = path.resolve(workdir);
  const arch = opts.arch ?? 'amd64';
  const checkDates = opts.checkDates ?? true;
  const etc = path.join(wd, 'etc');
  const lists = path.join(wd, 'state', 'lists');
  const cache = path.join(wd, 'cache');
  const archives = path.join(cache, 'archives');
  const log = path.join(wd, 'log');
  const status = path.join(wd, 'status');
  const config = path.join(wd, 'apt.conf');

  for (const d of [
    path.join(etc, 'apt.conf.d'),
    path.join(etc, 'sources.list.d'),
    path.join(etc, 'preferences.d'),
    path.join(etc, 'trusted.gpg.d'),
    path.join(lists, 'partial'),
    path.join(archives, 'partial'),
    log,
  ]) {
    mkdirSync(d, { recursive: true });
  }
  writeFileSync(status, '');
  writeFileSync(path.join(etc, 'sources.list'), `${opts.sourcesLine.trim()}\n`);

  const conf = [
    `Dir::Etc::Parts ${q(path.join(etc, 'apt.conf.d'))};`,
    `Dir::Etc::main ${q(path.join(etc, 'apt.conf'))};`,
    `Dir::Etc::SourceList ${q(path.join(etc, 'sources.list'))};`,
    `Dir::Etc::SourceParts ${q(path.join(etc, 'sources.list.d'))};`,
    `Dir::Etc::Preferences ${q(path.join(etc, 'preferences'))};`,
    `Dir::Etc::PreferencesParts ${q(path.join(etc, 'preferences.d'))};`,
    `Dir::Etc::Trusted ${q(path.join(etc, 'trusted.gpg'))};`,
    `Dir::Etc::TrustedParts ${q(path.join(etc, 'trusted.gpg.d'))};`,
    `Dir::State ${q(path.join(wd, 'state'))};`,
    `Dir::State::Lists ${q(lists)};`,
    `Dir::State::status ${q(status)};`,
    `Dir::State::extended_states ${q(path.join(wd, 'state', 'extended_states'))};`,
    `Dir::Cache ${q(cache)};`,
    `Dir::Cache::Archives ${q(archives)};`,
    'Dir::Cache::pkgcache "";',
    'Dir::Cache::srcpkgcache "";',
    `Dir::Log ${q(log)};`,
    `APT::Architecture ${q(arch)};`,
    `APT::Architectures { ${q(arch)}; };`,
    'APT::Sandbox::User "root";',
    'Debug::NoLocking "true";',
    `Acquire::Check-Valid-Until ${checkDates ? '"true"' : '"false"'};`,
    `Acquire::Check-Date ${checkDates ? '"true"' : '"false"'};`,
    'Acquire::Languages "none";',
    'Acquire::Retries "0";',
    'Acquire::http::Timeout "20";',
    'Acquire::http::Proxy "";',
    'APT::Get::Assume-Yes "true";',
    'quiet "0";',
    '',
  ].join('\n');
  writeFileSync(config, conf);

  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of STRIPPED_ENV) delete env[k];
  Object.assign(env, { APT_CONFIG: config, LC_ALL: 'C', LANG: 'C', LANGUAGE: '', DEBIAN_FRONTEND: 'noninteractive' });

  // Never rejects: a missing apt is code 127; killed after 120 s so a test never hangs on it.
  const exec = (cmd: string, args: string[], cwd?: string): Promise<AptResult> => runCommand(cmd, args, { cwd: cwd ?? wd, env, timeoutMs: 120_000 });

  const client: AptClient = {
    dirs: { workdir: wd, config, lists, archives },
    run: (args, o = {}) => exec(o.tool ?? 'apt-get', args, o.cwd),
    // --error-on=any: without it apt-get update exits 0 even when the server is unreachable.
    update: () => exec('apt-get', ['update', '--error-on=any']),
    policy: (pkg) => exec('apt-cache', ['policy', pkg]),
    async download(pkg, destDir) {
      const dest = path.resolve(destDir);
      await mkdir(dest, { recursive: true });
      const before = new Set(await readdir(dest));
      const r = await exec('apt-get', ['download', pkg], dest);
      const files = (await readdir(dest)).filter((f) => !before.has(f) && f.endsWith('.deb')).sort().map((f) => path.join(dest, f));
      return { ...r, files };
    },
    async install(pkgs, rootDir) {
      const root = path.resolve(rootDir);
      const admin = path.join(root, 'var', 'lib', 'dpkg');
      for (const d of ['info', 'updates', 'triggers', 'alternatives']) await mkdir(path.join(admin, d), { recursive: true });
      const present = await readdir(admin);
      for (const f of ['status', 'available']) if (!present.includes(f)) await writeFile(path.join(admin, f), '');
      return exec('apt-get', [
        '-o', `Dir::State::status=${path.join(admin, 'status')}`,
        '-o', `DPkg::Options::=--root=${root}`,
        '-o', `DPkg::Options::=--admindir=${admin}`,
        '-o', 'DPkg::Options::=--force-not-root',
        '-o', 'DPkg::Options::=--force-script-chrootless',
        '-o', 'DPkg::Options::=--log=/dev/null',
        '-o', 'DPkg::Use-Pty=false',
        'install', '-y', '--no-install-recommends', ...pkgs,
      ]);
    },
  };
  return client;
}
