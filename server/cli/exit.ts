import { asAptfreezeError } from '../errors.ts';

/** The command line's failure: one line `aptfreeze: CODE: message` on stderr and exit status 1. */
export function reportFailure(e: unknown): void {
  const err = asAptfreezeError(e);
  process.stderr.write(`aptfreeze: ${err.code}: ${err.message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exitCode = 1;
}
