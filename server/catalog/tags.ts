import type { Db } from './open.ts';
import { processAlive } from '../util/process.ts';

export interface TagRow {
  name: string;
  created_at: string;
  created_by: string;
  build_manifest: string;
}

export interface TagArchiveRow {
  tag: string;
  archive: string;
  serial: string;
  manifest_sha256: string;
  binaries: number;
  sources: number;
  bytes: number;
}

/** The SQL of tags (migrations/007_tags.sql), kept beside the module that owns them, as catalog/release.ts is. */
export class TagRepo {
  constructor(readonly db: Db) {}

  get(name: string): TagRow | undefined {
    return this.db.prepare('SELECT * FROM tags WHERE name = ?').get(name) as TagRow | undefined;
  }

  list(): TagRow[] {
    return this.db.prepare('SELECT * FROM tags ORDER BY name').all() as TagRow[];
  }

  archives(name: string): TagArchiveRow[] {
    return this.db.prepare('SELECT * FROM tag_archives WHERE tag = ? ORDER BY archive').all(name) as TagArchiveRow[];
  }

  /** Tags that cover an archive (a pin or sources line `tag:<name>` needs the archive covered). */
  archiveOf(name: string, archive: string): TagArchiveRow | undefined {
    return this.db.prepare('SELECT * FROM tag_archives WHERE tag = ? AND archive = ?').get(name, archive) as TagArchiveRow | undefined;
  }

  insert(tag: TagRow, archives: TagArchiveRow[]): void {
    this.db.prepare('INSERT INTO tags (name, created_at, created_by, build_manifest) VALUES (?, ?, ?, ?)').run(tag.name, tag.created_at, tag.created_by, tag.build_manifest);
    const ins = this.db.prepare('INSERT INTO tag_archives (tag, archive, serial, manifest_sha256, binaries, sources, bytes) VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (const a of archives) ins.run(a.tag, a.archive, a.serial, a.manifest_sha256, a.binaries, a.sources, a.bytes);
  }

  /** Whether a live process holds a lock. */
  lockHeld(name: string): boolean {
    const row = this.db.prepare('SELECT pid FROM locks WHERE name = ?').get(name) as { pid: number } | undefined;
    return row !== undefined && processAlive(row.pid);
  }

  /** Returns whether the tag was there. */
  delete(name: string): boolean {
    return this.db.prepare('DELETE FROM tags WHERE name = ?').run(name).changes === 1;
  }
}
