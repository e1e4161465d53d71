import { randomBytes } from 'node:crypto';

/**
 * The names of the published tree's internal entries: the only place that spells them
 * (test/ownership.test.ts fails when they appear outside server/publish/). No I/O here.
 *
 *   <archive>/<serial>/                 a published serial (ten digits)
 *   <archive>/latest -> <serial>        the alias, replaced through `.latest-<rand>`
 *   <archive>/.staging-<serial>-<rand>/ a serial being built (never served: a dot name)
 *   <archive>/.pools/<id>/              shared pool trees; <serial>/pool -> ../.pools/<id>
 *   <archive>/.pools/.tmp-<rand>/       a pool tree being built
 *   <archive>/.pools/.trash-<id>-<rand> a pool tree gc renamed aside, being removed
 *   <file>.tmp-<rand>                   a file being replaced (util/atomic-write.ts)
 */
const POOLS = '.pools';
const STAGING = '.staging-';
const LATEST_TMP = '.latest-';
const TMP = '.tmp-';
const TRASH = '.trash-';

const rand = (): string => randomBytes(4).toString('hex');

/** The directory of an archive that holds its pool trees. */
export const poolsDirName = POOLS;

/** What a serial's `pool` symlink holds for pool tree `id`. */
export function poolLinkTarget(id: string): string {
  return `../${POOLS}/${id}`;
}

/** The pool tree id a `pool` symlink names, or null when it is not of that form (`strict`: a 32-hex id). */
export function parsePoolLink(target: string, strict = true): string | null {
  const m = (strict ? /^\.\.\/\.pools\/([0-9a-f]{32})$/ : /^\.\.\/\.pools\/([^/]+)$/).exec(target);
  return m ? m[1]! : null;
}

export function stagingName(serial: string): string {
  return `${STAGING}${serial}-${rand()}`;
}

export function latestTempName(): string {
  return `${LATEST_TMP}${rand()}`;
}

export function poolTempName(): string {
  return `${TMP}${rand()}`;
}

export function poolTrashName(id: string): string {
  return `${TRASH}${id}-${rand()}`;
}

/** The temp name a file is written under before its rename over `path` (util/atomic-write.ts). */
/** A tag's tree being built, beside the published tags (a dot name: never served). */
export function tagStagingName(tag: string): string {
  return `${STAGING}${tag}-${rand()}`;
}

/** A tag's tree being removed (renamed aside first, so its URLs go at once). */
export function tagTrashName(tag: string): string {
  return `${TRASH}${tag}-${rand()}`;
}

export function tempFileFor(path: string): string {
  return `${path}${TMP}${rand()}`;
}

/** A file left by an interrupted atomic write (`<name>.tmp-<hex>`). */
export function isTempFile(name: string): boolean {
  return /\.tmp-[0-9a-f]+$/.test(name);
}

/** A serial's tree, or one being built: the entries of an archive whose `pool` link counts as a use. */
export function linksPools(name: string): boolean {
  return /^\d{10}$/.test(name) || name.startsWith(STAGING);
}

/** What an entry of an archive's directory is. */
export type ArchiveEntry = 'serial' | 'latest' | 'project' | 'tags' | 'pools' | 'leftover' | 'other';

export function archiveEntry(name: string): ArchiveEntry {
  if (/^\d{10}$/.test(name)) return 'serial';
  if (name === 'latest' || name === 'project' || name === 'tags') return name;
  if (name === POOLS) return 'pools';
  if (name.startsWith(STAGING) || name.startsWith(LATEST_TMP) || name.startsWith(TMP)) return 'leftover';
  return 'other';
}

/** What an entry of `.pools/` is: a pool tree, or one being built or removed. */
export function poolEntry(name: string): 'pool' | 'building' | 'trash' | 'other' {
  if (name.startsWith(TMP)) return 'building';
  if (name.startsWith(TRASH)) return 'trash';
  if (name.startsWith('.')) return 'other';
  return 'pool';
}
