// `npm run e2e:debian`: aptfreeze against real Debian, end to end (needs the host's Debian archive
// over the network; not part of `npm test`). It mirrors the host's own APT sources (address and
// keyring from /etc/apt, nothing written here) with a package filter covering a minbase system,
// builds a minbase chroot with mmdebstrap from the serials with only the service key trusted and
// date checks on, verifies every .deb the chroot installed back to Debian's keyring through the
// proof packages, freezes the serials, and checks `pins` and `verify --snapshot` against them.
// Prints one summary line; exit 0 only if every step passed.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { readHostSources, hostArchitecture, archiveNameFor } from '../server/config/host-sources.ts';
import { parseStanzas, type Stanza } from '../server/debian/deb822.ts';

const root = resolve(import.meta.dirname, '..');
const bin = join(root, 'bin', 'aptfreeze.js');
const etcApt = process.env['APTFREEZE_APT_ETC'] ?? '/etc/apt';
const lists = process.env['AF_DEBIAN_LISTS'] ?? '/var/lib/apt/lists';
const debianKeyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
const started = Date.now();
const times: Record<string, number> = {};
const work = mkdtempSync(join(tmpdir(), 'af-e2e-debian-'));
// apt reads the trusted key as its sandbox user (_apt): the work dir must be readable by others.
chmodSync(work, 0o755);

/** The daemon this run started, stopped on every way out. */
let daemon: ChildProcess | undefined;

function fail(step: string, detail: string): never {
  daemon?.removeAllListeners('exit');
  daemon?.kill('SIGTERM');
  process.stderr.write(`e2e:debian FAILED at ${step}: ${detail}\n(work dir kept: ${work})\n`);
  process.exit(1);
}

/** Runs a command, echoing nothing; returns stdout; fails the run with its stderr on a non-zero exit. */
function run(step: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; allowFail?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { cwd: work, env: { ...process.env, APTFREEZE_LOG: 'warn', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      if (code !== 0 && !opts.allowFail) fail(step, `${cmd} ${args.join(' ')} exited ${code}\n${stderr.slice(-6000)}`);
      res({ code: code ?? 1, stdout, stderr });
    });
  });
}
const af = (step: string, args: string[], opts: { allowFail?: boolean } = {}) => run(step, process.execPath, [bin, '--config', join(work, 'aptfreeze.yaml'), '--data', join(work, 'data'), ...args], opts);
async function timed<T>(name: string, f: () => Promise<T>): Promise<T> {
  const t = Date.now();
  const r = await f();
  times[name] = Date.now() - t;
  return r;
}

/**
 * The binary packages of a minbase system (what mmdebstrap's minbase installs: the Essential
 * packages and apt) and everything they depend on, from the host's own package lists. Generous on
 * purpose: every alternative and every provider of a virtual name is kept, so the filter never
 * misses what apt's resolver picks.
 */
function minbaseClosure(): string[] {
  const files = existsSync(lists) ? readdirSync(lists).filter((n) => /_binary-[^_]+_Packages(\.lz4)?$/.test(n)) : [];
  if (!files.length) fail('package lists', `no Packages files in ${lists}: run apt-get update first`);
  const byName = new Map<string, Stanza[]>();
  const providers = new Map<string, Set<string>>();
  for (const f of files) {
    const p = join(lists, f);
    const text = f.endsWith('.lz4') ? execFileSync('lz4', ['-dc', p], { maxBuffer: 1 << 30 }) : readFileSync(p);
    for (const s of parseStanzas(text)) {
      const name = s.get('Package')!;
      byName.set(name, [...(byName.get(name) ?? []), s]);
      for (const v of (s.get('Provides') ?? '').split(',')) {
        const n = v.trim().split(/[\s(]/)[0];
        if (n) providers.set(n, (providers.get(n) ?? new Set()).add(name));
      }
    }
  }
  const want = new Set<string>();
  const queue = ['apt', ...[...byName].filter(([, ss]) => ss.some((s) => s.get('Essential') === 'yes')).map(([n]) => n)];
  while (queue.length) {
    const n = queue.pop()!;
    if (want.has(n)) continue;
    const real = byName.get(n);
    if (!real) {
      for (const p of providers.get(n) ?? []) queue.push(p);
      continue;
    }
    want.add(n);
    for (const s of real) {
      for (const field of ['Depends', 'Pre-Depends']) {
        for (const group of (s.get(field) ?? '').split(',')) {
          for (const alt of group.split('|')) {
            const dep = alt.trim().split(/[\s(:]/)[0];
            if (dep) queue.push(dep);
          }
        }
      }
    }
  }
  return [...want].sort();
}

async function main(): Promise<void> {
  for (const tool of ['mmdebstrap', 'lz4', 'gpgv']) {
    try {
      execFileSync('which', [tool], { stdio: 'ignore' });
    } catch {
      fail('tools', `${tool} is not installed (apt-get install mmdebstrap lz4 gpgv)`);
    }
  }
  const sources = readHostSources(etcApt).filter((s) => s.suites.some((x) => /^bookworm/.test(x)));
  if (!sources.length) fail('host sources', `no bookworm sources under ${etcApt}`);
  const packages = minbaseClosure();
  const arch = hostArchitecture();
  const archives: Record<string, unknown> = {};
  for (const s of sources) {
    const name = archiveNameFor(s.uri);
    const a = (archives[name] ??= { url: s.uri.replace(/\/+$/, ''), suites: [], components: ['main'], architectures: [arch], keyring: s.signedBy ?? debianKeyring, packages, translations: false }) as { suites: string[] };
    for (const suite of s.suites) if (!a.suites.includes(suite)) a.suites.push(suite);
  }
  writeFileSync(join(work, 'aptfreeze.yaml'), YAML.stringify({ listen: '127.0.0.1:0', archives }));
  const names = Object.keys(archives);

  // 1. Snapshots of the real archives.
  const snap = await timed('snapshot', () => af('snapshot', ['snapshot', ...names, '--json']));
  const results = JSON.parse(snap.stdout) as Array<{ archive: string; serial: string; stats: { poolFiles: number; bytesFetched: number } }>;
  const serialOf = Object.fromEntries(results.map((r) => [r.archive, r.serial]));

  // 2. The daemon serves them.
  daemon = spawn(process.execPath, [bin, '--config', join(work, 'aptfreeze.yaml'), '--data', join(work, 'data'), 'serve', '--workers', '1'], { cwd: work, env: { ...process.env, APTFREEZE_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((res) => {
    let out = '';
    daemon!.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) res(m[1]!);
    });
    daemon!.on('exit', (c) => fail('serve', `the daemon exited (${c})`));
  });
  try {
    const keyDir = join(work, 'trusted');
    mkdirSync(keyDir);
    const key = join(keyDir, 'aptfreeze.gpg');
    writeFileSync(key, Buffer.from(await (await fetch(`${url}/keys/aptfreeze.gpg`)).arrayBuffer()));

    // 3. A minbase chroot from the serials: only the service key trusted (--keyring: a directory holding just it,
    // so apt trusts nothing else; a signed-by path would be read inside the chroot), date checks on.
    const lines = sources.flatMap((s) => s.suites.filter((x) => /^bookworm/.test(x)).map((suite) => `deb ${url}/${archiveNameFor(s.uri)}/${serialOf[archiveNameFor(s.uri)]}/ ${suite} main`));
    const debs = join(work, 'debs');
    mkdirSync(debs);
    await timed('mmdebstrap', () =>
      run('mmdebstrap', 'mmdebstrap', [
        '--variant=minbase',
        '--mode=root',
        `--keyring=${keyDir}`,
        '--aptopt=Acquire::Check-Valid-Until "true"',
        '--aptopt=Acquire::Check-Date "true"',
        '--skip=essential/unlink',
        `--customize-hook=sync-out /var/cache/apt/archives ${debs}`,
        'bookworm',
        join(work, 'chroot.tar'),
        ...lines,
      ]),
    );
    const installed = readdirSync(debs).filter((f) => f.endsWith('.deb'));
    if (installed.length < 50) fail('mmdebstrap', `only ${installed.length} .deb files kept from the chroot`);

    // 4. Every .deb back to Debian's keyring through the proof packages.
    const verified = new Set<string>();
    await timed('verify', async () => {
      for (const name of names) {
        const proof = join(work, `proof-${name}.deb`);
        writeFileSync(proof, Buffer.from(await (await fetch(`${url}/${name}/${serialOf[name]}/proof.deb`)).arrayBuffer()));
        const todo = installed.filter((f) => !verified.has(f));
        if (!todo.length) break;
        const r = await af('verify', ['verify', '--proof', proof, '--keyring', debianKeyring, '--json', ...todo.map((f) => join(debs, f))], { allowFail: true });
        const out = JSON.parse(r.stdout) as { reports: Array<{ subject: string; verdict: string }> };
        for (const rep of out.reports) if (rep.verdict === 'verified') verified.add(rep.subject.split('/').pop()!);
      }
    });
    const unverified = installed.filter((f) => !verified.has(f));
    if (unverified.length) fail('verify', `${unverified.length} .deb files did not verify back to Debian's keyring: ${unverified.slice(0, 10).join(' ')}`);

    // 5. Freeze, pins, verify --snapshot.
    const until = new Date(Date.now() + 90 * 86_400_000).toISOString().slice(0, 10);
    await timed('freeze', async () => {
      for (const name of names) await af('freeze', ['freeze', name, serialOf[name]!, '--until', until, '--reason', 'e2e:debian']);
    });
    const pins = join(work, 'pins');
    await af('pins freeze', ['pins', 'freeze', '--dir', pins, '--server', url]);
    for (const name of names) {
      const pinned = readFileSync(join(pins, name, 'serial'), 'utf8').trim();
      if (pinned !== serialOf[name]) fail('pins', `${name} pinned to ${pinned}, expected ${serialOf[name]}`);
    }
    await af('pins check', ['pins', 'check', '--dir', pins, '--server', url, '--min-valid', '60d']);
    await timed('verify-snapshot', async () => {
      for (const name of names) await af('verify --snapshot', ['verify', '--snapshot', `${url}/${name}/${serialOf[name]}/`, '--keyring', debianKeyring, '--service-key', key]);
    });

    const pool = results.reduce((n, r) => n + r.stats.poolFiles, 0);
    const mb = results.reduce((n, r) => n + r.stats.bytesFetched, 0) / 1e6;
    const s = (k: string) => ((times[k] ?? 0) / 1000).toFixed(1);
    process.stdout.write(
      `e2e:debian OK: ${names.map((n) => `${n} ${serialOf[n]}`).join(', ')} (${lines.length} suites, filter ${packages.length} packages, ${pool} pool files, ${mb.toFixed(1)} MB fetched); ` +
        `minbase chroot ${installed.length} .debs, ${installed.filter((f) => verified.has(f)).length}/${installed.length} verified to Debian's keyring; frozen until ${until}, pins and verify --snapshot ok; ` +
        `times: snapshot ${s('snapshot')} s, mmdebstrap ${s('mmdebstrap')} s, verify ${s('verify')} s, freeze ${s('freeze')} s, verify --snapshot ${s('verify-snapshot')} s, total ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  } finally {
    daemon.removeAllListeners('exit');
    daemon.kill('SIGTERM');
    daemon = undefined;
  }
  if (!process.env['AF_E2E_KEEP']) execFileSync('rm', ['-rf', work]);
}

await main();
