// Shared set-up of the release-management tests (release-*.test.ts, pins.test.ts, diff.test.ts):
// a fixture upstream served over HTTP, the service on a fixed free port (so `baseUrl` is the real
// URL and apt's Snapshots: field points at it), tokens, API calls, and store/tree inspection.
import { createServer } from 'node:net';
import { readdir, readFile, lstat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from './hash.ts';
import { buildUpstream, createUpstreamKey, type FixturePackage, type FixtureSuite, type UpstreamKey } from './upstream.ts';
import { serveUpstream, type UpstreamServer } from './http-upstream.ts';
import { startService, type ServiceHarness } from './service.ts';
import { readManifest } from '../../server/snapshot/manifest.ts';
import { createToken } from '../../server/release/tokens.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Fixture {
  work: string;
  key: UpstreamKey;
  up: UpstreamServer;
  h: ServiceHarness;
  /** Rebuilds the upstream with these suites (by-hash copies and old pool files stay). */
  publish(suites: FixtureSuite[]): Promise<void>;
  close(): Promise<void>;
}

/** One suite `bookworm`, main, amd64 (the fixture's `all` packages make binary-all too). */
export function suite(packages: FixturePackage[], extra: Partial<FixtureSuite> = {}): FixtureSuite {
  return { name: 'bookworm', components: ['main'], architectures: ['amd64'], packages, ...extra };
}

/**
 * An upstream with `suites`, and the service mirroring it as `archives` (each name maps to the
 * suites it mirrors). Upstream Release files carry no Valid-Until, so a fake clock may run ahead.
 */
export async function setUp(
  work: string,
  suites: FixtureSuite[],
  opts: { config?: Record<string, unknown>; archives?: Record<string, string[]>; now?: () => Date } = {},
): Promise<Fixture> {
  const key = await createUpstreamKey(join(work, 'keys'));
  const noExpiry = (ss: FixtureSuite[]) => ss.map((s) => ({ validUntil: null, ...s }));
  await buildUpstream(join(work, 'upstream'), noExpiry(suites), key);
  const up = await serveUpstream(join(work, 'upstream'));
  const port = await freePort();
  const archives = Object.fromEntries(
    Object.entries(opts.archives ?? { debian: suites.map((s) => s.name) }).map(([name, names]) => [
      name,
      { url: up.url, suites: names, components: ['main'], architectures: ['amd64'], keyring: key.keyringPath },
    ]),
  );
  const h = await startService(
    join(work, 'svc'),
    { listen: `127.0.0.1:${port}`, baseUrl: `http://127.0.0.1:${port}`, archives, ...opts.config },
    { now: opts.now },
  );
  return {
    work,
    key,
    up,
    h,
    publish: async (ss) => void (await buildUpstream(join(work, 'upstream'), noExpiry(ss), key)),
    close: async () => {
      await h.close();
      await up.close();
    },
  };
}

/** A token made directly through the service (as `aptfreeze tokens create` does). */
export function token(h: ServiceHarness, role: 'admin' | 'release-manager', name = `${role}-test`): string {
  return createToken(h.services, { name, role }, 'test').token;
}

export interface ApiResult<T = any> {
  status: number;
  body: T;
}

export async function api<T = any>(h: ServiceHarness, method: string, path: string, opts: { token?: string; body?: unknown } = {}): Promise<ApiResult<T>> {
  const headers: Record<string, string> = {};
  if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${h.url}/api${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: body as T };
}

/** Takes a snapshot through the API; returns the new serial. */
export async function snapshot(h: ServiceHarness, tok: string, archive = 'debian'): Promise<string> {
  const r = await api(h, 'POST', `/archives/${archive}/snapshots?wait=1`, { token: tok });
  if (r.status !== 201) throw new Error(`snapshot: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.serial as string;
}

/** The one sha256 of the test helpers (hash.ts), re-exported for the tests that import it from here. */
export { sha256 };

/** Every blob hash in the store. */
export async function storeBlobs(h: ServiceHarness): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const x of h.services.store.list()) out.add(x);
  return out;
}

/**
 * What the remaining (live, frozen) serials reference: their manifest blobs, every entry of
 * them, and the cached pool references (index_refs) of indices among those entries.
 */
export async function referencedBlobs(h: ServiceHarness): Promise<Set<string>> {
  const out = new Set<string>();
  const manifests = h.services.db.prepare("SELECT manifest_sha256 FROM serials WHERE state IN ('live', 'frozen')").pluck().all() as string[];
  for (const m of manifests) {
    out.add(m);
    const man = await readManifest(h.services.store, m);
    for (const l of [...man.tree, ...man.extra]) out.add(l.sha256);
  }
  const derived = h.services.db.prepare('SELECT index_sha256, refs_sha256 FROM index_refs').all() as Array<{ index_sha256: string; refs_sha256: string }>;
  for (const d of derived) if (out.has(d.index_sha256)) out.add(d.refs_sha256);
  return out;
}

/** Files of a serial's manifest (tree part) that are missing or wrong in the tree or the store. */
export async function brokenFiles(h: ServiceHarness, archive: string, serial: string): Promise<string[]> {
  const row = h.services.repo.getSerial(archive, serial)!;
  const man = await readManifest(h.services.store, row.manifest_sha256!);
  const bad: string[] = [];
  for (const l of [...man.tree, ...man.extra]) if (!(await h.services.store.has(l.sha256))) bad.push(`store:${l.path}`);
  const dir = h.services.publisher.serialDir(archive, serial);
  for (const l of man.tree) {
    try {
      if (sha256(await readFile(join(dir, l.path))) !== l.sha256) bad.push(`tree(hash):${l.path}`);
    } catch {
      bad.push(`tree:${l.path}`);
    }
  }
  return bad;
}

/** Fetches every tree file of a serial over HTTP; returns those not served with their sha256. */
export async function notServed(h: ServiceHarness, archive: string, serial: string): Promise<string[]> {
  const row = h.services.repo.getSerial(archive, serial)!;
  const man = await readManifest(h.services.store, row.manifest_sha256!);
  const bad: string[] = [];
  for (const l of man.tree) {
    const res = await fetch(`${h.url}/${archive}/${serial}/${l.path.split('/').map(encodeURIComponent).join('/')}`);
    const body = new Uint8Array(await res.arrayBuffer());
    if (res.status !== 200 || sha256(body) !== l.sha256) bad.push(`${res.status} ${l.path}`);
  }
  return bad;
}

/** lstat (inode, mtime) of every file (not directory) under `root`, by relative path. */
export async function fileStats(root: string): Promise<Map<string, { ino: number; mtimeMs: number }>> {
  const out = new Map<string, { ino: number; mtimeMs: number }>();
  const walk = async (dir: string, rel: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p, r);
      else {
        const st = await lstat(p);
        out.set(r, { ino: st.ino, mtimeMs: st.mtimeMs });
      }
    }
  };
  await walk(root, '');
  return out;
}

/** The service's binary keyring, written to a file (for apt's signed-by and gpgv). */
export async function serviceKeyring(h: ServiceHarness, path: string): Promise<string> {
  const res = await fetch(`${h.url}/keys/aptfreeze.gpg`);
  await writeFile(path, new Uint8Array(await res.arrayBuffer()));
  return path;
}

/** A mutable fake clock for startService. */
export function fakeClock(start: Date): { now: () => Date; set(d: Date): void; advance(ms: number): void } {
  let t = start.getTime();
  return { now: () => new Date(t), set: (d) => void (t = d.getTime()), advance: (ms) => void (t += ms) };
}

export const DAY = 86_400_000;
