import express, { type Router, type Request } from 'express';
import type { AppDeps } from './app.ts';
import { bearer } from './api.ts';
import { authorize } from '../auth/tokens.ts';
import { AptfreezeError } from '../errors.ts';
import { describeTag, listTags, type TagView } from '../tags/query.ts';
import { resultOf } from '../ops/client.ts';
import { checkTagName } from '../tags/name.ts';
import { maxManifestBytes } from '../tags/build-manifest.ts';

/**
 * Tags under /api (DESIGN.md): `POST /tags` `{"name", "manifest"}` (the build manifest as YAML
 * text or as JSON; release-manager or admin), `GET /tags`, `GET /tags/<name>`,
 * `DELETE /tags/<name>` (admin). Registered before the API's 16 KiB body parser: a build
 * manifest of a few thousand packages is larger, so this route parses its own body, capped
 * at the manifest's own bound. Creation and deletion are operations (`tag.create`,
 * `tag.delete`, server/ops/kinds/tags.ts) that answer with their result once done (201 and the
 * tag; 200 and the deleted tag), or their error (409 CONFLICT while a snapshot, freeze, thaw or gc
 * sweep holds one of the archives, or the tag is being made or deleted).
 */
export function routes(r: Router, deps: AppDeps): void {
  const principal = (req: Request, action: string) => authorize(deps.tokens.authenticate(bearer(req)), action);

  r.post('/tags', express.json({ limit: maxManifestBytes + 64 * 1024, strict: true }), async (req, res) => {
    const who = principal(req, 'tag-create');
    const b: unknown = req.body ?? {};
    if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new AptfreezeError('BAD_REQUEST', 'expected a JSON object body');
    const unknown = Object.keys(b).filter((k) => k !== 'name' && k !== 'manifest');
    if (unknown.length) throw new AptfreezeError('BAD_REQUEST', `unknown field(s) ${unknown.join(', ')} (expected name, manifest)`);
    const body = b as { name?: unknown; manifest?: unknown };
    if (body.manifest === undefined || body.manifest === null) throw new AptfreezeError('BAD_REQUEST', 'manifest: expected the build manifest (YAML text or JSON)');
    const tag = resultOf<TagView>(await deps.ops.run({ kind: 'tag.create', params: { name: body.name, manifest: body.manifest }, actor: who.name }));
    res.status(201).location(`/api/tags/${encodeURIComponent(tag.name)}`).json(tag);
  });

  r.get('/tags', (_req, res) => {
    res.json({ tags: listTags(deps) });
  });

  r.get('/tags/:name', (req, res) => {
    const name = checkTagName(req.params['name']);
    const tag = describeTag(deps, name);
    if (!tag) throw new AptfreezeError('NOT_FOUND', `no tag ${name}`);
    res.json(tag);
  });

  r.delete('/tags/:name', async (req, res) => {
    const who = principal(req, 'tag-delete');
    const name = checkTagName(req.params['name']);
    res.json({ deleted: resultOf<TagView>(await deps.ops.run({ kind: 'tag.delete', params: { name }, actor: who.name })) });
  });
}
