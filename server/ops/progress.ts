import type { Progress } from './operation.ts';

/**
 * An operation's progress, passed on at most every `everyMs` (an urgent report, a new step, at
 * once; the last one kept is passed on by `flush`, before the outcome). A first snapshot reports
 * every pool file and every body slice it downloads, tens of thousands a second: passed on one by
 * one, that was a message to the daemon (from its operations thread) or a database update (an
 * operation run inline by the CLI) for each.
 */
export function progressThrottle(sink: (p: Progress) => void, everyMs = 250) {
  let last = 0;
  let pending: Progress | null = null;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending) sink(pending);
    pending = null;
    last = Date.now();
  };
  return {
    send(p: Progress, urgent = false) {
      pending = p;
      if (urgent || Date.now() - last >= everyMs) flush();
      else timer ??= setTimeout(flush, everyMs);
    },
    flush,
  };
}
