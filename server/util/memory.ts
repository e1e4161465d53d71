import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | null | undefined;

/**
 * A full garbage collection now. A snapshot at Debian scale leaves ~100 MB
 * of garbage (a parsed 50 MB index, 60,000 references, the proof's buffers)
 * that V8 would keep, and keep counted in the daemon's RSS, until its heap
 * limit grows into it: collecting it between the snapshot's big steps and
 * after the snapshot keeps the daemon's peak and resting memory near its
 * working set. Costs tens of milliseconds; a no-op where the flag can't be set.
 */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose_gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  gcFn?.();
}
