import type { Command } from 'commander';
import type { GlobalOptions } from './context.ts';
import * as verify from './verify.ts';
import * as provenance from './provenance.ts';

/** The auditor's verbs (verify, provenance). */
export function register(program: Command, globals: () => GlobalOptions): void {
  verify.register(program);
  provenance.register(program, globals);
}
