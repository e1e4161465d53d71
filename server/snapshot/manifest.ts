import type { BlobRef, BlobStore } from '../store/store.ts';
import type { TreeLink } from '../publish/tree.ts';
import { AptfreezeError } from '../errors.ts';

/**
 * Every store blob a serial holds: its tree's hard links, and blobs kept
 * outside the tree (upstream Release files, the keyring, full upstream
 * indices, the proof manifest; their paths start with '@'). Stored itself as
 * a blob, so an unchanged serial costs one line in the database and gc reads
 * one file per remaining serial.
 */
export interface SerialManifest {
  tree: TreeLink[];
  extra: TreeLink[];
}

export async function writeManifest(store: BlobStore, m: SerialManifest): Promise<BlobRef> {
  const lines: string[] = [];
  const sorted = (xs: TreeLink[]) => [...xs].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const l of sorted(m.tree)) lines.push(`${l.sha256} ${l.size} ${l.path}`);
  for (const l of sorted(m.extra)) lines.push(`${l.sha256} ${l.size} ${l.path}`);
  return store.putBuffer(Buffer.from(lines.join('\n') + '\n'));
}

export async function readManifest(store: BlobStore, sha256: string): Promise<SerialManifest> {
  const text = (await store.read(sha256)).toString('utf8');
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
