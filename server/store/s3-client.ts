import { S3Client } from '@aws-sdk/client-s3';
import { AptfreezeError } from '../errors.ts';

/** The `storage` settings of kind s3 (config/schema.ts), credentials excluded. */
export interface S3Settings {
  endpoint: string;
  bucket: string;
  region: string;
  prefix: string;
}

/**
 * Makes the S3 client of the configured object store. Credentials come from the environment
 * (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally `AWS_SESSION_TOKEN`), never from the
 * configuration file, so that the file can be shown and logged.
 *
 * - Path-style addressing (`<endpoint>/<bucket>/<key>`): what Ceph RGW and most self-hosted services
 *   answer without wildcard DNS; AWS S3 accepts it too.
 * - Checksums only when an operation requires them: the SDK's default CRC trailers (aws-chunked
 *   uploads) are newer than the RGW of Debian 12 (16.2). Integrity does not rest on them: every
 *   blob is hashed by the store before it is committed, and SigV4 signs each body's sha256.
 */
export function createS3Client(settings: S3Settings, env: NodeJS.ProcessEnv): S3Client {
  const accessKeyId = env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
  const missing = [!accessKeyId && 'AWS_ACCESS_KEY_ID', !secretAccessKey && 'AWS_SECRET_ACCESS_KEY'].filter(Boolean);
  if (missing.length) {
    throw new AptfreezeError('CONFIG_INVALID', `storage.kind s3: ${missing.join(' and ')} not set (expected the object store's credentials in the environment)`);
  }
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: true,
    credentials: { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey!, sessionToken: env['AWS_SESSION_TOKEN'] || undefined },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    // Milliseconds: TCP connect; then the longest silence on a socket.
    requestHandler: { connectionTimeout: 15_000, requestTimeout: 60_000 },
  });
}
