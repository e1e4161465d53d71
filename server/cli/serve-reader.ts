// `serve --role reader` (issue 15): the stateless reader as a process. It opens no data directory
// (none is read, none is created): the published tree comes from the publication catalog on
// PostgreSQL (APTFREEZE_DATABASE_URL) and the blobs from the S3 object store (storage.kind s3,
// credentials AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), through createReaderApp. One process;
// run more readers (on more machines) behind a balancer to scale.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import { AptfreezeError } from '../errors.ts';
import { parseDuration } from '../config/duration.ts';

export interface RunningReader {
  url: string;
  stop(): Promise<void>;
}

/** What a reader needs from the configuration and the environment; every gap in one CONFIG_INVALID. */
export function readerSettings(config: Config, env: NodeJS.ProcessEnv) {
  const problems: string[] = [];
  if (config.storage.kind !== 's3') problems.push(`storage.kind ${config.storage.kind}: a reader serves from the object store (expected storage.kind s3)`);
  if (config.catalog.kind !== 'postgres') problems.push(`catalog.kind ${config.catalog.kind}: a reader answers from the shared catalog (expected catalog.kind postgres)`);
  const url = env['APTFREEZE_DATABASE_URL'];
  if (config.catalog.kind === 'postgres' && !url) problems.push('APTFREEZE_DATABASE_URL not set (expected the PostgreSQL URL of the publication catalog in the environment)');
  if (problems.length || config.storage.kind !== 's3' || !url) {
    throw new AptfreezeError('CONFIG_INVALID', `serve --role reader: ${problems.join('; ')}`, { details: { problems } });
  }
  return { storage: config.storage, databaseUrl: url };
}

export async function startReader(config: Config, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<RunningReader> {
  const { storage, databaseUrl } = readerSettings(config, env);
  const [{ createS3Client }, { S3BlobStore }, { PgPublicationCatalog }, { createReaderApp }] = await Promise.all([
    import('../store/s3-client.ts'),
    import('../store/s3.ts'),
    import('../catalog/pg-publication.ts'),
    import('../http/reader-s3.ts'),
  ]);
  const client = createS3Client(storage, env);
  let catalog: Awaited<ReturnType<typeof PgPublicationCatalog.open>>;
  try {
    catalog = await PgPublicationCatalog.open(databaseUrl);
  } catch (e) {
    client.destroy();
    throw e;
  }
  const blobs = new S3BlobStore(client, { bucket: storage.bucket, prefix: storage.prefix });
  const srv = createServer({ keepAliveTimeout: 65_000 }, createReaderApp({ catalog, blobs, log, byHashGraceMs: parseDuration(storage.byHashGrace, 'storage.byHashGrace') }));
  try {
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(config.listen.port, config.listen.host, () => resolve());
    });
  } catch (e) {
    await catalog.close();
    client.destroy();
    throw new AptfreezeError('CONFIG_INVALID', `listen ${config.listen.host}:${config.listen.port}: ${(e as Error).message}`);
  }
  const port = (srv.address() as AddressInfo).port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const url = `http://${host}:${port}`;
  log.info({ url, bucket: storage.bucket, prefix: storage.prefix }, 'aptfreeze reader serving');
  return {
    url,
    async stop() {
      await new Promise<void>((resolve) => {
        srv.close(() => resolve());
        srv.closeIdleConnections();
        setTimeout(() => srv.closeAllConnections(), 5_000).unref();
      });
      await catalog.close();
      client.destroy();
    },
  };
}
