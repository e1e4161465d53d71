// The lean entry of the bundled command line (dist/lean.mjs, one file built without splitting by
// scripts/build.mjs; bin/aptfreeze.js starts it). It answers `serials <archive> [--json]` when the
// configuration is cached and the data directory is settled (cli/reader.ts) with better-sqlite3 as
// its only package and no chunk to resolve; every other command line, and that one whenever the
// lean open declines, goes to the full program (dist/aptfreeze.mjs), which then does everything as
// before (README "Performance"). It must stay small: scripts/build.mjs fails the build when it
// reaches any package but better-sqlite3.
import { parseSerialsArgs } from './fast-serials.ts';
import { cachedReader } from './reader.ts';
import { printSerials } from './serials.ts';
import { reportFailure } from './exit.ts';

type FullProgram = () => Promise<{ main(argv: string[]): Promise<void> }>;

/** Runs the command line: lean when it can, else the full program `full` loads. */
export async function main(argv: string[], full: FullProgram): Promise<void> {
  const serials = parseSerialsArgs(argv);
  if (serials) {
    try {
      const reader = await cachedReader(serials.globals);
      if (reader) {
        try {
          await printSerials(reader, serials.archive, { json: serials.json });
        } finally {
          if (reader.db.open) reader.db.close();
        }
        return;
      }
    } catch (e) {
      reportFailure(e);
      return;
    }
  }
  await (await full()).main(argv);
}
