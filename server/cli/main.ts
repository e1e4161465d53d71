// The command line's entry. `serials <archive>` in its plain form skips commander (fast-serials.ts;
// README "Performance"); every other command line, --help and every error of usage go through the
// commander program (program.ts), as before.
import { asAptfreezeError } from '../errors.ts';
import { fastSerials } from './fast-serials.ts';

/** Exit 0 on success; one line `aptfreeze: CODE: message` on stderr and a non-zero status on failure. */
export async function main(argv: string[]): Promise<void> {
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
    const err = asAptfreezeError(e);
    process.stderr.write(`aptfreeze: ${err.code}: ${err.message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exitCode = 1;
  }
}
