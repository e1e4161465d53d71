import { closeSync, openSync, writeSync } from 'node:fs';

/** Fills the file system holding `file` to its last block by writing it (remove it to get the space back). */
export function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  let chunk = 1 << 20;
  const buf = Buffer.alloc(chunk, 0x5a);
  try {
    for (;;) {
      try {
        writeSync(fd, buf, 0, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        if (chunk <= 512) break;
        chunk >>= 1;
      }
    }
  } finally {
    closeSync(fd);
  }
}
