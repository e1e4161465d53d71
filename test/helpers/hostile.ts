// A hostile upstream for the attack tests (issue 6): a fixture upstream served through
// http-upstream's per-request `fault` hook, a service mirroring it, and the checks every attack
// ends with: one `aptfreeze: CODE:` line, the published tree byte-identical, the serial list and
// `latest` unchanged, no partial file in <data>/store/tmp, every store blob whole (its sha256 is
// its name), the run's wall time and peak memory within a bound.
//
// Also: writeSignedSuite(), a suite whose index files are given as raw bytes and whose Release is
// signed with a fixture key, for attacks buildUpstream cannot express (bombs, `Filename: ../../x`).
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { sha256, sha256File } from './hash.ts';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as openpgp from 'openpgp';
import { buildUpstream, createUpstreamKey, debianDate, makePackages, nextReleaseDate, type FixturePackage, type FixtureSuite, type UpstreamBuild, type UpstreamKey } from './upstream.ts';
import { serveUpstream, type UpstreamServer } from './http-upstream.ts';
import { tmpDir } from './gpg.ts';
import { startService, type CliResult, type ServiceHarness } from './service.ts';

const rssPreload = join(dirname(fileURLToPath(import.meta.url)), 'rss-preload.mjs');

export { sha256 } from './hash.ts';

/** Every path under a directory with the sha256 of each file and the target of each symlink. */
export async function treeState(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(root, p);
      if (e.isDirectory()) {
        out.set(`${rel}/`, 'dir');
        await walk(p);
      } else if (e.isSymbolicLink()) out.set(rel, `-> ${await readlink(p)}`);
      else out.set(rel, sha256(await readFile(p)));
    }
  };
  await walk(root);
  return out;
}

/** Store blobs whose content does not hash to their name (must always be empty). */
export async function corruptBlobs(dataDir: string): Promise<string[]> {
  const root = join(dataDir, 'store', 'sha256');
  const bad: string[] = [];
  for (const d of await readdir(root)) {
    for (const f of await readdir(join(root, d))) {
      if ((await sha256File(join(root, d, f))) !== f) bad.push(f);
    }
  }
  return bad;
}

export interface RunReport {
  result: CliResult;
  ms: number;
  /** Peak resident set size of the CLI process, MiB. */
  rssMiB: number;
}

export interface PublishedState {
  tree: Map<string, string>;
  serials: string;
  latest: string;
}

export interface HostileEnv {
  dir: string;
  upRoot: string;
  key: UpstreamKey;
  other: UpstreamKey;
  up: UpstreamServer;
  svc: ServiceHarness;
  pkgs: FixturePackage[];
  /** The last buildUpstream result. */
  build: UpstreamBuild;
  /** Rebuilds the upstream (one suite `bookworm`, main, amd64) with a later Date (the fixture's clock). */
  rebuild(pkgs: FixturePackage[], extra?: Partial<FixtureSuite>): Promise<UpstreamBuild>;
  /** The published state: tree hashes, serial list, latest. */
  state(): Promise<PublishedState>;
  /** `aptfreeze snapshot debian`, timed, with its peak memory. */
  snapshot(env?: Record<string, string>): Promise<RunReport>;
  /** A snapshot that must fail with `code` in one line and change nothing published. */
  expectRefusal(code: string, bounds?: Bounds): Promise<RunReport>;
  /** A snapshot that must succeed; every earlier serial stays byte-identical. Returns the new serial. */
  expectSurvival(bounds?: Bounds): Promise<{ serial: string; report: RunReport }>;
  /** Moves the service's clock (the daemon that runs the CLI's snapshots) forward: no waiting for a date to pass. */
  advanceClock(ms: number): void;
  /** Times per attack, for the report printed at the end. */
  timings: Array<{ name: string; ms: number; rssMiB: number; code: string }>;
  close(): Promise<void>;
}

/** Limits of one attack run; `name` records its numbers in `timings`. */
export interface Bounds {
  maxMs?: number;
  maxRssMiB?: number;
  name?: string;
}

/** Default bounds: an attack costs at most this much wall time and memory (the CLI alone is ~1.5 s and ~150 MiB; generous for a loaded CI machine, far below what an unbounded attack costs). */
export const defaultBounds = { maxMs: 30_000, maxRssMiB: 400 };

export async function hostileEnv(
  name: string,
  opts: { packages?: number; payloadBytes?: number; fetch?: Record<string, unknown>; suite?: Partial<FixtureSuite> } = {},
): Promise<HostileEnv> {
  const dir = await tmpDir(`af-${name}`);
  const key = await createUpstreamKey(join(dir, 'keys'));
  const other = await createUpstreamKey(join(dir, 'keys'), { name: 'Some Other Key' });
  const upRoot = join(dir, 'up');
  const pkgs = makePackages(opts.packages ?? 8, { payloadBytes: opts.payloadBytes });
  const suite = (p: FixturePackage[], extra: Partial<FixtureSuite> = {}): FixtureSuite[] => [
    { name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: p, ...opts.suite, ...extra },
  ];
  let build = await buildUpstream(upRoot, suite(pkgs), key);
  const up = await serveUpstream(upRoot);
  let clockOffsetMs = 0;
  // The CLI hands its snapshot to this process's daemon (control socket): this is the clock it runs on.
  const svc = await startService(
    join(dir, 'svc'),
    {
      archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
      fetch: { retries: 1, backoffMs: 10, idleTimeout: '2s', connectTimeout: '2s', ...opts.fetch },
    },
    { now: () => new Date(Date.now() + clockOffsetMs) },
  );
  const rssFile = join(dir, 'rss');

  const env: HostileEnv = {
    dir,
    upRoot,
    key,
    other,
    up,
    svc,
    pkgs,
    build,
    timings: [],
    advanceClock(ms) {
      clockOffsetMs += ms;
    },
    async rebuild(p, extra = {}) {
      // Each build's default Date is a second later than the last (the fixture's clock, upstream.ts nextReleaseDate).
      build = await buildUpstream(upRoot, suite(p, extra), key);
      env.build = build;
      return build;
    },
    async state() {
      const trace = await readFile(join(svc.dataDir, 'public', 'debian', 'project', 'trace', 'debian'), 'utf8');
      return {
        tree: await treeState(join(svc.dataDir, 'public')),
        serials: JSON.stringify(svc.services.repo.listSerials('debian', { includeCollected: true })),
        latest: trace.match(/Archive serial: (\d+)/)![1]!,
      };
    },
    async snapshot(extraEnv = {}) {
      await rm(rssFile, { force: true });
      const t0 = Date.now();
      const result = await svc.cli(['snapshot', 'debian', '--json'], { NODE_OPTIONS: `--import=${rssPreload}`, APTFREEZE_TEST_RSS_FILE: rssFile, ...extraEnv });
      const ms = Date.now() - t0;
      const rssKiB = Number(await readFile(rssFile, 'utf8').catch(() => 'NaN'));
      return { result, ms, rssMiB: Math.round(rssKiB / 1024) };
    },
    async expectRefusal(code, bounds = {}) {
      const { maxMs, maxRssMiB } = { ...defaultBounds, ...bounds };
      const before = await env.state();
      const r = await env.snapshot();
      if (bounds.name) env.timings.push({ name: bounds.name, ms: r.ms, rssMiB: r.rssMiB, code: r.result.stderr.match(/^aptfreeze: ([A-Z_]+):/m)?.[1] ?? `exit ${r.result.code}` });
      assert.notEqual(r.result.code, 0, `the snapshot must fail (stdout: ${r.result.stdout})`);
      const lines = r.result.stderr.trim().split('\n').filter((l) => l.startsWith('aptfreeze:'));
      assert.equal(lines.length, 1, `one error line: ${r.result.stderr}`);
      assert.match(lines[0]!, new RegExp(`^aptfreeze: ${code}: \\S`), r.result.stderr);
      assert.ok(!lines[0]!.includes('\n'));
      await assertUnchanged(before);
      assert.ok(r.ms <= maxMs, `bounded time: ${r.ms} ms > ${maxMs} ms`);
      assert.ok(Number.isFinite(r.rssMiB) && r.rssMiB <= maxRssMiB, `bounded memory: ${r.rssMiB} MiB > ${maxRssMiB} MiB`);
      return r;
    },
    async expectSurvival(bounds = {}) {
      const { maxMs, maxRssMiB } = { ...defaultBounds, ...bounds };
      const before = await env.state();
      const r = await env.snapshot();
      if (bounds.name) env.timings.push({ name: bounds.name, ms: r.ms, rssMiB: r.rssMiB, code: r.result.code === 0 ? 'survived' : `exit ${r.result.code}` });
      assert.equal(r.result.code, 0, r.result.stderr);
      const serial = (JSON.parse(r.result.stdout) as Array<{ serial: string }>)[0]!.serial;
      const after = await env.state();
      // Every file published before is still there with the same bytes; latest moved to the new serial.
      for (const [p, h] of before.tree) {
        if (p.startsWith('debian/latest') || p.startsWith('debian/project/')) continue;
        assert.equal(after.tree.get(p), h, `${p} unchanged`);
      }
      assert.equal(after.latest, serial);
      assert.ok(serial > before.latest);
      assert.deepEqual(await readdir(join(svc.dataDir, 'store', 'tmp')), [], 'no partial downloads left');
      assert.deepEqual(await corruptBlobs(svc.dataDir), [], 'every store blob is whole');
      await assertServedMatchesUpstream(serial);
      assert.ok(r.ms <= maxMs, `bounded time: ${r.ms} ms > ${maxMs} ms`);
      assert.ok(r.rssMiB <= maxRssMiB, `bounded memory: ${r.rssMiB} MiB > ${maxRssMiB} MiB`);
      return { serial, report: r };
    },
    async close() {
      await svc.close();
      await up.close();
    },
  };

  async function assertUnchanged(before: PublishedState) {
    const now = await env.state();
    assert.deepEqual(now.tree, before.tree, 'published tree byte-identical');
    assert.equal(now.serials, before.serials, 'serials unchanged');
    assert.equal(now.latest, before.latest, 'latest unchanged');
    assert.deepEqual(await readdir(join(svc.dataDir, 'store', 'tmp')), [], 'no partial downloads left');
    assert.deepEqual(await corruptBlobs(svc.dataDir), [], 'nothing unverified in the store');
  }

  /** Every pool file of the current upstream build is published in the serial with the upstream's bytes. */
  async function assertServedMatchesUpstream(serial: string) {
    for (const d of build.debs) {
      const p = join(svc.dataDir, 'public', 'debian', serial, d.filename);
      assert.equal(await sha256File(p), d.sha256, `${d.filename} published whole`);
      assert.ok((await lstat(p)).isFile());
    }
  }

  const r = await env.snapshot();
  assert.equal(r.result.code, 0, `baseline snapshot: ${r.result.stderr}`);
  return env;
}

export type Answer = (path: string, res: ServerResponse, req: IncomingMessage) => boolean | Promise<boolean>;

/** A fault that answers the paths matching `match` and leaves the rest to the static server. */
export function onPath(match: (path: string) => boolean, answer: Answer) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    if (!match(path)) return false;
    return answer(path, res, req);
  };
}

/** Clearsigns like gpg --clearsign (the signed text without its final newline, LF line ends). */
export async function clearsign(text: string, key: UpstreamKey): Promise<string> {
  const pk = await openpgp.readPrivateKey({ armoredKey: key.armoredPrivate });
  const message = await openpgp.createCleartextMessage({ text: text.replace(/\n$/, '') });
  const out = (await openpgp.sign({ message, signingKeys: pk })).replace(/\r\n/g, '\n');
  return out.endsWith('\n') ? out : `${out}\n`;
}

/**
 * Writes dists/<suite>/{Release,InRelease} listing exactly `files` (raw bytes, paths relative
 * to dists/<suite>), their by-hash copies, and `pool` files; signed by `key`. Replaces any
 * earlier dists/<suite>.
 */
export async function writeSignedSuite(
  root: string,
  suite: string,
  key: UpstreamKey,
  files: Array<{ path: string; data: Buffer }>,
  opts: { date?: Date; validUntil?: Date; architectures?: string[]; components?: string[]; listedOnly?: Array<{ path: string; data: Buffer }> } = {},
): Promise<void> {
  const dists = join(root, 'dists', suite);
  await rm(dists, { recursive: true, force: true });
  for (const f of files) {
    const p = join(dists, f.path);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, f.data);
    const h = join(dirname(p), 'by-hash', 'SHA256', sha256(f.data));
    await mkdir(dirname(h), { recursive: true });
    await writeFile(h, f.data);
  }
  const listed = [...files, ...(opts.listedOnly ?? [])].sort((a, b) => (a.path < b.path ? -1 : 1));
  const date = opts.date ?? nextReleaseDate();
  const text = [
    'Origin: Fixture',
    'Label: Fixture',
    `Suite: ${suite}`,
    `Codename: ${suite}`,
    `Date: ${debianDate(date)}`,
    `Valid-Until: ${debianDate(opts.validUntil ?? new Date(Date.now() + 7 * 86_400_000))}`,
    'Acquire-By-Hash: yes',
    `Architectures: ${(opts.architectures ?? ['amd64']).join(' ')}`,
    `Components: ${(opts.components ?? ['main']).join(' ')}`,
    'SHA256:',
    ...listed.map((f) => ` ${sha256(f.data)} ${f.data.length} ${f.path}`),
    '',
  ].join('\n');
  await writeFile(join(dists, 'Release'), text);
  await writeFile(join(dists, 'InRelease'), await clearsign(text, key));
}

/** The per-attack numbers (time, memory, code), one line each, for t.diagnostic. */
export function timingLines(timings: HostileEnv['timings']): string[] {
  return timings.map((t) => `${t.name}: ${t.ms} ms, ${t.rssMiB} MiB peak, ${t.code}`);
}
