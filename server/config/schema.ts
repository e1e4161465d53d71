import { createRequire } from 'node:module';
import type * as Zod from 'zod';
import cron from 'node-cron';
import { isDuration } from './duration.ts';
import { defaults } from './defaults.ts';

// zod as CommonJS, one instance with the lazy users (tags/build-manifest.ts says why).
const { z } = createRequire(import.meta.url)('zod') as typeof Zod;

// Every default, with its unit, is in defaults.ts (no zod there: code that only needs a default,
// such as provenance/record.ts in a snapshot, need not load the schema).
export { defaults };

// An archive name is also part of its proof package's name, so it follows Debian's package-name rules.
const nameRe = /^[a-z0-9][a-z0-9.+-]{0,62}$/;
// Suites may hold a slash (buster/updates); components too (updates/main).
const segmentPathRe = /^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9][A-Za-z0-9._+~\/-]*$/;
const archRe = /^[a-z0-9][a-z0-9-]*$/;

const duration = z.string().refine(isDuration, { message: 'expected a duration: a number and a unit s, m, h or d (e.g. 10d)' });
const cronExpr = z.string().refine((s) => cron.validate(s), { message: 'expected a cron expression (e.g. "0 */6 * * *")' });

export const archiveSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
  suites: z.array(z.string().regex(segmentPathRe, 'expected a suite name (letters, digits, . _ + ~ - and /)')).min(1, 'expected at least one suite'),
  components: z.array(z.string().regex(segmentPathRe, 'expected a component name')).min(1, 'expected at least one component'),
  architectures: z.array(z.string().regex(archRe, 'expected a Debian architecture name')).min(1, 'expected at least one architecture'),
  sources: z.boolean().default(false),
  // Default: true, but false for an archive with a `packages` filter (resolved in load.ts; README "Filtered mirrors").
  translations: z.boolean().optional(),
  keyring: z.string().min(1, 'expected the path of a keyring file'),
  schedule: cronExpr.optional(),
  packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/, 'expected a Debian package name')).min(1).optional(),
});

const fingerprintRe = /^[0-9A-Fa-f]{40}$/;
const globRe = /^[A-Za-z0-9.+~_*\/-]+$/;

/**
 * Who may upload what: aptly's uploaders.json shape (groups of keys, rules in
 * order, each with deny before allow), with the condition spelt as suite and
 * source globs. Keys are named by full fingerprint only: a short key id is
 * refused (it can be collided).
 */
export const uploadersSchema = z.strictObject({
  keyring: z.string().min(1, 'expected the path of the uploaders keyring (binary or armored)'),
  groups: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected a group name'), z.array(z.string().regex(fingerprintRe, 'expected a full 40-hex-digit key fingerprint'))).default({}),
  rules: z
    .array(
      z.strictObject({
        suites: z.array(z.string().regex(globRe, 'expected a suite name or glob')).min(1).default(['*']),
        sources: z.array(z.string().regex(globRe, 'expected a source package name or glob')).min(1).default(['*']),
        allow: z.array(z.string().min(1)).default([]),
        deny: z.array(z.string().min(1)).default([]),
      }),
    )
    .default([]),
});

export const repositorySchema = z.strictObject({
  suites: z.array(z.string().regex(segmentPathRe, 'expected a suite name (letters, digits, . _ + ~ - and /)')).min(1, 'expected at least one suite'),
  components: z.array(z.string().regex(segmentPathRe, 'expected a component name')).min(1, 'expected at least one component').default(['main']),
  architectures: z.array(z.string().regex(archRe, 'expected a Debian architecture name')).min(1, 'expected at least one architecture'),
  uploaders: uploadersSchema,
  requireBuildinfo: z.boolean().default(defaults.repository.requireBuildinfo),
  maxUploadBytes: z.number().int().min(1024).default(defaults.repository.maxUploadBytes),
  maxFileBytes: z.number().int().min(1024).default(defaults.repository.maxFileBytes),
  maxControlBytes: z.number().int().min(1024).default(defaults.repository.maxControlBytes),
  maxSignatureAge: duration.default(defaults.repository.maxSignatureAge),
  clockSkew: duration.default(defaults.repository.clockSkew),
  sessionTimeout: duration.default(defaults.repository.sessionTimeout),
});
// S3's bucket naming rules (3-63 lower-case letters, digits, dots and hyphens, letter or digit at both ends).
const bucketRe = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// A key prefix: path segments of safe characters, no dot segments; a trailing slash is implied.
const keyPrefixRe = /^(?:[A-Za-z0-9_+=-][A-Za-z0-9._+=-]*(?:\/|$))*$/;

/**
 * Where blobs live. `fs` (default): `<data>/store`, hard-linked into the published tree. `s3`: an
 * S3 object store (Ceph RGW, AWS S3, ...); credentials from AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY in the environment, never in this file.
 */
export const storageSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('fs'),
    path: z.string().min(1).optional(), // the store's directory; only <data>/store is supported so far
  }),
  z.strictObject({
    kind: z.literal('s3'),
    endpoint: z.url({ protocol: /^https?$/, error: 'expected the object store\'s http:// or https:// URL' }),
    bucket: z.string().regex(bucketRe, 'expected an S3 bucket name (3-63 lower-case letters, digits, . and -)'),
    region: z.string().regex(/^[a-z0-9-]+$/, 'expected a region name (e.g. us-east-1)').default('us-east-1'),
    prefix: z.string().regex(keyPrefixRe, 'expected a key prefix (segments of letters, digits, . _ + = - separated by /)').default(''),
    // gc deletes a blob only once it has been unreferenced this long (server/s3/gc.ts).
    gcGrace: duration.default('1h'),
    // How long latest/ still answers the by-hash indices of the serial it moved on from (server/http/reader-s3.ts).
    byHashGrace: duration.default('1h'),
  }),
]);

/**
 * Where the publication catalog lives. `sqlite` (default): `<data>/aptfreeze.db`. `postgres`: the
 * shared catalog of stateless readers (server/catalog/pg-publication.ts); its URL comes from
 * APTFREEZE_DATABASE_URL in the environment, never from this file. The writer keeps its SQLite
 * working copy and exports to it (s3/export.ts); `serve --role reader` answers from it.
 */
export const catalogSchema = z.discriminatedUnion('kind', [z.strictObject({ kind: z.literal('sqlite') }), z.strictObject({ kind: z.literal('postgres') })]);

export const configSchema = z.strictObject({
  listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port').default(defaults.listen),
  baseUrl: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).default(defaults.baseUrl),
  lifetime: duration.default(defaults.lifetime),
  keep: z.number().int().min(1, 'expected at least 1').default(defaults.keep),
  gcSchedule: cronExpr.default(defaults.gcSchedule),
  fetch: z
    .strictObject({
      concurrency: z.number().int().min(1).max(64).default(defaults.fetch.concurrency),
      retries: z.number().int().min(0).max(10).default(defaults.fetch.retries),
      backoffMs: z.number().int().min(0).default(defaults.fetch.backoffMs),
      connectTimeout: duration.default(defaults.fetch.connectTimeout),
      idleTimeout: duration.default(defaults.fetch.idleTimeout),
      minRate: z.number().int().min(1).default(defaults.fetch.minRate),
      maxReleaseBytes: z.number().int().min(1024).default(defaults.fetch.maxReleaseBytes),
      maxDecompressedBytes: z.number().int().min(1024).default(defaults.fetch.maxDecompressedBytes),
      maxRedirects: z.number().int().min(0).max(10).default(defaults.fetch.maxRedirects),
    })
    .default(() => ({ ...defaults.fetch })),
  serve: z
    .strictObject({
      cacheBytes: z.number().int().min(0, 'expected a number of bytes, 0 or more').default(defaults.serve.cacheBytes),
    })
    .default(() => ({ ...defaults.serve })),
  storage: storageSchema.default({ kind: 'fs' }),
  catalog: catalogSchema.default({ kind: 'sqlite' }),
  archives: z.record(z.string().regex(nameRe, 'expected an archive name: lower-case letters, digits, . + -'), archiveSchema),
  repositories: z.record(z.string().regex(nameRe, 'expected a repository name: lower-case letters, digits, . + -'), repositorySchema).default({}),
});

export type ArchiveConfig = Omit<Zod.infer<typeof archiveSchema>, 'translations'> & { name: string; translations: boolean };
export type RepositoryConfig = Omit<Zod.infer<typeof repositorySchema>, 'maxSignatureAge' | 'clockSkew' | 'sessionTimeout'> & {
  name: string;
  maxSignatureAgeMs: number;
  clockSkewMs: number;
  sessionTimeoutMs: number;
};
export type StorageConfig = Zod.infer<typeof storageSchema>;
export type CatalogConfig = Zod.infer<typeof catalogSchema>;
export type RawConfig = Zod.infer<typeof configSchema>;
