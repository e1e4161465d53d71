import type { PublishedReads } from '../publish/reads.ts';
import type { Express } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppDeps } from '../http/app.ts';
import { HttpMetrics } from '../metrics/http.ts';
import { registerStateMetrics } from '../metrics/state.ts';
import { joinClusterMetrics, metricsText } from '../metrics/cluster.ts';
import { MrRepo } from '../catalog/snapmr.ts';
import { mrIndexer } from '../snapmr/index.ts';
import { mrRouter } from '../snapmr/routes.ts';
import { archiveRoutes } from '../snapmr/archive-routes.ts';
import { webRouter } from './pages.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The people's side, registered on the express app before the published tree: the web pages,
 * /metrics, snapshot.debian.org's reads (/mr/, /file/) and time-addressed paths (/archive/…,
 * /<archive>/<YYYYMMDDTHHMMSSZ>/…).
 */
export function mountPeople(app: Express, deps: AppDeps): void {
  const metrics = deps.metrics ?? new HttpMetrics();
  registerStateMetrics(metrics.registry, deps);
  joinClusterMetrics(metrics.registry);
  app.get('/metrics', async (_req, res) => {
    const text = await metricsText(metrics.registry);
    res.setHeader('Cache-Control', 'no-store');
    res.type(metrics.registry.contentType).send(text);
  });
  const mr = new MrRepo(deps.db);
  app.use(mrRouter({ ...deps, mr, catchUp: mrIndexer({ ...deps, mr }) }));
  app.use(archiveRoutes({ ...deps, isArchive: archiveTest(deps.config.archives.map((a) => a.name), deps.publisher.reads) }));
  app.use(webRouter(deps));
}

/** Whether a path is the people's side's (the fast tree handler hands it to express). */
export function isPeoplePath(url: string): boolean {
  return url === '/' || url.startsWith('/?') || /^\/(metrics|mr|file|archive|web)(\/|\?|$)/.test(url) || /^\/[^/?]+\/\d{8}T\d{6}Z(\/|\?|$)/.test(url);
}

/** Requests of the people's side to express, the rest to the tree handler. */
export function peopleFirst(app: Handler, tree: Handler): Handler {
  return (req, res) => (isPeoplePath(req.url ?? '/') ? app(req, res) : tree(req, res));
}

/** Whether a name is an archive of the published tree: configured, or published once (its directory exists). */
function archiveTest(configured: Iterable<string>, tree: Pick<PublishedReads, 'isArchive'>): (name: string) => boolean {
  const names = new Set(configured);
  return (name) => names.has(name) || tree.isArchive(name);
}
