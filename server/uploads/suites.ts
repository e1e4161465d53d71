import type { RepositoryConfig } from '../config/schema.ts';
import type { Catalog } from '../catalog/uploads.ts';

export interface RepoSuite {
  suite: string;
  /** The suite an overlay adds to; null for a configured suite. */
  base: string | null;
}

/** A repository's suites: the configured ones, then the overlays made with `aptfreeze suite create`. */
export function repositorySuites(catalog: Catalog, cfg: RepositoryConfig): RepoSuite[] {
  return [...cfg.suites.map((suite) => ({ suite, base: null })), ...catalog.overlays(cfg.name).map((o) => ({ suite: o.suite, base: o.base }))];
}
