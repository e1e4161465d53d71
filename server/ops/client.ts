import { AptfreezeError, errorCodes, type ErrorCode } from '../errors.ts';
import type { OperationView, Outcome, Progress, SubmitRequest } from './operation.ts';
import type { OperationRunner } from './runner.ts';

/**
 * How the HTTP API, the schedules and the CLI hand a mutation to the runner:
 * in this process (localOps), or through the daemon's control socket
 * (control.ts, remoteOps) from an HTTP worker or a CLI beside the daemon.
 */
export interface OpsClient {
  /** Recorded and started (pending); CONFLICT or BAD_REQUEST are thrown. */
  submit(req: SubmitRequest): Promise<OperationView>;
  /** Submits and waits for the end, following its progress. A failed operation is returned, not thrown. */
  run(req: SubmitRequest, onProgress?: (p: Progress) => void): Promise<Outcome>;
}

export function localOps(runner: OperationRunner): OpsClient {
  return {
    submit: async (req) => runner.submit(req),
    run: async (req, onProgress) => {
      const op = runner.submit(req);
      const stop = onProgress ? runner.watch(op.id, onProgress) : () => {};
      try {
        return await runner.whenDone(op.id);
      } finally {
        stop();
      }
    },
  };
}

/** The result of a finished operation, or its error thrown with its code (as the operation's own call would). */
export function resultOf<T = unknown>(o: Outcome): T {
  if (o.op.error) throw errorFrom(o.op.error, o.op.id);
  return o.result as T;
}

export function errorFrom(e: { code: string; message: string }, operation?: string): AptfreezeError {
  const code = (e.code in errorCodes ? e.code : 'INTERNAL') as ErrorCode;
  return new AptfreezeError(code, e.message, operation ? { details: { operation } } : {});
}
