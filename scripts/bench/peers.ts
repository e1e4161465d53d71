// The peers, on the same upstream in the same run, each isolated in its own directory with its
// own GNUPGHOME (gpg-agents stopped at cleanup):
//
// aptly:    mirror create + mirror update + snapshot create + publish snapshot (signed) for the
//           first run; mirror update + snapshot create + publish switch (signed) afterwards.
//           Release verified against the upstream keyring (-keyring). Contents indices are not
//           generated (skipContentsPublishing), as the service does not make them either;
//           downloadConcurrency 16, the service's default fetch concurrency.
// reprepro: update (VerifyRelease: the upstream key, SignWith: a bench key) + gensnapshot.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run, du, onCleanup, type RunResult } from './proc.ts';
import type { BenchKey } from './keys.ts';

export interface PeerPart {
  name: string;
  ok: boolean;
  wallMs: number;
  peakRssBytes: number | null;
  error?: string;
}

export interface PeerStep {
  ok: boolean;
  /** sum of the parts' wall times */
  wallMs: number | null;
  /** the largest peak RSS among the parts */
  peakRssBytes: number | null;
  diskAfterBytes: number | null;
  parts: PeerPart[];
  error?: string;
}

function part(name: string, r: RunResult): PeerPart {
  const p: PeerPart = { name, ok: r.code === 0, wallMs: r.wallMs, peakRssBytes: r.maxRssBytes ?? r.treeRssBytes };
  if (r.code !== 0) p.error = `${r.timedOut ? 'timed out; ' : ''}exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`;
  return p;
}

function step(parts: PeerPart[], diskAfterBytes: number | null): PeerStep {
  const ok = parts.every((p) => p.ok);
  const s: PeerStep = {
    ok,
    wallMs: ok ? parts.reduce((n, p) => n + p.wallMs, 0) : null,
    peakRssBytes: parts.reduce<number | null>((m, p) => (p.peakRssBytes === null ? m : Math.max(m ?? 0, p.peakRssBytes)), null),
    diskAfterBytes,
    parts,
  };
  if (!ok) s.error = parts.find((p) => !p.ok)?.error;
  return s;
}

function peerEnv(gnupgHome: string, home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GNUPGHOME: gnupgHome, HOME: home, LC_ALL: 'C', LANG: 'C' };
  for (const k of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY']) delete env[k];
  return env;
}

/** A private GNUPGHOME holding the given keys (secret keys imported armored, without passphrase). */
async function gnupgHome(dir: string, keys: string[], label: string): Promise<string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  onCleanup(`gpg-${label}`, `gpgconf --homedir '${dir}' --kill all`);
  for (const k of keys) {
    const r = await run('gpg', ['--homedir', dir, '--batch', '--yes', '--import'], { input: k, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`gpg --import into ${dir} failed: ${r.stderr}`);
  }
  return dir;
}

export interface PeerSetup {
  dir: string;
  upstreamUrl: string;
  suite: string;
  component: string;
  upstreamKey: BenchKey;
  signingKey: BenchKey;
  logDir: string;
}

export class Aptly {
  private readonly conf: string;
  private readonly root: string;
  private env: NodeJS.ProcessEnv = {};
  private snapshots = 0;

  constructor(private readonly s: PeerSetup) {
    this.root = path.join(s.dir, 'root');
    this.conf = path.join(s.dir, 'aptly.conf');
  }

  async init(): Promise<void> {
    mkdirSync(this.root, { recursive: true });
    const home = await gnupgHome(path.join(this.s.dir, 'gnupg'), [this.s.signingKey.armoredPrivate], 'aptly');
    this.env = peerEnv(home, this.s.dir);
    writeFileSync(
      this.conf,
      JSON.stringify(
        {
          rootDir: this.root,
          downloadConcurrency: 16,
          downloadSpeedLimit: 0,
          architectures: [],
          dependencyFollowSuggests: false,
          dependencyFollowRecommends: false,
          dependencyFollowAllVariants: false,
          dependencyFollowSource: false,
          gpgDisableSign: false,
          gpgDisableVerify: false,
          gpgProvider: 'gpg',
          downloadSourcePackages: false,
          skipLegacyPool: true,
          ppaDistributorID: 'ubuntu',
          ppaCodename: '',
          skipContentsPublishing: true,
          FileSystemPublishEndpoints: {},
          S3PublishEndpoints: {},
          SwiftPublishEndpoints: {},
        },
        null,
        2,
      ),
    );
  }

  private aptly(args: string[], label: string): Promise<RunResult> {
    return run('aptly', [`-config=${this.conf}`, ...args], { env: this.env, cwd: this.s.dir, timeoutMs: 60 * 60_000, logFile: path.join(this.s.logDir, `aptly-${label}.log`) });
  }

  private signArgs(): string[] {
    return [`-gpg-key=${this.s.signingKey.fingerprint}`, '-batch', '-passphrase='];
  }

  /** mirror create + mirror update + snapshot create + publish snapshot */
  async first(): Promise<PeerStep> {
    const parts: PeerPart[] = [];
    const create = await this.aptly(['mirror', 'create', `-keyring=${this.s.upstreamKey.keyringPath}`, '-architectures=amd64', 'up', `${this.s.upstreamUrl}/`, this.s.suite, this.s.component], 'mirror-create');
    parts.push(part('mirror create', create));
    if (create.code !== 0) return step(parts, await du(this.root));
    return this.cycle(parts, true);
  }

  /** mirror update + snapshot create + publish switch */
  async update(label: string): Promise<PeerStep> {
    return this.cycle([], false, label);
  }

  private async cycle(parts: PeerPart[], first: boolean, label = 'first'): Promise<PeerStep> {
    const upd = await this.aptly(['mirror', 'update', `-keyring=${this.s.upstreamKey.keyringPath}`, 'up'], `${label}-mirror-update`);
    parts.push(part('mirror update', upd));
    if (upd.code !== 0) return step(parts, await du(this.root));
    const name = `s${++this.snapshots}`;
    const snap = await this.aptly(['snapshot', 'create', name, 'from', 'mirror', 'up'], `${label}-snapshot-create`);
    parts.push(part('snapshot create', snap));
    if (snap.code !== 0) return step(parts, await du(this.root));
    const pub = first
      ? await this.aptly(['publish', 'snapshot', ...this.signArgs(), `-distribution=${this.s.suite}`, name], `${label}-publish`)
      : await this.aptly(['publish', 'switch', ...this.signArgs(), this.s.suite, name], `${label}-publish`);
    parts.push(part(first ? 'publish snapshot' : 'publish switch', pub));
    return step(parts, await du(this.root));
  }

  get dataDir(): string {
    return this.root;
  }
}

export class Reprepro {
  private readonly base: string;
  private env: NodeJS.ProcessEnv = {};
  private snapshots = 0;

  constructor(private readonly s: PeerSetup) {
    this.base = path.join(s.dir, 'repo');
  }

  async init(): Promise<void> {
    const confDir = path.join(this.base, 'conf');
    mkdirSync(confDir, { recursive: true });
    const home = await gnupgHome(path.join(this.s.dir, 'gnupg'), [this.s.signingKey.armoredPrivate, this.s.upstreamKey.armoredPublic], 'reprepro');
    this.env = peerEnv(home, this.s.dir);
    writeFileSync(
      path.join(confDir, 'distributions'),
      [
        'Origin: bench',
        'Label: bench',
        `Codename: ${this.s.suite}`,
        'Architectures: amd64',
        `Components: ${this.s.component}`,
        'Update: upstream',
        `SignWith: ${this.s.signingKey.fingerprint}`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      path.join(confDir, 'updates'),
      [
        'Name: upstream',
        `Method: ${this.s.upstreamUrl}`,
        `Suite: ${this.s.suite}`,
        `Components: ${this.s.component}`,
        'Architectures: amd64',
        `VerifyRelease: ${this.s.upstreamKey.fingerprint.slice(-16)}`,
        '',
      ].join('\n'),
    );
  }

  private reprepro(args: string[], label: string): Promise<RunResult> {
    return run('reprepro', ['-b', this.base, '--noguessgpgtty', ...args], { env: this.env, cwd: this.s.dir, timeoutMs: 60 * 60_000, logFile: path.join(this.s.logDir, `reprepro-${label}.log`) });
  }

  /** update + gensnapshot */
  async cycle(label: string): Promise<PeerStep> {
    const parts: PeerPart[] = [];
    const upd = await this.reprepro(['update', this.s.suite], `${label}-update`);
    parts.push(part('update', upd));
    if (upd.code !== 0) return step(parts, await du(this.base));
    const snap = await this.reprepro(['gensnapshot', this.s.suite, `s${++this.snapshots}`], `${label}-gensnapshot`);
    parts.push(part('gensnapshot', snap));
    return step(parts, await du(this.base));
  }

  get dataDir(): string {
    return this.base;
  }
}
