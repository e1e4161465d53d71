import type { Command } from 'commander';
import type { GlobalOptions } from './context.ts';

/** Release management verbs (freeze, thaw, gc, tokens, audit, pins, diff). */
export function register(_program: Command, _globals: () => GlobalOptions): void {}
