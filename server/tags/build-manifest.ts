import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type * as Zod from 'zod';
import { AptfreezeError } from '../errors.ts';

// yaml and zod are required when a manifest is first parsed, not when this module loads: the
// operations registry loads it with every kind (the tag's params), and a `snapshot` command never
// parses a manifest (docs/performance.md, 2026-12-06). Both are CommonJS under node, so this is the
// same instance as an ESM import elsewhere would give for yaml; zod is required as CommonJS
// everywhere (config/schema.ts, pins/resolve.ts, proof/manifest.ts), one instance too.
const require = createRequire(import.meta.url);

/**
 * A build manifest in the Tails format (REFERENCES.md, "Tails"): what one build installed and
 * the serials it came from.
 *
 *   origin_references:
 *     debian:
 *       reference: '2026112701'
 *   packages:
 *     binary:
 *     - package: hello
 *       version: 2.10-3
 *       arch: amd64
 *     source:
 *     - package: hello
 *       version: 2.10-3
 *
 * Pure: parse and emit, no I/O. YAML is read with the failsafe schema, so every scalar stays the
 * string written (`version: 1.10` is "1.10", not the number 1.1; an unquoted reference stays
 * "2026112701"); JSON is YAML, so a JSON manifest reads the same. Keys the format does not
 * define are ignored (a manifest written by another tool may carry more), missing or mistyped
 * ones are BAD_REQUEST naming where.
 */
export interface BinaryEntry {
  package: string;
  version: string;
  arch: string;
}

export interface SourceEntry {
  package: string;
  version: string;
}

export interface BuildManifest {
  /** archive -> serial */
  origins: Map<string, string>;
  binary: BinaryEntry[];
  source: SourceEntry[];
}

/** Bounds on outside data: a real build installs a few thousand packages. */
export const maxManifestBytes = 8 * 1024 * 1024;
const maxEntries = 200_000;

/**
 * The schema, made on first use: the operations registry imports this module with every kind, and
 * building zod schemas is slow on a cold start (a `snapshot` command that never parses a manifest
 * would pay for it; docs/performance.md, 2026-12-06).
 */
function makeSchema() {
  const { z } = require('zod') as typeof Zod;
  const name = z.string().regex(/^[a-z0-9][a-z0-9.+-]*$/, 'a Debian package name');
  const version = z.string().regex(/^[A-Za-z0-9.+~:-]+$/, 'a Debian version');
  return z.object({
    origin_references: z.record(z.string().regex(/^[a-z0-9][a-z0-9.+-]{0,62}$/, 'an archive name'), z.object({ reference: z.string().regex(/^\d{10}$/, 'a serial YYYYMMDDNN') }).loose()),
    packages: z
      .object({
        binary: z.array(z.object({ package: name, version, arch: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'an architecture') }).loose()).max(maxEntries),
        source: z.array(z.object({ package: name, version }).loose()).max(maxEntries).optional(),
      })
      .loose(),
  }).loose();
}
let schema: ReturnType<typeof makeSchema> | undefined;

export function parseBuildManifest(input: string | Buffer | unknown, where = 'manifest'): BuildManifest {
  let doc: unknown = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    const text = typeof input === 'string' ? input : input.toString('utf8');
    if (Buffer.byteLength(text) > maxManifestBytes) throw new AptfreezeError('PAYLOAD_TOO_LARGE', `${where}: larger than ${maxManifestBytes} bytes`);
    try {
      doc = (require('yaml') as typeof Yaml).parse(text, { schema: 'failsafe', maxAliasCount: 0, uniqueKeys: true });
    } catch (e) {
      throw new AptfreezeError('BAD_REQUEST', `${where}: not YAML or JSON (${(e as Error).message.split('\n')[0]})`);
    }
  } else doc = stringify(input);
  const r = (schema ??= makeSchema()).safeParse(doc);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new AptfreezeError('BAD_REQUEST', `${where}: not a build manifest (${issues.join('; ')})`);
  }
  const origins = new Map(Object.entries(r.data.origin_references).map(([a, o]) => [a, o.reference] as const));
  if (!origins.size) throw new AptfreezeError('BAD_REQUEST', `${where}: origin_references names no archive`);
  const binary = dedupe(r.data.packages.binary.map((b) => ({ package: b.package, version: b.version, arch: b.arch })), binaryKey);
  const source = dedupe((r.data.packages.source ?? []).map((s) => ({ package: s.package, version: s.version })), sourceKey);
  if (!binary.length) throw new AptfreezeError('BAD_REQUEST', `${where}: packages.binary lists no package`);
  return { origins, binary, source };
}

/**
 * A JSON body's numbers (an unquoted serial) as the strings YAML's failsafe schema would give,
 * so that both forms of the same manifest read the same.
 */
function stringify(v: unknown): unknown {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(stringify);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, stringify(x)]));
  return v;
}

export const binaryKey = (b: BinaryEntry) => `${b.package} ${b.version} ${b.arch}`;
export const sourceKey = (s: SourceEntry) => `${s.package} ${s.version}`;

function dedupe<T>(xs: T[], key: (x: T) => string): T[] {
  const m = new Map<string, T>();
  for (const x of xs) m.set(key(x), x);
  return [...m.values()];
}

/** The manifest as Tails writes it: archives and packages sorted, scalars single-quoted; the same input gives the same bytes. */
export function emitBuildManifest(m: BuildManifest): string {
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const lines = ['origin_references:'];
  for (const a of [...m.origins.keys()].sort()) lines.push(`  ${a}:`, `    reference: ${q(m.origins.get(a)!)}`);
  lines.push('packages:', '  binary:');
  const byKey = <T>(key: (x: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
  for (const b of [...m.binary].sort(byKey(binaryKey))) lines.push(`  - package: ${q(b.package)}`, `    version: ${q(b.version)}`, `    arch: ${q(b.arch)}`);
  lines.push(m.source.length ? '  source:' : '  source: []');
  for (const s of [...m.source].sort(byKey(sourceKey))) lines.push(`  - package: ${q(s.package)}`, `    version: ${q(s.version)}`);
  return `${lines.join('\n')}\n`;
}
