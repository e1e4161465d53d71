import { readFileSync, existsSync, accessSync, constants } from 'node:fs';
import { resolve, dirname } from 'node:path';
import YAML from 'yaml';
import { AptfreezeError } from '../errors.ts';
import { configSchema, defaults, type ArchiveConfig, type RepositoryConfig, type StorageConfig, type CatalogConfig } from './schema.ts';
import { parseDuration } from './duration.ts';
import { readHostSources, hostArchitecture, archiveNameFor } from './host-sources.ts';

export interface FetchSettings {
  concurrency: number;
  retries: number;
  backoffMs: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  minRate: number;
  maxReleaseBytes: number;
  maxDecompressedBytes: number;
  maxRedirects: number;
}

export interface Config {
  /** The file it came from, or null when built from the host's APT sources. */
  readonly file: string | null;
  readonly listen: { readonly host: string; readonly port: number };
  readonly baseUrl: string;
  readonly lifetimeMs: number;
  readonly keep: number;
  readonly gcSchedule: string;
  readonly fetch: Readonly<FetchSettings>;
  /** The built-in server: `cacheBytes`, the byte budget of one process's serving caches. */
  readonly serve: { readonly cacheBytes: number };
  readonly archives: ReadonlyArray<Readonly<ArchiveConfig>>;
  /** Local archives whose packages are uploaded (server/uploads/). */
  readonly repositories: ReadonlyArray<Readonly<RepositoryConfig>>;
  /** Where blobs live (schema.ts storageSchema); a relative fs path is resolved against the config file. */
  readonly storage: Readonly<StorageConfig>;
  /** The publication catalog (schema.ts catalogSchema); a postgres URL comes from APTFREEZE_DATABASE_URL. */
  readonly catalog: Readonly<CatalogConfig>;
  /** Things the operator should read at start (e.g. how the default was built). */
  readonly notes: readonly string[];
}

/** Archive names that would shadow the service's own URL prefixes. */
// The service's own URL prefixes (the people's side: web pages, metrics, snapshot.debian.org's reads) too.
const reservedNames = new Set(['api', 'keys', 'archive', 'file', 'metrics', 'mr', 'web', 'upload']);

/** The packages a configuration made from the host's sources mirrors, so the first snapshot is small. */
export const defaultPackageFilter = ['base-files', 'hello', 'apt', 'dpkg', 'ca-certificates'];
/** How often the archives made from the host's sources are snapshotted: every 6 hours, at minute 0. */
export const defaultSchedule = '0 */6 * * *';
const defaultDebianKeyring = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface LoadOptions {
  /** Path given by --config or APTFREEZE_CONFIG; a missing explicit file is an error. */
  explicitPath?: string;
  /** Where to look when none was given. */
  defaultPath?: string;
  /** The host's APT configuration directory (tests point it at a fixture). */
  aptEtcDir?: string;
}

/**
 * Loads, validates and freezes the configuration once. Every problem is
 * collected and reported in one error naming the file, the key and what was
 * expected; nothing starts half-configured.
 */
export function loadConfig(opts: LoadOptions = {}): Config {
  const path = opts.explicitPath ? resolve(opts.explicitPath) : resolve(opts.defaultPath ?? 'aptfreeze.yaml');
  if (existsSync(path)) return loadConfigFile(path);
  if (opts.explicitPath) throw new AptfreezeError('CONFIG_INVALID', `${path}: configuration file not found (expected a readable YAML file)`);
  return configFromHost(opts.aptEtcDir ?? '/etc/apt');
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new AptfreezeError('CONFIG_INVALID', `${path}: cannot read the configuration (${(e as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text, { uniqueKeys: true });
  } catch (e) {
    throw new AptfreezeError('CONFIG_INVALID', `${path}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  return validate(doc ?? {}, path, dirname(path), []);
}

function validate(doc: unknown, file: string, baseDir: string, notes: string[], fromFile = true): Config {
  const problems: string[] = [];
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.join('.') || '(top level)';
      const message = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')} (expected one of the documented keys)` : issue.message;
      problems.push(`${key}: ${message}`);
    }
    throw new AptfreezeError('CONFIG_INVALID', `${file}: invalid configuration: ${problems.join('; ')}`, { details: { problems } });
  }
  const raw = parsed.data;
  const archives: ArchiveConfig[] = [];
  for (const [name, a] of Object.entries(raw.archives)) {
    if (reservedNames.has(name)) problems.push(`archives.${name}: the name is reserved for the service's own URLs (expected another name)`);
    const keyring = resolve(baseDir, a.keyring);
    try {
      accessSync(keyring, constants.R_OK);
    } catch {
      problems.push(`archives.${name}.keyring: ${keyring} is not a readable file (expected the upstream's keyring, binary or armored)`);
    }
    // A filtered archive keeps a handful of packages: whole Translation files would be most of what it
    // fetches and of its proof, so they are mirrored (filtered to the kept packages) only when asked.
    archives.push(Object.freeze({ ...a, keyring, name, translations: a.translations ?? !a.packages }));
  }
  const repositories: RepositoryConfig[] = [];
  for (const [name, r] of Object.entries(raw.repositories ?? {})) {
    if (reservedNames.has(name)) problems.push(`repositories.${name}: the name is reserved for the service's own URLs (expected another name)`);
    if (raw.archives[name]) problems.push(`repositories.${name}: an archive has the same name (expected one name per URL prefix)`);
    const keyring = resolve(baseDir, r.uploaders.keyring);
    try {
      accessSync(keyring, constants.R_OK);
    } catch {
      problems.push(`repositories.${name}.uploaders.keyring: ${keyring} is not a readable file (expected the uploaders' keyring, binary or armored)`);
    }
    r.uploaders.rules.forEach((rule, i) => {
      for (const who of [...rule.allow, ...rule.deny]) {
        if (who !== '*' && !/^[0-9A-Fa-f]{40}$/.test(who) && !r.uploaders.groups[who]) problems.push(`repositories.${name}.uploaders.rules.${i}: ${who} is neither a group, a full fingerprint nor * (expected one of them)`);
      }
    });
    repositories.push(
      Object.freeze({
        ...r,
        uploaders: Object.freeze({ ...r.uploaders, keyring }),
        name,
        maxSignatureAgeMs: parseDuration(r.maxSignatureAge),
        clockSkewMs: parseDuration(r.clockSkew),
        sessionTimeoutMs: parseDuration(r.sessionTimeout),
      }),
    );
  }
  const [host, portText] = splitHostPort(raw.listen);
  const port = Number(portText);
  if (!(port >= 0 && port <= 65535)) problems.push(`listen: port ${portText} out of range (expected 0-65535)`);
  if (problems.length) throw new AptfreezeError('CONFIG_INVALID', `${file}: invalid configuration: ${problems.join('; ')}`, { details: { problems } });
  return Object.freeze({
    file: fromFile ? file : null,
    listen: Object.freeze({ host, port }),
    baseUrl: raw.baseUrl.replace(/\/+$/, ''),
    lifetimeMs: parseDuration(raw.lifetime, 'lifetime'),
    keep: raw.keep,
    gcSchedule: raw.gcSchedule,
    fetch: Object.freeze({
      concurrency: raw.fetch.concurrency,
      retries: raw.fetch.retries,
      backoffMs: raw.fetch.backoffMs,
      connectTimeoutMs: parseDuration(raw.fetch.connectTimeout),
      idleTimeoutMs: parseDuration(raw.fetch.idleTimeout),
      minRate: raw.fetch.minRate,
      maxReleaseBytes: raw.fetch.maxReleaseBytes,
      maxDecompressedBytes: raw.fetch.maxDecompressedBytes,
      maxRedirects: raw.fetch.maxRedirects,
    }),
    serve: Object.freeze({ cacheBytes: raw.serve.cacheBytes }),
    archives: Object.freeze(archives),
    repositories: Object.freeze(repositories),
    storage: Object.freeze(raw.storage.kind === 'fs' && raw.storage.path !== undefined ? { ...raw.storage, path: resolve(baseDir, raw.storage.path) } : raw.storage),
    catalog: Object.freeze({ ...raw.catalog }),
    notes: Object.freeze(notes),
  });
}

function splitHostPort(listen: string): [string, string] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), listen.slice(i + 1)];
}

/**
 * With no aptfreeze.yaml, mirror what the host's APT sources name, limited to
 * a few packages so the first snapshot is small. Entries of one URI with the
 * same components become one archive with several suites.
 */
export function configFromHost(aptEtcDir: string): Config {
  const sources = readHostSources(aptEtcDir);
  const arch = hostArchitecture();
  const archives: Record<string, unknown> = {};
  const byKey = new Map<string, string>();
  for (const s of sources) {
    const key = `${s.uri.replace(/\/+$/, '')}|${s.components.join(' ')}|${s.signedBy ?? ''}`;
    let name = byKey.get(key);
    if (!name) {
      const base = archiveNameFor(s.uri);
      name = base;
      for (let i = 2; archives[name] || reservedNames.has(name); i++) name = `${base}-${i}`;
      byKey.set(key, name);
      archives[name] = {
        url: s.uri.replace(/\/+$/, ''),
        suites: [],
        components: s.components,
        architectures: s.architectures ?? [arch],
        keyring: s.signedBy ?? defaultDebianKeyring,
        packages: defaultPackageFilter,
        schedule: defaultSchedule,
      };
    }
    const a = archives[name] as { suites: string[] };
    for (const suite of s.suites) if (!a.suites.includes(suite)) a.suites.push(suite);
  }
  const notes =
    sources.length === 0
      ? [`no aptfreeze.yaml and no http(s) APT sources under ${aptEtcDir}: nothing to mirror. Write an aptfreeze.yaml (see README "Configuration") naming each archive's url, suites, components, architectures and keyring.`]
      : [
          `no aptfreeze.yaml: mirroring the host's APT sources from ${aptEtcDir} (${Object.keys(archives).join(', ')}), limited to the packages ${defaultPackageFilter.join(', ')}, a snapshot every 6 hours (${defaultSchedule}) and a first one now.`,
          'To mirror more, write an aptfreeze.yaml (see README "Configuration") and remove or widen each archive\'s `packages` filter.',
        ];
  return validate({ archives }, `${aptEtcDir} (host APT sources; no aptfreeze.yaml)`, '/', notes, false);
}

export { defaults };
