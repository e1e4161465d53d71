// `aptfreeze [--config <file>] [--data <dir>] serials <archive> [--json]` without commander: the
// one reading verb that scripts run often (README "Performance"). Only that plain shape is taken
// here; anything else (--help, `--opt=value`, options after the archive other than --json, extra
// arguments, an archive starting with '-') returns false and goes through commander, so usage
// errors and help read exactly as before. The action is serials.ts's own.
import type { GlobalOptions } from './context.ts';

export interface SerialsArgs {
  globals: GlobalOptions;
  archive: string;
  json: boolean;
}

/** The plain `serials` command line, or null when commander should parse it. No imports: lean.ts uses it too. */
export function parseSerialsArgs(argv: string[]): SerialsArgs | null {
  const args = argv.slice(2);
  const g: GlobalOptions = {};
  let i = 0;
  while (i < args.length && (args[i] === '--config' || args[i] === '--data')) {
    const value = args[i + 1];
    if (value === undefined || value.startsWith('-')) return null;
    if (args[i] === '--config') g.config = value;
    else g.data = value;
    i += 2;
  }
  if (args[i] !== 'serials') return null;
  let archive: string | undefined;
  let json = false;
  for (const a of args.slice(i + 1)) {
    if (a === '--json' && !json) json = true;
    else if (!a.startsWith('-') && archive === undefined) archive = a;
    else return null;
  }
  if (archive === undefined) return null;
  return { globals: g, archive, json };
}

/** Runs `serials` when argv has its plain shape; false when commander should parse it. */
export async function fastSerials(argv: string[]): Promise<boolean> {
  const parsed = parseSerialsArgs(argv);
  if (!parsed) return false;
  const { listSerials } = await import('./serials.ts');
  await listSerials(parsed.globals, parsed.archive, { json: parsed.json });
  return true;
}
