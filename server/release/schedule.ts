import cron from 'node-cron';
import type { GcDeps } from './gc.ts';
import { runGc } from './gc.ts';

/** How often, and how many times, `serve` tries the store sweep again when a snapshot was running. */
const sweepRetryMs = 10 * 60_000;
const sweepRetries = 12;

/**
 * The daemon's gc: on `gcSchedule` (daily by default). When the store sweep
 * was skipped because a snapshot was running (see gc.ts), it tries again
 * every 10 minutes, up to 12 times; collecting serials never waits.
 */
export function scheduleGc(s: GcDeps): { stop(): void } {
  let retry: NodeJS.Timeout | undefined;
  const run = async (attempt: number) => {
    try {
      const r = await runGc(s, { actor: 'schedule' });
      if (!r.store.swept && attempt < sweepRetries) {
        s.log.warn({ reason: r.store.skipped, attempt }, 'gc: store sweep skipped; trying again later');
        retry = setTimeout(() => void run(attempt + 1), sweepRetryMs);
        retry.unref();
      }
    } catch (e) {
      s.log.error({ err: (e as Error).message }, 'scheduled gc failed; trying again at the next tick');
    }
  };
  const task = cron.schedule(
    s.config.gcSchedule,
    async () => {
      clearTimeout(retry);
      await run(0);
    },
    { noOverlap: true, name: 'gc' },
  );
  return {
    stop() {
      clearTimeout(retry);
      void task.stop();
    },
  };
}
