/**
 * One serial of a custom repository, built from its catalog: per suite our
 * own Packages and Sources (the stanzas recorded at upload), a Release with
 * Origin and Label set to the repository's name, signed by the service key,
 * the pool files from the store, and a proof package of the uploads. Then the
 * same steps as a mirrored archive's serial (server/publish/, the serial
 * allocation and recording of server/catalog/repo.ts, provenance): staged aside,
 * renamed into place, recorded, `latest` moved.
 */
import { createHash } from 'node:crypto';
import { AptfreezeError, asAptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import type { RepositoryConfig } from '../config/schema.ts';
import type { TreeFile, TreeLink } from '../publish/tree.ts';
import type { ReleaseFileEntry } from '../debian/release.ts';
import { formatDebianDate } from '../debian/release.ts';
import { compressBuffer } from '../debian/compress.ts';
import { signRelease } from '../sign/signer.ts';
import { ourReleaseText, snapshotsUrl } from '../snapshot/release-file.ts';
import { writeManifest } from '../snapshot/manifest.ts';
import { prepareProvenance, type PublishedPackagesIndex } from '../provenance/record.ts';
import { proofComponent } from '../proof/manifest.ts';
import { Catalog, type PackageRow, type PoolFile } from '../catalog/uploads.ts';
import { buildUploadsProof } from './proof.ts';
import { repositorySuites } from './suites.ts';

export type RepoPublishDeps = Pick<Services, 'config' | 'repo' | 'store' | 'publisher' | 'key' | 'log' | 'now' | 'db'>;

export interface RepoPublishResult {
  repository: string;
  serial: string;
  validUntil: string;
  packages: number;
}

/** The URL of a repository in the `archives` table (it has no upstream). */
export function repositoryUrl(name: string): string {
  return `upload:${name}`;
}

/**
 * Publishes the repository's next serial from its catalog. The caller holds the repository's
 * archive lock (the `upload` and `suite.*` operations declare it, server/ops/kinds/uploads.ts):
 * no freeze, thaw, gc sweep or other writer of the repository meanwhile.
 */
export async function publishRepository(d: RepoPublishDeps, cfg: RepositoryConfig, actor: string): Promise<RepoPublishResult> {
  const name = cfg.name;
  const catalog = new Catalog(d.db);
  let serial: string | undefined;
  let staging: string | undefined;
  try {
    d.repo.ensureArchive(name, repositoryUrl(name), d.now());
    serial = d.repo.allocateSerial(name, d.now());
    const createdAt = d.now();
    const validUntil = new Date(createdAt.getTime() + d.config.lifetimeMs);
    const suites = repositorySuites(catalog, cfg).map((s) => s.suite);
    const archs = cfg.architectures.filter((a) => a !== 'all');
    const links: TreeLink[] = [];
    const files: TreeFile[] = [];
    const pool = new Map<string, PoolFile>();
    const held = new Map<number, PackageRow>();
    const provenance: PublishedPackagesIndex[] = [];
    const bySuite = new Map<string, PackageRow[]>();
    // One consistent read of the catalog: the uploads up to `upTo` are the ones this serial publishes.
    const upTo = d.db.transaction(() => {
      for (const suite of suites) bySuite.set(suite, catalog.suitePackages(name, suite));
      return catalog.lastUploadId(name);
    }).immediate();
    for (const rows of bySuite.values()) {
      for (const r of rows) {
        held.set(r.id, r);
        for (const f of JSON.parse(r.files) as PoolFile[]) pool.set(f.path, f);
      }
    }
    const proof = await buildUploadsProof(d, cfg, serial, createdAt, [...held.values()]);
    for (const suite of suites) {
      const rows = bySuite.get(suite)!;
      const entries: ReleaseFileEntry[] = [];
      const add = async (path: string, data: Buffer) => {
        const ref = await d.store.putBuffer(data);
        entries.push({ path, hash: ref.sha256, size: ref.size });
        return ref;
      };
      for (const component of cfg.components) {
        for (const arch of archs) {
          // Architecture: all packages are listed in every architecture's index, as dak does without binary-all.
          const stanzas = rows.filter((r) => r.kind === 'binary' && r.component === component && (r.architecture === arch || r.architecture === 'all'));
          const text = Buffer.from(stanzas.map((r) => r.stanza).join('\n'));
          const plain = await add(`${component}/binary-${arch}/Packages`, text);
          await add(`${component}/binary-${arch}/Packages.gz`, await compressBuffer('gz', text));
          provenance.push({
            suite,
            component,
            archDir: `binary-${arch}`,
            parsedPath: `${component}/binary-${arch}/Packages`,
            parsedSha256: plain.sha256,
            filter: null,
            listed: stanzas.map((r) => ({ package: r.name, version: r.version, architecture: r.architecture, sha256: r.sha256, size: r.size, filename: r.filename })),
          });
        }
        const sources = Buffer.from(rows.filter((r) => r.kind === 'source' && r.component === component).map((r) => r.stanza).join('\n'));
        await add(`${component}/source/Sources`, sources);
        await add(`${component}/source/Sources.gz`, await compressBuffer('gz', sources));
      }
      for (const e of proof.indexEntries(archs)) entries.push(e);
      for (const e of entries) {
        links.push({ path: `dists/${suite}/${e.path}`, sha256: e.hash, size: e.size });
        links.push({ path: `dists/${suite}/${e.path.slice(0, e.path.lastIndexOf('/'))}/by-hash/SHA256/${e.hash}`, sha256: e.hash, size: e.size });
      }
      const fields: Array<[string, string]> = [
        ['Origin', name],
        ['Label', name],
        ['Suite', suite],
        ['Codename', suite],
        ['Date', formatDebianDate(createdAt)],
        ['Architectures', archs.join(' ')],
        ['Components', cfg.components.join(' ')],
        ['Description', `aptfreeze repository ${name}, suite ${suite}`],
      ];
      const text = ourReleaseText(fields, dedupeEntries(entries), { archive: name, validUntil, extraComponents: [proofComponent], snapshots: snapshotsUrl(d.config.baseUrl, name) });
      const signed = await signRelease(d.key, text);
      files.push({ path: `dists/${suite}/Release`, data: text });
      files.push({ path: `dists/${suite}/Release.gpg`, data: signed.releaseGpg });
      files.push({ path: `dists/${suite}/InRelease`, data: signed.inRelease });
    }
    links.push({ path: 'proof.deb', sha256: proof.blob.sha256, size: proof.blob.size });
    for (const f of pool.values()) links.push(f);
    const unique = [...new Map(links.map((l) => [l.path, l])).values()];
    const manifestBlob = await writeManifest(d.store, { tree: unique, extra: proof.extra });
    const staged = await d.publisher.stage(name, serial, unique, files);
    staging = staged.dir;
    await d.publisher.commit(name, serial, staging);
    staging = undefined;
    const previousSerial = d.repo.latestSerial(name);
    const record = await prepareProvenance(d.store, { repo: d.repo, archive: name, serial, previousSerial, indices: provenance });
    const publishedAt = d.now();
    const published = serial;
    d.repo.markPublished(
      name,
      serial,
      { validUntil, publishedAt, manifest: manifestBlob.sha256, stats: { suites: suites.length, packages: held.size, poolFiles: pool.size } },
      suites.map((suite) => ({ suite, release_date: createdAt.toISOString(), upstream_sha256: sha256(files.find((f) => f.path === `dists/${suite}/InRelease`)!.data), signers: '[]', fetched_at: createdAt.toISOString() })),
      (db) => {
        record(db);
        new Catalog(db).setSerial(name, published, upTo);
        d.repo.appendAudit({ actor, action: 'repository.publish', target: `${name}/${published}`, after: { state: 'live', validUntil: validUntil.toISOString(), packages: held.size } }, publishedAt);
      },
    );
    await d.publisher.setLatest(name, d.repo.latestSerial(name), publishedAt);
    d.log.info({ repository: name, serial, packages: held.size }, 'repository serial published');
    return { repository: name, serial, validUntil: validUntil.toISOString(), packages: held.size };
  } catch (e) {
    const err = asAptfreezeError(e);
    if (staging) await d.publisher.discard(staging).catch(() => {});
    if (serial) {
      try {
        d.repo.markFailed(name, serial, `${err.code}: ${err.message}`);
      } catch {
        // left pending: crash recovery marks it failed at the next start
      }
      const state = d.repo.getSerial(name, serial)?.state;
      if (state === 'failed' || state === 'pending') await d.publisher.removeSerial(name, serial).catch(() => {});
    }
    d.log.error({ repository: name, serial, code: err.code }, err.message);
    throw err;
  }
}

function dedupeEntries(entries: ReleaseFileEntry[]): ReleaseFileEntry[] {
  return [...new Map(entries.map((e) => [e.path, e])).values()];
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
