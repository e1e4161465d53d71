import { promises as fsp, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import { checkRelativePath } from '../debian/paths.ts';
import type { BlobStore } from '../store/port.ts';
import { fsBlobFiles } from '../store/fs-links.ts';
import { signedNames, type TreeFile, type TreeLink } from './tree.ts';
import { tagStagingName, tagTrashName } from './layout.ts';

/**
 * A tag's published tree, beside the archive's serials:
 *
 *   <public>/<archive>/tags/<name>/{dists,pool,proof.deb}
 *   <public>/<archive>/tags/.staging-<name>-<rand>/   being built (never served: a dot name)
 *   <public>/<archive>/tags/.trash-<name>-<rand>/     being removed
 *
 * Built aside and renamed into place, like a serial (publish/tree.ts): a reader sees the whole
 * tag or none of it. Pool files are hard links into the store in the tag's own `pool/`
 * directory, not a shared pool tree: a tag is a build's few hundred packages, and a tree of
 * its own is never pruned by gc's pool step, which only looks at serials' trees.
 */
export function tagsDir(publicRoot: string, archive: string): string {
  return join(publicRoot, archive, 'tags');
}

export function tagDir(publicRoot: string, archive: string, name: string): string {
  return join(tagsDir(publicRoot, archive), name);
}

export async function stageTag(publicRoot: string, store: BlobStore, archive: string, name: string, links: TreeLink[], files: TreeFile[]): Promise<string> {
  for (const l of links) checkRelativePath(l.path, 'tag tree path');
  for (const f of files) checkRelativePath(f.path, 'tag tree path');
  const dir = join(tagsDir(publicRoot, archive), tagStagingName(name));
  const blobs = fsBlobFiles(store);
  await fsp.mkdir(dir, { recursive: true });
  try {
    const made = new Set<string>();
    for (const l of [...links].sort((a, b) => (a.path < b.path ? -1 : 1))) {
      const dest = join(dir, l.path);
      const d = dirname(dest);
      if (!made.has(d)) {
        await fsp.mkdir(d, { recursive: true });
        made.add(d);
      }
      blobs.linkSync(l.sha256, dest);
    }
    // Release files last, InRelease last of all: a half-built tree never looks signed.
    const order = (p: string) => signedNames.indexOf(p.split('/').pop() as (typeof signedNames)[number]);
    for (const f of [...files].sort((a, b) => order(a.path) - order(b.path))) {
      await fsp.mkdir(dirname(join(dir, f.path)), { recursive: true });
      await fsp.writeFile(join(dir, f.path), f.data, { flag: 'wx', mode: 0o644 });
    }
    return dir;
  } catch (e) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Renames a staged tag into place; refuses to replace a tag (CONFLICT). */
export async function commitTag(publicRoot: string, archive: string, name: string, staging: string): Promise<void> {
  const dest = tagDir(publicRoot, archive, name);
  if (existsSync(dest)) throw new AptfreezeError('CONFLICT', `tag ${name} of ${archive} is already published`);
  await fsp.rename(staging, dest);
}

/** Removes a tag's tree: renamed aside first (its URLs go at once), then deleted. */
export async function removeTag(publicRoot: string, archive: string, name: string): Promise<void> {
  const dest = tagDir(publicRoot, archive, name);
  if (!existsSync(dest)) return;
  const trash = join(tagsDir(publicRoot, archive), tagTrashName(name));
  await fsp.rename(dest, trash);
  await fsp.rm(trash, { recursive: true, force: true });
}

/**
 * Crash recovery of tag trees (at start, from services.ts): staging and trash directories, and
 * trees with no recorded tag (a creation killed between its rename and its record), unless a
 * live process holds that tag's lock (it may be creating it right now). `recorded` says which
 * tags the database holds for an archive; `busy` whether a tag's lock is held.
 */
export async function recoverTags(publicRoot: string, archive: string, recorded: (name: string) => boolean, busy: (name: string) => boolean): Promise<string[]> {
  const dir = tagsDir(publicRoot, archive);
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const entry of await fsp.readdir(dir)) {
    const m = /^\.(?:staging|trash)-(.+)-[0-9a-f]{8}$/.exec(entry);
    const name = m ? m[1]! : entry;
    if (busy(name) || (!m && recorded(name))) continue;
    await fsp.rm(join(dir, entry), { recursive: true, force: true });
    removed.push(`${archive}/tags/${entry}`);
  }
  return removed;
}

/** The tag trees of a published tree (`Publisher.tags`): the functions above with its root and store. */
export class TagTrees {
  constructor(
    private readonly root: string,
    private readonly store: BlobStore,
  ) {}

  /** Builds a tag's tree aside; returns the staging handle commit() and discard() take. */
  stage(archive: string, name: string, links: TreeLink[], files: TreeFile[]): Promise<string> {
    return stageTag(this.root, this.store, archive, name, links, files);
  }

  commit(archive: string, name: string, staging: string): Promise<void> {
    return commitTag(this.root, archive, name, staging);
  }

  /** Drops a staged tag that was never committed. */
  async discard(staging: string): Promise<void> {
    await fsp.rm(staging, { recursive: true, force: true });
  }

  remove(archive: string, name: string): Promise<void> {
    return removeTag(this.root, archive, name);
  }

  recover(archive: string, recorded: (name: string) => boolean, busy: (name: string) => boolean): Promise<string[]> {
    return recoverTags(this.root, archive, recorded, busy);
  }
}
