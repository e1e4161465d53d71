import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Files and bytes in a filesystem store (`<store>/sha256/ab/<hash>`), walked synchronously: the
 * metrics scrape reads the store's usage without opening it (a process that only serves).
 */
export function fsStoreUsage(storeDir: string): { files: number; bytes: number } {
  const root = join(storeDir, 'sha256');
  let files = 0;
  let bytes = 0;
  let fans: string[] = [];
  try {
    fans = readdirSync(root);
  } catch {
    return { files, bytes };
  }
  for (const d of fans) {
    let names: string[] = [];
    try {
      names = readdirSync(join(root, d));
    } catch {
      continue;
    }
    for (const f of names) {
      try {
        bytes += statSync(join(root, d, f)).size;
        files++;
      } catch {
        // removed by gc meanwhile
      }
    }
  }
  return { files, bytes };
}
