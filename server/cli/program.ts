// The commander program: every verb's definition (each verb imports what it runs when its action runs).
import { Command, CommanderError } from 'commander';
import type { GlobalOptions } from './context.ts';
import * as serve from './serve.ts';
import * as snapshot from './snapshot.ts';
import * as serials from './serials.ts';
import * as sources from './sources.ts';
import * as releaseCommands from './release-commands.ts';
import * as provenanceCommands from './provenance-commands.ts';
import * as fsck from './fsck.ts';
import * as tag from './tag.ts';
import * as manifest from './manifest.ts';
import * as upload from './upload.ts';
import * as migrateStorage from './migrate-storage.ts';

export function buildProgram(): Command {
  const program = new Command('aptfreeze')
    .description('freezable APT snapshot repositories with a verifiable chain to the upstream signatures')
    .option('--config <file>', 'configuration file (default ./aptfreeze.yaml, then built-in defaults; env APTFREEZE_CONFIG)')
    .option('--data <dir>', 'data directory (default ./data; env APTFREEZE_DATA)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const globals = () => program.opts<GlobalOptions>();
  for (const m of [serve, snapshot, serials, sources, releaseCommands, provenanceCommands, fsck, tag, manifest, upload, migrateStorage]) m.register(program, globals);
  return program;
}

export { CommanderError };
