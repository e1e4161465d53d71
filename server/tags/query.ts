import type { Services } from '../services.ts';
import { TagRepo } from '../catalog/tags.ts';

export type TagView = NonNullable<ReturnType<typeof describeTag>>;

/** A tag as the API and the CLI show it: per archive the serial it came from, package counts, pool bytes, its URL. */
export function describeTag(s: Pick<Services, 'db' | 'config'>, name: string) {
  const tags = new TagRepo(s.db);
  const row = tags.get(name);
  if (!row) return undefined;
  const archives = tags.archives(name).map((a) => ({
    archive: a.archive,
    serial: a.serial,
    binaries: a.binaries,
    sources: a.sources,
    bytes: a.bytes,
    url: `${s.config.baseUrl}/${a.archive}/tags/${name}/`,
  }));
  return {
    name: row.name,
    createdAt: row.created_at,
    createdBy: row.created_by,
    buildManifest: row.build_manifest,
    archives,
    binaries: archives.reduce((n, a) => n + a.binaries, 0),
    bytes: archives.reduce((n, a) => n + a.bytes, 0),
  };
}

export function listTags(s: Pick<Services, 'db' | 'config'>): TagView[] {
  return new TagRepo(s.db).list().map((r) => describeTag(s, r.name)!);
}
