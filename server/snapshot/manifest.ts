import type { BlobRef, BlobStore } from '../store/store.ts';
import type { TreeLink } from '../publish/tree.ts';
import { AptfreezeError } from '../errors.ts';
import { loadRefs, blobReader, type ReadBlob } from './refs.ts';

/**
 * Every store blob a serial holds: its tree's hard links, and blobs kept
 * outside the tree (upstream Release files, the keyring, full upstream
 * indices, the proof manifest; their paths start with '@'). Stored itself as
 * a blob, so an unchanged serial costs one line in the database and gc reads
 * one file per remaining serial.
 *
 * Pool files are not listed one by one: a line `@refs/<suite>/<index>` names
 * the refs blob of each parsed index (refs.ts; lines `@refs-chain/...` name
 * the bases a delta refs blob patches, so that they count as referenced), and
 * readManifest expands them into the tree. A manifest stays a few kilobytes
 * at Debian scale. Manifests written before (one `pool/...` line per file)
 * read the same.
 */
export interface SerialManifest {
  tree: TreeLink[];
  extra: TreeLink[];
}

export const refsPrefix = '@refs/';
export const refsChainPrefix = '@refs-chain/';

export async function writeManifest(store: BlobStore, m: SerialManifest): Promise<BlobRef> {
  const lines: string[] = [];
  const sorted = (xs: TreeLink[]) => [...xs].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const l of sorted(m.tree)) lines.push(`${l.sha256} ${l.size} ${l.path}`);
  for (const l of sorted(m.extra)) lines.push(`${l.sha256} ${l.size} ${l.path}`);
  return store.putBuffer(Buffer.from(lines.join('\n') + '\n'));
}

/** The manifest as written: refs heads are left in `extra`, not expanded. */
export function parseManifest(text: string, sha256: string): SerialManifest {
  const m: SerialManifest = { tree: [], extra: [] };
  for (const line of text.split('\n')) {
    if (!line) continue;
    const i = line.indexOf(' ');
    const j = line.indexOf(' ', i + 1);
    if (i !== 64 || j < 0) throw new AptfreezeError('MALFORMED', `serial manifest ${sha256}: bad line`);
    const l = { sha256: line.slice(0, i), size: Number(line.slice(i + 1, j)), path: line.slice(j + 1) };
    (l.path.startsWith('@') ? m.extra : m.tree).push(l);
  }
  return m;
}

/** The manifest with every pool file its refs name in `tree` (one entry per path). */
export async function expandManifest(m: SerialManifest, read: ReadBlob): Promise<SerialManifest> {
  const heads = m.extra.filter((l) => l.path.startsWith(refsPrefix));
  if (!heads.length) return m;
  const tree = new Map<string, TreeLink>();
  for (const l of m.tree) tree.set(l.path, l);
  for (const h of heads) for (const r of (await loadRefs(read, h.sha256)).refs.values()) tree.set(r.path, r);
  return { tree: [...tree.values()], extra: m.extra };
}

export async function readManifest(store: BlobStore, sha256: string, opts: { expand?: boolean } = {}): Promise<SerialManifest> {
  const m = parseManifest((await store.read(sha256)).toString('utf8'), sha256);
  return opts.expand === false ? m : expandManifest(m, blobReader(store));
}

/** Every blob hash a manifest holds, pool files included. */
export async function manifestBlobs(read: ReadBlob, sha256: string, into: Set<string>): Promise<void> {
  const m = await expandManifest(parseManifest((await read(sha256)).toString('utf8'), sha256), read);
  for (const l of m.tree) into.add(l.sha256);
  for (const l of m.extra) into.add(l.sha256);
}
