// A validated configuration kept beside the catalog, so that a command (cli/context.ts configFrom;
// the lean `serials` of cli/lean.ts) can skip yaml, zod and node-cron (about half of a short
// command's start-up; README "Performance"). The data directory
// comes from --data / APTFREEZE_DATA / ./data, never from the configuration, so the cache can sit in
// it: `<data>/config-cache.json` (datadir.ts), named in datadir.ts, written (util/atomic-write.ts) after a normal (full) load and used only when its key still
// matches: the configuration file's resolved path and exact bytes, and the build that validated it
// (the bundle's mtime; from the TypeScript sources there is no cache, the schema may have moved).
// What validation checks outside the file (every keyring readable) is checked again on each use; on
// any doubt the caller does the full load, which gives the same errors as before.
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './load.ts';
import { writeFileAtomicSync } from '../util/atomic-write.ts';

const format = 2;

/** The bundle's build stamp, or null when running from the sources. */
function buildStamp(): string | null {
  if (!import.meta.url.endsWith('.mjs')) return null;
  try {
    return String(statSync(fileURLToPath(new URL('./aptfreeze.mjs', import.meta.url))).mtimeMs);
  } catch {
    return null;
  }
}

function configPath(explicitPath: string | undefined): string {
  return explicitPath ? resolve(explicitPath) : resolve('aptfreeze.yaml');
}

function keyOf(path: string, explicitPath: string | undefined): string | null {
  const stamp = buildStamp();
  if (stamp === null) return null;
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch {
    return null;
  }
  // The file's bytes themselves, not a hash of them: a configuration is a few kilobytes, and
  // node:crypto would be the largest module a cached `serials` loads (cli/lean.ts).
  return `${format}\0${stamp}\0${path}\0${explicitPath ? 1 : 0}\0${text.toString('base64')}`;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/**
 * The configuration validated earlier from the same file by the same build (`config`), and the key
 * to remember a fresh load under (taken before that load reads the file, so an edit in between
 * only misses the cache).
 */
export function cachedConfig(cacheFile: string, explicitPath: string | undefined): { config?: Config; key: string | null } {
  const path = configPath(explicitPath);
  if (!existsSync(path)) return { key: null };
  const key = keyOf(path, explicitPath);
  if (key === null) return { key };
  try {
    const doc = JSON.parse(readFileSync(cacheFile, 'utf8')) as { key?: string; config?: Config };
    if (doc.key !== key || !doc.config) return { key };
    const config = doc.config;
    for (const a of config.archives) accessSync(a.keyring, constants.R_OK);
    for (const r of config.repositories) accessSync(r.uploaders.keyring, constants.R_OK);
    return { config: deepFreeze(config), key };
  } catch {
    return { key };
  }
}

/** Remembers a configuration loadConfig just validated from the file `key` was taken of; best effort, atomic (util/atomic-write.ts). */
export function rememberConfig(cacheFile: string, explicitPath: string | undefined, key: string | null, config: Config): void {
  if (key === null || config.file === null || config.file !== configPath(explicitPath)) return;
  try {
    writeFileAtomicSync(cacheFile, JSON.stringify({ key, config }), { mode: 0o600 });
  } catch {
    // a cache: a read-only data directory only costs the next run its speed
  }
}
