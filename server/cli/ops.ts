import { resolve } from 'node:path';
import { withServices, dataDirFrom, type GlobalOptions } from './context.ts';
import type { OpsClient } from '../ops/client.ts';
import type { RunnerDeps } from '../ops/runner.ts';
import type { Services } from '../services.ts';

/**
 * A CLI mutation goes to the daemon running on the same data directory (its
 * control socket), which runs and records it; only when no daemon answers
 * does the command run the runner itself, in this process. Either way the
 * operation is recorded, its locks are the same, and the command prints what
 * it printed before. With a daemon, the daemon's configuration applies and
 * the run's log lines are in the daemon's log.
 */
export async function withOps<T>(g: GlobalOptions, fn: (ops: OpsClient) => Promise<T>): Promise<T> {
  const { connectOps } = await import('../ops/control.ts');
  const remote = await connectOps(resolve(dataDirFrom(g)));
  if (remote) return fn(remote);
  return withServices(g, (s) => withLocalRunner(s, s, fn));
}

/**
 * As withOps, with the services of this process too: for a command that prepares files in the
 * data directory itself (an upload's session) before it hands the operation over.
 */
export async function withOpsAndServices<T>(g: GlobalOptions, fn: (ops: OpsClient, s: Services) => Promise<T>): Promise<T> {
  const { connectOps } = await import('../ops/control.ts');
  const remote = await connectOps(resolve(dataDirFrom(g)));
  return withServices(g, (s) => (remote ? fn(remote, s) : withLocalRunner(s, s, (ops) => fn(ops, s))));
}

/** Runs `fn` against a runner of this process over `deps` (the services, or fsck's own context). */
export async function withLocalRunner<D, T>(runnerDeps: RunnerDeps, deps: D, fn: (ops: OpsClient) => Promise<T>): Promise<T> {
  const [{ OperationRunner }, { InlineExecutor }, { localOps }] = await Promise.all([import('../ops/runner.ts'), import('../ops/executor.ts'), import('../ops/client.ts')]);
  const runner = new OperationRunner(runnerDeps, (events) => new InlineExecutor(deps, events));
  try {
    return await fn(localOps(runner));
  } finally {
    await runner.close();
  }
}
