// The service under test, for end-to-end tests: a data directory, an aptfreeze.yaml,
// the in-process daemon on 127.0.0.1 (port 0) and the real CLI as a subprocess.
import { writeFile, mkdir } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { loadConfigFile } from '../../server/config/load.ts';
import { openServices, type Services } from '../../server/services.ts';
import { startDaemon, type Daemon } from '../../server/main.ts';
import { silentLogger } from '../../server/log.ts';
import { runCommand } from './run.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const binPath = join(repoRoot, 'bin', 'aptfreeze.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `aptfreeze` bin (through run.ts, the one subprocess helper). */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<CliResult> {
  return runCommand(process.execPath, [binPath, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, APTFREEZE_LOG: 'warn', ...opts.env },
    timeoutMs: opts.timeoutMs,
  });
}

export interface ServiceHarness {
  dir: string;
  dataDir: string;
  configPath: string;
  config: Record<string, unknown>;
  /** The daemon's URL (http://127.0.0.1:<port>), once started. */
  url: string;
  services: Services;
  daemon: Daemon;
  cli(args: string[], env?: Record<string, string | undefined>): Promise<CliResult>;
  /** Rewrites aptfreeze.yaml and restarts the in-process daemon with it. */
  reconfigure(patch: (c: Record<string, unknown>) => void): Promise<void>;
  close(): Promise<void>;
}

/** Writes the config, opens the services and starts the daemon (no schedule). */
export async function startService(dir: string, config: Record<string, unknown>, opts: { now?: () => Date } = {}): Promise<ServiceHarness> {
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'aptfreeze.yaml');
  await mkdir(dir, { recursive: true });
  const h = {
    dir,
    dataDir,
    configPath,
    config: { listen: '127.0.0.1:0', fetch: { retries: 1, backoffMs: 10 }, ...config },
  } as unknown as ServiceHarness;
  const start = async () => {
    await writeFile(configPath, YAML.stringify(h.config));
    const cfg = loadConfigFile(configPath);
    h.services = await openServices({ config: cfg, dataDir, log: silentLogger, now: opts.now });
    h.daemon = await startDaemon(h.services, { schedule: false });
    h.url = h.daemon.url;
  };
  await start();
  h.cli = (args, env) => runCli(['--config', configPath, '--data', dataDir, ...args], { env });
  h.reconfigure = async (patch) => {
    await h.daemon.stop();
    h.services.close();
    patch(h.config);
    await start();
  };
  h.close = async () => {
    await h.daemon.stop();
    h.services.close();
  };
  return h;
}
