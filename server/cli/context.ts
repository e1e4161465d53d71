// What the verbs share: the global options and how a verb opens the data directory. Every module
// a verb needs beyond commander is imported when its action runs (`await import()`), so that the
// program's set-up (and `--help`) loads no more than the verb definitions; scripts/build.mjs
// splits the bundle along these imports.
import type { Config } from '../config/load.ts';
import type { Services } from '../services.ts';
import { existsSync } from 'node:fs';
import { AptfreezeError } from '../errors.ts';
import { dataLayout } from '../datadir.ts';
import { cachedConfig, rememberConfig } from '../config/cache.ts';

export interface GlobalOptions {
  config?: string;
  data?: string;
}

/**
 * --config / APTFREEZE_CONFIG (explicit: must exist), else ./aptfreeze.yaml, else the host's APT sources.
 * A configuration file validated before by this build, byte for byte, comes from the data directory's
 * cache (config/cache.ts: no yaml, zod or node-cron to load, about a tenth of a short command's time);
 * a fresh load is remembered there once the data directory has its catalog.
 */
export async function configFrom(g: GlobalOptions): Promise<Config> {
  const explicitPath = g.config || process.env['APTFREEZE_CONFIG'] || undefined;
  const layout = dataLayout(dataDirFrom(g));
  const cached = cachedConfig(layout.configCache, explicitPath);
  if (cached.config) return cached.config;
  const { loadConfig } = await import('../config/load.ts');
  const config = loadConfig({ explicitPath, aptEtcDir: process.env['APTFREEZE_APT_ETC'] || undefined });
  if (existsSync(layout.db)) rememberConfig(layout.configCache, explicitPath, cached.key, config);
  return config;
}

export function dataDirFrom(g: GlobalOptions): string {
  return g.data || process.env['APTFREEZE_DATA'] || './data';
}

/** The configuration with --listen <host:port> (if given) in place of its listen address. */
export function withListen(config: Config, listen: string | undefined): Config {
  if (!listen) return config;
  const m = /^(.+):(\d{1,5})$/.exec(listen);
  if (!m) throw new AptfreezeError('BAD_REQUEST', `--listen ${listen}: expected host:port`);
  return Object.freeze({ ...config, listen: Object.freeze({ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) }) });
}

export async function servicesFrom(g: GlobalOptions, opts: { makeAdminToken?: boolean; listen?: string; recover?: boolean } = {}): Promise<Services> {
  const config = withListen(await configFrom(g), opts.listen);
  const [{ openServices }, { createLogger }] = await Promise.all([import('../services.ts'), import('../log.ts')]);
  return openServices({ config, dataDir: dataDirFrom(g), log: createLogger(), makeAdminToken: opts.makeAdminToken, recover: opts.recover });
}

export async function withServices<T>(g: GlobalOptions, fn: (s: Services) => Promise<T>): Promise<T> {
  const s = await servicesFrom(g);
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}
