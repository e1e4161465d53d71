import { Router, type Request, type Response, type NextFunction } from 'express';
import { LRUCache } from 'lru-cache';
import { AptfreezeError, asAptfreezeError, httpStatus } from '../errors.ts';
import type { AppDeps } from '../http/app.ts';
import { describeSerial, listArchives, type SerialView } from '../snapshot/query.ts';
import { diffSerials, type SerialDiff } from '../release/diff.ts';
import { sourcesStanza } from '../cli/sources.ts';
import { queryProvenance, type ProvenanceEntry } from '../provenance/query.ts';
import { ReleaseRepo } from '../catalog/release.ts';
import { formatStamp } from '../snapmr/stamps.ts';
import { html, raw, type Raw } from './html.ts';
import { page } from './layout.ts';
import { chartSvg } from './chart.ts';
import { WebQueries } from '../catalog/web.ts';

const nameRe = /^[a-z0-9][a-z0-9+.-]*$/;
const versionRe = /^[A-Za-z0-9.+~:-]+$/;

/**
 * The web pages for people, rendered on the server (no script; plain HTML and a little CSS):
 * `/` (archives, operations, tags, search, recent audit), `/web/archives/<a>` (the timeline and
 * its chart), `/web/archives/<a>/<serial>` (sources, proof, diff), `/web/search`, `/web/audit`.
 */
export function webRouter(deps: AppDeps): Router {
  const r = Router();
  const q = new WebQueries(deps.db);
  const audit = new ReleaseRepo(deps.db);
  // A diff of two serials never changes (serials are immutable): computed once, kept a while.
  const diffs = new LRUCache<string, SerialDiff>({ max: 64 });
  const diffOf = async (a: string, from: string, to: string) => {
    const key = `${a}\0${from}\0${to}`;
    let d = diffs.get(key);
    if (!d) diffs.set(key, (d = await diffSerials(deps, a, from, to)));
    return d;
  };

  r.get('/', (_req, res) => {
    const archives = listArchives(deps);
    const ops = q.runningOperations();
    const tags = q.tags();
    const recent = audit.listAudit({ limit: 10 });
    send(
      res,
      page(
        'Archives',
        html`<h1>Archives</h1>
${searchForm('', '')}
<h2 id="archives">Mirrored archives</h2>
${archives.length ? html`<div class="scroll"><table class="stack">
<caption class="muted">Each archive's newest published serial and its snapshot schedule</caption>
<thead><tr><th scope="col">Archive</th><th scope="col">Latest serial</th><th scope="col">Schedule</th><th scope="col">Serials</th><th scope="col">Upstream</th></tr></thead>
<tbody>${archives.map(
          (a) => html`<tr><th scope="row"><a href="/web/archives/${a.name}">${a.name}</a></th>
<td data-label="Latest serial">${a.latest ? html`<a href="/web/archives/${a.name}/${a.latest}">${a.latest}</a>` : html`<span class="muted">none yet</span>`}</td>
<td data-label="Schedule">${a.schedule ? html`<code>${a.schedule}</code>` : html`<span class="muted">on demand</span>`}</td>
<td data-label="Serials">${a.serials}</td><td data-label="Upstream"><code class="hash">${a.url ?? ''}</code></td></tr>`,
        )}</tbody></table></div>` : html`<p>No archive is configured.</p>`}
<h2 id="operations">Operations running now</h2>
${ops.length ? operationsTable(ops) : html`<p class="muted">None.</p>`}
<h2 id="tags">Tags</h2>
${tags.length ? tagsTable(tags) : html`<p class="muted">No tags yet.</p>`}
<h2 id="audit">Recent changes</h2>
${auditTable(recent)}
<p><a href="/web/audit">The whole audit log</a></p>`,
      ),
    );
  });

  r.get('/web/archives/:archive', (req, res) => {
    const a = archiveOf(deps, req.params['archive']!);
    const rows = deps.repo.listSerials(a, { includeCollected: true });
    const views = rows.map((row) => describeSerial(deps, row));
    const changes = q.changesBySerial(a);
    // A package file that appeared in S, or whose last serial was the one before S, changed in S.
    const changedIn = (i: number) => (changes.get(views[i]!.serial)?.appeared ?? 0) + (i + 1 < views.length ? (changes.get(views[i + 1]!.serial)?.lastIn ?? 0) : 0);
    const points = views
      .map((v, i) => ({ label: v.serial, pool: stat(v, 'poolFiles'), changed: changedIn(i) }))
      .slice(0, 30)
      .reverse();
    const cfg = deps.config.archives.find((x) => x.name === a);
    send(
      res,
      page(
        a,
        html`<h1>Archive ${a}</h1>
<p>${cfg ? html`Suites <code>${cfg.suites.join(' ')}</code>, components <code>${cfg.components.join(' ')}</code>, architectures <code>${cfg.architectures.join(' ')}</code>${cfg.packages ? html`, filtered to ${cfg.packages.length} packages` : ''}. Schedule: ${cfg.schedule ? html`<code>${cfg.schedule}</code>` : 'on demand'}.` : 'No longer configured; its history is still served.'}</p>
<h2 id="chart">Pool size and changes</h2>
${raw(chartSvg(points, `${a}: pool files and packages changed per serial`))}
<h2 id="timeline">Serials</h2>
${views.length ? html`<ul class="timeline">${views.map((v, i) => html`<li><a href="/web/archives/${a}/${v.serial}"><strong>${v.serial}</strong></a> ${stateBadge(v)}
<br><span class="muted">published ${when(v.publishedAt)}</span>
<br>${stateText(v)}
<br>${plural(stat(v, 'poolFiles'), 'pool file')}; fetched ${plural(stat(v, 'poolFetched'), 'pool file')}, ${bytes(stat(v, 'bytesFetched'))}; ${changeText(changes.get(v.serial)?.appeared ?? 0, i + 1 < views.length ? (changes.get(views[i + 1]!.serial)?.lastIn ?? 0) : 0)}</li>`)}</ul>` : html`<p class="muted">No serial yet.</p>`}`,
      ),
    );
  });

  r.get('/web/archives/:archive/:serial', async (req, res) => {
    const a = archiveOf(deps, req.params['archive']!);
    const serial = req.params['serial']!;
    const rows = deps.repo.listSerials(a, { includeCollected: true });
    const row = rows.find((x) => x.serial === serial);
    if (!row) throw new AptfreezeError('NOT_FOUND', `no serial ${serial} of ${a}`);
    const v = describeSerial(deps, row);
    const published = rows.filter((x) => x.state !== 'collected');
    const prev = published.find((x) => x.serial < serial);
    const here = row.state !== 'collected';
    const diff = here && prev ? await diffOf(a, prev.serial, serial) : null;
    const stamp = row.published_at ? formatStamp(new Date(row.published_at)) : null;
    const suites = deps.repo.suiteSnapshots(a, serial);
    send(
      res,
      page(
        `${a} ${serial}`,
        html`<h1>${a} <span class="muted">serial</span> ${serial}</h1>
<p>${stateBadge(v)} ${stateText(v)}</p>
<p>Published ${when(v.publishedAt)}${stamp ? html` (<a href="/archive/${a}/${stamp}/">browse as ${stamp}</a>)` : ''}. ${plural(stat(v, 'poolFiles'), 'pool file')}.</p>
${here
  ? html`<h2 id="sources">Use it</h2>
<p>Save as <code>/etc/apt/sources.list.d/${a}.sources</code> (the service key is inline in <code>Signed-By</code>):</p>
<pre>${sourcesStanza(deps, a, serial)}</pre>
<h2 id="proof">Proof package</h2>
<p><a href="/${a}/${serial}/proof.deb">aptfreeze-proof-${a}_${serial}_all.deb</a>: the upstream signed Release files, keys and indices of this serial, for <code>aptfreeze verify --proof</code>.</p>
<h2 id="upstream">Upstream Release files</h2>
<ul>${suites.map((s) => html`<li><code>${s.suite}</code>: upstream Date ${when(s.release_date)}, fetched ${when(s.fetched_at)} — <a href="/${a}/${serial}/dists/${s.suite}/InRelease">our InRelease</a></li>`)}</ul>
<h2 id="diff">Changes since ${prev ? html`<a href="/web/archives/${a}/${prev.serial}">${prev.serial}</a>` : 'the start'}</h2>
${diff ? diffView(diff) : html`<p class="muted">The first published serial.</p>`}`
  : html`<p>This serial was collected; its files are gone (410).</p>`}`,
      ),
    );
  });

  r.get('/web/search', (req, res) => {
    const pkg = String(req.query['package'] ?? '').trim();
    const version = String(req.query['version'] ?? '').trim();
    let body: Raw;
    if (!pkg) body = html`<p class="muted">Which serials of which archives served a package: give its name, and a version if you know it.</p>`;
    else if (!nameRe.test(pkg) || (version && !versionRe.test(version))) body = html`<p role="alert">Not a Debian package name or version.</p>`;
    else {
      const versions = version ? [version] : q.versionsOf(pkg);
      const entries = versions.flatMap((ver) => queryProvenance(deps.repo, { package: pkg, version: ver }));
      body = entries.length ? resultsTable(entries) : html`<p role="status">No serial served ${pkg}${version ? html` ${version}` : ''}.</p>`;
    }
    send(res, page(pkg ? `Search: ${pkg}` : 'Package search', html`<h1>Package search</h1>${searchForm(pkg, version)}<h2 id="results">Results</h2>${body}`));
  });

  r.get('/web/audit', (_req, res) => {
    send(res, page('Audit log', html`<h1>Audit log</h1><p class="muted">Every change, newest first (the last 500).</p>${auditTable(audit.listAudit({ limit: 500 }))}`));
  });
  // People get an HTML page for a missing archive or serial (the JSON error is for programs).
  r.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const e = asAptfreezeError(err);
    const status = httpStatus(e.code);
    if (status >= 500) return next(err);
    res.status(status);
    send(res, page('Not found', html`<h1>${status === 410 ? 'Gone' : status === 404 ? 'Not found' : 'Refused'}</h1><p>${e.message}</p><p><a href="/">All archives</a></p>`));
  });
  return r;
}

function send(res: Response, text: string): void {
  res.setHeader('Cache-Control', 'no-cache');
  res.type('html').send(text);
}

function archiveOf(deps: AppDeps, name: string): string {
  if (deps.config.archives.some((a) => a.name === name) || deps.repo.listArchives().some((a) => a.name === name)) return name;
  throw new AptfreezeError('NOT_FOUND', `unknown archive ${name}`);
}

function stat(v: SerialView, key: string): number {
  const s = v.stats as Record<string, unknown> | null;
  const n = s?.[key];
  return typeof n === 'number' ? n : 0;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function stateBadge(v: SerialView): Raw {
  return html`<span class="state state-${v.state}">${v.state}</span>`;
}

function stateText(v: SerialView): Raw {
  if (v.frozen) return html`frozen until ${when(v.frozen.until)} for “${v.frozen.reason}” by ${v.frozen.by}`;
  if (v.state === 'collected') return html`collected ${when(v.collectedAt)}`;
  if (v.state === 'expired') return html`expired ${when(v.validUntil)}`;
  return html`valid until ${when(v.validUntil)}`;
}

function searchForm(pkg: string, version: string): Raw {
  return html`<form class="search" action="/web/search" method="get" role="search">
<div><label for="package">Package name</label><input id="package" name="package" value="${pkg}" required autocomplete="off" spellcheck="false"></div>
<div><label for="version">Version (optional)</label><input id="version" name="version" value="${version}" autocomplete="off" spellcheck="false"></div>
<button type="submit">Search</button>
</form>`;
}

function resultsTable(entries: ProvenanceEntry[]): Raw {
  return html`<div class="scroll"><table class="stack">
<thead><tr><th scope="col">Package</th><th scope="col">Archive</th><th scope="col">Suite / component</th><th scope="col">Serials</th><th scope="col">sha256</th></tr></thead>
<tbody>${entries.map(
    (e) => html`<tr><td data-label="Package">${e.package} ${e.version} <span class="muted">${e.architecture}</span></td>
<td data-label="Archive"><a href="/web/archives/${e.archive}">${e.archive}</a></td><td data-label="Suite / component">${e.suite} / ${e.component}</td>
<td data-label="Serials">${e.runs.map((r) => html`<a href="/web/archives/${e.archive}/${r.first}">${r.first}</a>${r.last !== r.first ? html` – <a href="/web/archives/${e.archive}/${r.last}">${r.last}</a>` : ''} <span class="muted">(${plural(r.serials, 'serial')})</span> · <a href="/${e.archive}/${r.last}/${e.filename.split('/').map(encodeURIComponent).join('/')}">download</a><br>`)}</td>
<td data-label="sha256"><code class="hash">${e.sha256}</code></td></tr>`,
  )}</tbody></table></div>`;
}

function operationsTable(ops: Array<Record<string, unknown>>): Raw {
  const cell = (o: Record<string, unknown>, ...keys: string[]) => {
    for (const k of keys) if (o[k] !== undefined && o[k] !== null) return typeof o[k] === 'object' ? JSON.stringify(o[k]) : String(o[k]);
    return '';
  };
  return html`<div class="scroll"><table><thead><tr><th scope="col">Id</th><th scope="col">Kind</th><th scope="col">Archive</th><th scope="col">By</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Since</th></tr></thead>
<tbody>${ops.map((o) => html`<tr><td>${cell(o, 'id')}</td><td>${cell(o, 'kind')}</td><td>${cell(o, 'archive')}</td><td>${cell(o, 'actor')}</td><td>${cell(o, 'state')}</td><td><code>${cell(o, 'progress')}</code></td><td>${cell(o, 'started_at', 'startedAt', 'created_at', 'createdAt')}</td></tr>`)}</tbody></table></div>`;
}

function tagsTable(tags: Array<Record<string, unknown>>): Raw {
  const cols = Object.keys(tags[0]!).filter((k) => !/manifest|json|blob|sha256/i.test(k)).slice(0, 5);
  return html`<div class="scroll"><table><thead><tr>${cols.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
<tbody>${tags.map((t) => html`<tr>${cols.map((c) => html`<td>${c === 'name' && typeof t[c] === 'string' ? html`<a href="/api/tags/${encodeURIComponent(t[c])}">${t[c]}</a>` : t[c] === null || t[c] === undefined ? '' : String(t[c])}</td>`)}</tr>`)}</tbody></table></div>`;
}

function auditTable(rows: ReturnType<ReleaseRepo['listAudit']>): Raw {
  if (!rows.length) return html`<p class="muted">Nothing recorded yet.</p>`;
  return html`<div class="scroll"><table class="stack"><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Target</th><th scope="col">Details</th></tr></thead>
<tbody>${rows.map((e) => html`<tr><td data-label="When">${when(e.at)}</td><td data-label="Who">${e.actor}</td><td data-label="What">${e.action}</td><td data-label="Target">${e.target}</td><td data-label="Details">${details(e.after)}</td></tr>`)}</tbody></table></div>`;
}

/** An audit entry's `after` in words: the fields people read (state, until, reason), not the JSON. */
function details(after: unknown): string {
  if (after === null || typeof after !== 'object') return '';
  const a = after as Record<string, unknown>;
  const frozen = a['frozen'] as Record<string, unknown> | null | undefined;
  const parts: string[] = [];
  if (typeof a['state'] === 'string') parts.push(a['state']);
  if (frozen && typeof frozen === 'object') parts.push(`until ${when(String(frozen['until']))}`, `“${String(frozen['reason'])}”`);
  else if (typeof a['validUntil'] === 'string') parts.push(`valid until ${when(a['validUntil'])}`);
  if (!parts.length) for (const [k, v] of Object.entries(a).slice(0, 4)) parts.push(`${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return parts.join(', ');
}

/** An ISO time as people read it: `2026-12-05 08:51:00 UTC`. */
function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function changeText(added: number, gone: number): string {
  return added || gone ? `package versions: ${added} in, ${gone} out` : 'no package changed';
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function diffView(d: SerialDiff): Raw {
  const max = 200;
  const lines: Raw[] = [];
  for (const s of d.suites) {
    for (const p of s.added) lines.push(html`<li>${s.suite}: <strong>added</strong> ${p.name} ${p.version} <span class="muted">${p.arch}</span></li>`);
    for (const p of s.removed) lines.push(html`<li>${s.suite}: <strong>removed</strong> ${p.name} ${p.version} <span class="muted">${p.arch}</span></li>`);
    for (const c of s.changed) lines.push(html`<li>${s.suite}: <strong>changed</strong> ${c.name} ${c.from} → ${c.to} <span class="muted">${c.arch}</span></li>`);
  }
  return html`<p>${d.summary.added} added, ${d.summary.removed} removed, ${d.summary.changed} changed.</p>
${lines.length ? html`<ul>${lines.slice(0, max)}</ul>${lines.length > max ? html`<p class="muted">and ${lines.length - max} more (<code>aptfreeze diff ${d.archive} ${d.from} ${d.to}</code>).</p>` : ''}` : ''}`;
}
