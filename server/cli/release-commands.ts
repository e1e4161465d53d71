import type { Command } from 'commander';
import type { GlobalOptions } from './context.ts';
import * as freeze from './freeze.ts';
import * as gc from './gc.ts';
import * as tokens from './tokens.ts';
import * as audit from './audit.ts';
import * as pins from './pins.ts';
import * as diff from './diff.ts';

/**
 * Release management verbs (freeze, thaw, gc, tokens, audit, pins, diff).
 * Mutations act as `cli:<user>` (see actor.ts); pins talk to a server URL.
 */
export function register(program: Command, globals: () => GlobalOptions): void {
  freeze.register(program, globals);
  gc.register(program, globals);
  tokens.register(program, globals);
  audit.register(program, globals);
  diff.register(program, globals);
  pins.register(program);
}
