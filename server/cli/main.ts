// The command line's entry. `serials <archive>` in its plain form skips commander (fast-serials.ts;
// README "Performance"); every other command line, --help and every error of usage go through the
// commander program (program.ts), as before.
import v8 from 'node:v8';
import { reportFailure } from './exit.ts';
import { fastSerials } from './fast-serials.ts';

/** Exit 0 on success; one line `aptfreeze: CODE: message` on stderr and a non-zero status on failure. */
export async function main(argv: string[]): Promise<void> {
  // V8 sized for memory rather than speed, before the heap grows: a snapshot at Debian scale makes
  // ~100 MB of short-lived garbage (a 50 MB index scanned, 60,000 references), and V8's default
  // growth keeps that much heap committed; measured on the 60,000-package bench, see README
  // "Performance". Set here, first thing of the full program (bin/aptfreeze.js did it before the
  // lean front existed: node:v8 loads the stream modules, which a cached `serials` never needs).
  // APTFREEZE_V8_DEFAULTS=1 keeps V8's defaults.
  if (process.env['APTFREEZE_V8_DEFAULTS'] !== '1') v8.setFlagsFromString('--optimize-for-size');
  try {
    if (await fastSerials(argv)) return;
    const { buildProgram, CommanderError } = await import('./program.ts');
    const program = buildProgram();
    try {
      await program.parseAsync(argv);
    } catch (e) {
      if (e instanceof CommanderError) {
        process.exitCode = e.exitCode === 0 ? 0 : 2;
        return;
      }
      throw e;
    }
  } catch (e) {
    reportFailure(e);
  }
}
