import type { OperationDef } from '../operation.ts';
import { AptfreezeError } from '../../errors.ts';
import { createTag, tagResources } from '../../tags/create.ts';
import { deleteTag, tagDeleteResources } from '../../tags/delete.ts';
import { parseBuildManifest } from '../../tags/build-manifest.ts';
import { checkTagName } from '../../tags/name.ts';
import type { TagView } from '../../tags/query.ts';
import { objectOf, stringOf } from './params.ts';

interface TagCreateParams {
  name: string;
  /** The build manifest: YAML or JSON text, or the parsed JSON value (as POST /api/tags takes it). */
  manifest: unknown;
}

/** The archives a checked manifest takes packages from, kept so the runner parses it once for its resources. */
const originsOf = new WeakMap<TagCreateParams, string[]>();

function archivesOf(p: TagCreateParams): string[] {
  let a = originsOf.get(p);
  if (!a) {
    a = [...parseBuildManifest(p.manifest).origins.keys()].sort();
    originsOf.set(p, a);
  }
  return a;
}

/**
 * A tag from a build manifest. Holds `tag:<name>` and every archive the manifest takes packages
 * from (tags/create.ts tagResources): a snapshot, freeze, thaw or gc sweep of one of them, or the
 * same tag made or deleted, meanwhile is CONFLICT. The name and the manifest are checked at
 * submission (BAD_REQUEST, MALFORMED), so a bad request is refused before anything is recorded.
 * Shown with its archive(s), comma-separated when the manifest names several.
 */
export const tagCreateOp: OperationDef<TagCreateParams, TagView> = {
  kind: 'tag.create',
  params(raw) {
    const o = objectOf(raw, 'tag.create', ['name', 'manifest']);
    if (o['manifest'] === undefined || o['manifest'] === null) throw new AptfreezeError('BAD_REQUEST', 'manifest: expected the build manifest (YAML text or JSON)');
    const p: TagCreateParams = { name: checkTagName(o['name']), manifest: o['manifest'] };
    archivesOf(p);
    return p;
  },
  archive: (p) => archivesOf(p).join(',') || undefined,
  resources: (p) => tagResources(p.name, { origins: new Map(archivesOf(p).map((a) => [a, ''])) }),
  run: async (s, p, ctx) => {
    ctx.progress({ step: 'build' }, true);
    return createTag(s, { name: p.name, manifest: p.manifest }, ctx.actor);
  },
  // The log keeps what the tag is, not the whole view again (GET /api/tags/<name> has it).
  record: (t) => ({ name: t.name, archives: t.archives.map((a) => ({ archive: a.archive, serial: a.serial })), binaries: t.binaries, bytes: t.bytes }),
};

/** Deleting a tag holds its name: its rows and audit entry in one transaction, then its trees (tags/delete.ts). */
export const tagDeleteOp: OperationDef<{ name: string }, TagView> = {
  kind: 'tag.delete',
  params(raw) {
    const o = objectOf(raw, 'tag.delete', ['name']);
    return { name: checkTagName(stringOf(o, 'name', 'tag.delete')) };
  },
  resources: (p) => tagDeleteResources(p.name),
  run: (s, p, ctx) => deleteTag(s, p.name, ctx.actor),
  record: (t) => ({ name: t.name, archives: t.archives.map((a) => ({ archive: a.archive, serial: a.serial })) }),
};
