// A served fixture for the provenance issue's tests: a signed upstream (one suite with InRelease,
// one suite with a slash signed with Release + Release.gpg only), the service mirroring it whole
// (archive `debian`) and filtered (archive `filt`), snapshots taken in-process.
import { sha256 as sha256Hex } from './hash.ts';
import { runCommand } from './run.ts';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { snapshotService } from '../../server/snapshot/service.ts';
import type { SnapshotResult } from '../../server/snapshot/run.ts';
import { buildDeb, readDeb } from '../../server/debian/deb.ts';
import { bundleFromDeb, type ProofBundle } from '../../server/proof/bundle.ts';
import type { ProofManifest } from '../../server/proof/manifest.ts';
import { tmpDir } from './gpg.ts';
import { serveUpstream, type UpstreamServer } from './http-upstream.ts';
import { startService, type ServiceHarness } from './service.ts';
import { buildUpstream, createUpstreamKey, type FixturePackage, type FixtureSuite, type UpstreamBuild, type UpstreamKey } from './upstream.ts';

export const PACKAGES: FixturePackage[] = [
  { name: 'hello', version: '2.10-3', arch: 'amd64' },
  { name: 'hello-doc', version: '2.10-3', arch: 'all', source: 'hello' },
  { name: 'libfoo1', version: '1:1.2-1', arch: 'amd64', source: 'foo' },
  { name: 'foo-utils', version: '1:1.2-1', arch: 'amd64', source: 'foo', depends: 'libfoo1 (= 1:1.2-1)' },
  { name: 'bar', version: '0.9-2', arch: 'amd64', payloadBytes: 5000 },
  { name: 'libbaz++1', version: '3.0~rc1-1', arch: 'amd64', source: 'baz' },
];
export const UPDATES: FixturePackage[] = [{ name: 'hello', version: '2.10-3+deb12u1', arch: 'amd64' }];
/** The packages the filtered archive keeps. */
export const FILTER = ['hello', 'hello-doc', 'bar'];

export function fixtureSuites(pkgs: FixturePackage[] = PACKAGES, updates: FixturePackage[] = UPDATES): FixtureSuite[] {
  return [
    { name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: pkgs, sources: true, translations: true },
    { name: 'bookworm/updates', codename: 'bookworm', components: ['main'], architectures: ['amd64'], packages: updates, signing: 'detached' },
  ];
}

export interface ProofFixture {
  dir: string;
  key: UpstreamKey;
  build: UpstreamBuild;
  up: UpstreamServer;
  h: ServiceHarness;
  snapshot(archive: string): Promise<SnapshotResult>;
  /** Rebuilds the upstream (e.g. with other packages) in place. */
  rebuild(suites: FixtureSuite[]): Promise<UpstreamBuild>;
  close(): Promise<void>;
}

export async function proofFixture(name: string, opts: { suites?: FixtureSuite[]; config?: Record<string, unknown>; now?: () => Date } = {}): Promise<ProofFixture> {
  const dir = await tmpDir(name);
  const key = await createUpstreamKey(path.join(dir, 'keys'));
  const upRoot = path.join(dir, 'up');
  const build = await buildUpstream(upRoot, opts.suites ?? fixtureSuites(), key);
  const up = await serveUpstream(upRoot);
  const archive = { url: up.url, suites: ['bookworm', 'bookworm/updates'], components: ['main'], architectures: ['amd64'], sources: true, keyring: key.keyringPath };
  const h = await startService(
    path.join(dir, 'svc'),
    { archives: { debian: archive, filt: { ...archive, sources: false, packages: FILTER } }, ...opts.config },
    opts.now ? { now: opts.now } : {},
  );
  const f: ProofFixture = {
    dir,
    key,
    build,
    up,
    h,
    snapshot: (archiveName) => snapshotService(f.h.services)(archiveName, 'test'),
    async rebuild(suites) {
      f.build = await buildUpstream(upRoot, suites, key);
      return f.build;
    },
    async close() {
      await f.h.close();
      await up.close();
    },
  };
  return f;
}

/** A program run to completion (run.ts, the one subprocess helper), in the C locale. */
export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCommand(cmd, args, { cwd: opts.cwd });
}

/** Installs .deb files with the real dpkg into a throwaway root (its own admin directory; no maintainer scripts run). */
export async function dpkgInstall(root: string, debs: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const admin = path.join(root, 'var', 'lib', 'dpkg');
  for (const d of ['info', 'updates', 'triggers', 'alternatives']) await mkdir(path.join(admin, d), { recursive: true });
  for (const f of ['status', 'available']) await writeFile(path.join(admin, f), '', { flag: 'a' });
  return run('dpkg', ['--root', root, '--admindir', admin, '--force-not-root', '--force-script-chrootless', '--log=/dev/null', '-i', ...debs]);
}

/** GET a URL as bytes; throws on a non-200 status. */
export async function getBytes(url: string): Promise<Buffer> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

// ---------------------------------------------------------------------------------------------
// Proofs edited or made by hand (hostile proofs, and proofs of metadata no snapshot took)

export interface ProofEdit {
  /** manifest.json, parsed: edit it in place (it is written back). */
  manifest: ProofManifest;
  /** The proof directory's files by relative path (dists/..., served/..., keyring.gpg). */
  files: Map<string, Buffer>;
}

/** A proof package with its contents edited (the package is rebuilt; only what `edit` changes differs). */
export async function tamperProof(proof: Buffer, edit: (p: ProofEdit) => void | Promise<void>): Promise<Buffer> {
  const deb = await readDeb(proof);
  const bundle = bundleFromDeb(deb);
  const files = new Map(bundle.files);
  const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8')) as ProofManifest;
  await edit({ manifest, files });
  files.set('manifest.json', Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
  return buildDeb({ control: deb.control, files: [...files].map(([p, data]) => ({ path: `${bundle.dir}/${p}`, data })), mtime: Math.floor(Date.parse(manifest.createdAt) / 1000) });
}

/** Records a changed file's new hash in the manifest (so that the manifest cross-check is not what catches an edit). */
export function relist(p: ProofEdit, suite: string, rel: string, opts: { served?: boolean } = {}): void {
  const data = p.files.get(`${opts.served ? 'served/' : ''}dists/${suite}/${rel}`);
  if (!data) throw new Error(`no ${opts.served ? 'served ' : ''}${suite}/${rel} in the proof`);
  const s = p.manifest.suites.find((x) => x.suite === suite)!;
  const rf = s.releaseFiles.find((x) => x.name === rel);
  if (rf) Object.assign(rf, { sha256: sha256Hex(data), size: data.length });
  const i = s.indices.find((x) => x.path === rel);
  if (i && opts.served) Object.assign(i, { servedSha256: sha256Hex(data), servedSize: data.length });
  else if (i) Object.assign(i, { sha256: sha256Hex(data), size: data.length });
}

export interface HandmadeSuite {
  suite: string;
  /** InRelease, or Release and Release.gpg, as the upstream serves them. */
  releaseFiles: Partial<Record<'InRelease' | 'Release' | 'Release.gpg', Buffer>>;
  /** Index files (relative to dists/<suite>/) to hold in the proof. */
  indices: Array<{ path: string; data: Buffer; served?: Buffer }>;
}

/** A proof bundle made from upstream files directly, as a snapshot would have made it. */
export function handmadeBundle(o: { archive: string; serial: string; upstreamUrl: string; keyring: Buffer; suites: HandmadeSuite[] }): ProofBundle {
  const files = new Map<string, Buffer>();
  files.set('keyring.gpg', o.keyring);
  const manifest: ProofManifest = {
    format: 1,
    archive: o.archive,
    upstreamUrl: o.upstreamUrl,
    serial: o.serial,
    createdAt: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
    keyring: { name: 'keyring.gpg', sha256: sha256Hex(o.keyring), size: o.keyring.length },
    suites: o.suites.map((s) => {
      const releaseFiles = Object.entries(s.releaseFiles).map(([name, data]) => {
        files.set(`dists/${s.suite}/${name}`, data!);
        return { name: name as 'InRelease', sha256: sha256Hex(data!), size: data!.length };
      });
      return {
        suite: s.suite,
        form: s.releaseFiles.InRelease ? ('inrelease' as const) : ('detached' as const),
        fetchedAt: new Date().toISOString(),
        releaseDate: new Date().toISOString(),
        signers: [],
        releaseFiles,
        indices: s.indices.map((i) => {
          files.set(`dists/${s.suite}/${i.path}`, i.data);
          if (i.served) files.set(`served/dists/${s.suite}/${i.path}`, i.served);
          return {
            path: i.path,
            size: i.data.length,
            sha256: sha256Hex(i.data),
            served: i.served ? ('filtered' as const) : ('verbatim' as const),
            ...(i.served ? { servedSha256: sha256Hex(i.served), servedSize: i.served.length, servedInProof: true } : {}),
            inProof: true,
          };
        }),
      };
    }),
  };
  files.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
  return { manifest, dir: `usr/share/aptfreeze/proofs/${o.archive}/${o.serial}`, files };
}
