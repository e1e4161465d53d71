import type { Command } from 'commander';
import type { GlobalOptions } from './context.ts';

/** The auditor's verbs (verify, provenance). */
export function register(_program: Command, _globals: () => GlobalOptions): void {}
