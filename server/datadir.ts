import { join, resolve } from 'node:path';

/**
 * The data directory's layout: the only module that builds paths directly under it. Each part
 * belongs to one owner, which is handed its root from here and knows nothing above it:
 *
 *   <data>/aptfreeze.db     the catalog (server/catalog/)
 *   <data>/store/           the blob store (server/store/, FsBlobStore)
 *   <data>/public/          the published tree (server/publish/, Publisher)
 *   <data>/keys/            the service key (server/sign/key.ts), never served
 *   <data>/incoming/        upload sessions (server/uploads/session.ts)
 *   <data>/control.sock     the daemon's control socket (server/ops/control.ts)
 *   <data>/admin-token      the bootstrap admin token (0600)
 *   <data>/config-cache.json  the configuration a command validated before (server/config/cache.ts)
 */
export interface DataLayout {
  /** The data directory itself, absolute. */
  readonly root: string;
  readonly db: string;
  readonly store: string;
  readonly public: string;
  readonly keys: string;
  readonly incoming: string;
  readonly controlSocket: string;
  readonly adminToken: string;
  readonly configCache: string;
}

export function dataLayout(dataDir: string): DataLayout {
  const root = resolve(dataDir);
  return Object.freeze({
    root,
    db: join(root, 'aptfreeze.db'),
    store: join(root, 'store'),
    public: join(root, 'public'),
    keys: join(root, 'keys'),
    incoming: join(root, 'incoming'),
    controlSocket: join(root, 'control.sock'),
    adminToken: join(root, 'admin-token'),
    configCache: join(root, 'config-cache.json'),
  });
}
