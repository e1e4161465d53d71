import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import { checkTagName } from './name.ts';
import { TagRepo } from '../catalog/tags.ts';
import { describeTag, type TagView } from './query.ts';

/** The lock a tag deletion holds: the tag's name (a creation or deletion of the same name meanwhile is CONFLICT). */
export function tagDeleteResources(name: string): string[] {
  return [`tag:${name}`];
}

/**
 * Deletes a tag: its rows and audit entry in one transaction, then its trees. Its blobs stay
 * in the store until the next gc finds nothing else listing them. A crash between the two
 * leaves a tree with no row, which a later creation of the same name removes first. Run as the
 * `tag.delete` operation, which holds `tagDeleteResources` while it runs.
 */
export async function deleteTag(s: Pick<Services, 'db' | 'repo' | 'publisher' | 'now' | 'config' | 'log'>, nameIn: unknown, actor: string): Promise<TagView> {
  const name = checkTagName(nameIn);
  const tags = new TagRepo(s.db);
  const view = describeTag(s, name);
  if (!view) throw new AptfreezeError('NOT_FOUND', `no tag ${name}`);
  const now = s.now();
  s.db.transaction(() => {
    tags.delete(name);
    s.repo.appendAudit({ actor, action: 'tag-delete', target: `tag/${name}`, before: { archives: Object.fromEntries(view.archives.map((a) => [a.archive, a.serial])) } }, now);
  }).immediate();
  for (const a of view.archives) await s.publisher.tags.remove(a.archive, name);
  s.log.info({ tag: name }, 'tag deleted');
  return view;
}
