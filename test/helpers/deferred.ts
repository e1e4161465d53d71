// Promises a test resolves by hand, and an upstream request held until the test lets it go: the
// ways a test waits for an event (never for time to pass).
import type { UpstreamServer } from './http-upstream.ts';

/** A promise and the function that resolves it. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Holds `up`'s requests whose path matches until released; `arrived` resolves at the first.
 * The request then goes on to be answered normally.
 */
export function hold(up: UpstreamServer, match: (path: string) => boolean): { arrived: Promise<void>; release(): void } {
  const arrived = deferred();
  const gate = deferred();
  up.fault = async (req) => {
    if (match(req.url ?? '')) {
      arrived.resolve();
      await gate.promise;
    }
    return false;
  };
  return {
    arrived: arrived.promise,
    release() {
      gate.resolve();
      up.fault = null;
    },
  };
}
