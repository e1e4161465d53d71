import { asAptfreezeError } from '../errors.ts';

/**
 * The error of a failed operation as it is recorded and shown. A module of its own so that the
 * control socket's client (control.ts) does not load the registry and every operation's code.
 */
export function errorOf(e: unknown): { code: string; message: string } {
  const err = asAptfreezeError(e);
  return { code: err.code, message: err.message };
}
