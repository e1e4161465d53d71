// fsck's look at the object store and its publication catalog, when the configuration exports to
// them (storage s3 + catalog postgres, server/s3/): what the stateless readers serve must be
// whole too. The checks are server/s3/fsck.ts's; this maps its findings to fsck's problems.
import type { Config } from '../config/load.ts';
import { problem, type Problem, type ProblemKind } from './report.ts';
import type { ObjectFinding } from '../s3/fsck.ts';

const kindOf: Record<ObjectFinding['code'], ProblemKind> = {
  'latest-not-published': 'object-latest',
  'no-signed-release': 'object-unsigned',
  'blob-missing': 'object-missing',
  'blob-size': 'object-size',
  'blob-hash': 'object-corrupt',
  'collected-has-files': 'object-collected-files',
};

/** The object store's problems, or null when the configuration does not export (the single-machine default). */
export async function objectStoreProblems(config: Pick<Config, 'storage' | 'catalog'>, env: NodeJS.ProcessEnv, opts: { deep?: boolean } = {}): Promise<{ problems: Problem[]; checked: { serials: number; files: number; blobs: number } } | null> {
  if (config.storage.kind !== 's3' || config.catalog.kind !== 'postgres') return null;
  const url = env['APTFREEZE_DATABASE_URL'];
  const [{ createS3Client }, { S3BlobStore }, { PgPublicationCatalog }, { checkObjectStore }, { AptfreezeError }] = await Promise.all([
    import('../store/s3-client.ts'),
    import('../store/s3.ts'),
    import('../catalog/pg-publication.ts'),
    import('../s3/fsck.ts'),
    import('../errors.ts'),
  ]);
  if (!url) throw new AptfreezeError('CONFIG_INVALID', 'catalog.kind postgres: APTFREEZE_DATABASE_URL not set (expected the PostgreSQL URL of the publication catalog in the environment)');
  const client = createS3Client(config.storage, env);
  try {
    const catalog = await PgPublicationCatalog.open(url);
    try {
      const blobs = new S3BlobStore(client, { bucket: config.storage.bucket, prefix: config.storage.prefix });
      const r = await checkObjectStore(catalog, blobs, opts);
      const problems = r.findings.map((f) => problem(kindOf[f.code], f.message, { path: `s3:${f.where}` }));
      return { problems, checked: { serials: r.serials, files: r.files, blobs: r.blobs } };
    } finally {
      await catalog.close();
    }
  } finally {
    client.destroy();
  }
}
