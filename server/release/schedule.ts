import cron from 'node-cron';
import type { GcDeps, GcReport } from './gc.ts';
import type { OpsClient } from '../ops/client.ts';
import { asAptfreezeError } from '../errors.ts';

/** How often, and how many times, `serve` tries the store sweep again when a snapshot was running. */
const sweepRetryMs = 10 * 60_000;
const sweepRetries = 12;

/**
 * The daemon's gc: on `gcSchedule` (daily by default), as an operation. When
 * the store sweep was skipped because a snapshot was running (see gc.ts), it
 * tries again every 10 minutes, up to 12 times; collecting serials never
 * waits. A gc refused because another holds the store (CONFLICT) waits for
 * the next tick.
 */
export function scheduleGc(s: Pick<GcDeps, 'config' | 'log'>, ops: OpsClient): { stop(): void; tick(): Promise<void> } {
  let retry: NodeJS.Timeout | undefined;
  const run = async (attempt: number) => {
    try {
      const { op, result } = await ops.run({ kind: 'gc', params: {}, actor: 'schedule' });
      if (op.error) {
        s.log.error({ operation: op.id, code: op.error.code, err: op.error.message }, 'scheduled gc failed; trying again at the next tick');
        return;
      }
      const r = result as GcReport;
      if (!r.store.swept && attempt < sweepRetries) {
        s.log.warn({ reason: r.store.skipped, attempt }, 'gc: store sweep skipped; trying again later');
        retry = setTimeout(() => void run(attempt + 1), sweepRetryMs);
        retry.unref();
      }
    } catch (e) {
      const err = asAptfreezeError(e);
      s.log.error({ code: err.code, err: err.message }, 'scheduled gc failed; trying again at the next tick');
    }
  };
  const tick = async () => {
    clearTimeout(retry);
    await run(0);
  };
  const task = cron.schedule(s.config.gcSchedule, tick, { noOverlap: true, name: 'gc' });
  return {
    tick,
    stop() {
      clearTimeout(retry);
      void task.stop();
    },
  };
}
