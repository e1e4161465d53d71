/**
 * Every default in one place, with its unit. The schema (schema.ts) is strict: an unknown
 * key is an error, so a typo never silently falls back to a default.
 */
export const defaults = {
  listen: '127.0.0.1:8080', // host:port of the HTTP server
  baseUrl: 'http://localhost:8080', // how clients reach it, used in generated sources
  lifetime: '10d', // Valid-Until of a new serial, counted from its creation
  keep: 3, // newest serials per archive that gc keeps even when expired
  gcSchedule: '30 3 * * *', // cron: when `serve` runs gc (daily)
  fetch: {
    concurrency: 16, // parallel pool downloads per snapshot
    retries: 3, // extra attempts per file after the first, with backoff
    backoffMs: 500, // first retry delay in ms, doubled each attempt
    connectTimeout: '15s', // TCP connect + response headers
    idleTimeout: '30s', // longest silence inside a body
    minRate: 16_384, // bytes/s: a body slower than this on average is aborted (slow retrieval)
    maxReleaseBytes: 16 * 1024 * 1024, // cap on an InRelease/Release/Release.gpg
    maxDecompressedBytes: 2 * 1024 * 1024 * 1024, // cap on a decompressed index (bomb defence)
    maxRedirects: 3, // same-origin redirects followed
  },
  serve: {
    cacheBytes: 128 * 1024 * 1024, // bytes: the serving caches of one process (each `serve --workers` worker)
  },
  repository: {
    requireBuildinfo: true, // an upload must carry a .buildinfo
    maxUploadBytes: 512 * 1024 * 1024, // bytes: all files of one upload together
    maxFileBytes: 256 * 1024 * 1024, // bytes: one uploaded file
    maxControlBytes: 1024 * 1024, // bytes: a .deb's control.tar once decompressed (bomb defence)
    maxSignatureAge: '365d', // a .changes signed longer ago than this is refused (dak refuses a year)
    clockSkew: '5m', // a signature this far in the future is still accepted
    sessionTimeout: '1h', // an incomplete upload session (no .changes yet) is removed after this much silence
  },
} as const;
