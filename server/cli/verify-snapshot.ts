/**
 * `aptfreeze verify --snapshot <url>`: a published snapshot checked from
 * outside, as apt would see it, plus the chain back to upstream:
 *   - each suite's InRelease and Release + Release.gpg signed by the service key;
 *   - every file our Release lists that is served has the listed size and sha256;
 *   - every listed index is upstream's (the upstream Release in the proof lists
 *     the same hash) or a filtered copy (each stanza one of upstream's full index);
 *   - the proof package is the one the signed aptfreeze-proof index lists;
 *   - the upstream Release is signed by a key of the auditor's keyring;
 *   - with --pool, every pool file the served indices name.
 * The fetching is here; every judgement is in server/verify/.
 */
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import type { PublicKey } from 'openpgp';
import { AptfreezeError, asAptfreezeError } from '../errors.ts';
import { parseRelease, type ReleaseFileEntry } from '../debian/release.ts';
import { stripCompression } from '../debian/compress.ts';
import { readKeyring } from '../pgp/keyring.ts';
import { proofComponent } from '../proof/manifest.ts';
import { sourcesRefs } from '../snapshot/parse-index.ts';
import { mapLimit } from '../util/limit.ts';
import { ProofVerifier } from '../verify/proof-verifier.ts';
import { checkSignature } from '../verify/signature.ts';
import { isPackagesIndex, isSourcesIndex, packageEntries, plainIndex, sha256, sourcesStanzasOf } from '../verify/indices.ts';
import { report, type ChainReport, type LinkName, type Step } from '../verify/report.ts';
import { inflate, loadKeyring, proofFromBytes } from './verify-load.ts';

export interface VerifySnapshotOptions {
  url: string;
  keyring: string;
  serviceKey?: string;
  pool: boolean;
  concurrency: number;
  log: (line: string) => void;
}

const MAX_SMALL = 512 * 1024 * 1024;

export async function verifySnapshot(o: VerifySnapshotOptions): Promise<ChainReport[]> {
  const base = new URL(o.url.endsWith('/') ? o.url : `${o.url}/`);
  const parts = base.pathname.split('/').filter(Boolean);
  if (parts.length < 2) throw new AptfreezeError('BAD_REQUEST', `--snapshot: expected <server>/<archive>/<serial>/, got ${o.url}`);
  // A tag is <server>/<archive>/tags/<name>/ (server/tags/): its proof names the tag and the serial it came from.
  const tag = parts.length >= 3 && parts[parts.length - 2] === 'tags' ? parts[parts.length - 1]! : undefined;
  const [archive, serial] = (tag === undefined ? parts.slice(-2) : [parts[parts.length - 3]!, `tag:${tag}`]) as [string, string];
  const server = new URL(`/${parts.slice(0, tag === undefined ? -2 : -3).map((p) => `${p}/`).join('')}`, base);
  const agent = new Agent({ connections: o.concurrency + 2, keepAliveTimeout: 10_000 });
  const http = new Http(agent);
  try {
    let serviceKeys: PublicKey[];
    let serviceKeyNote: string;
    if (o.serviceKey) {
      serviceKeys = await loadKeyring(o.serviceKey);
      serviceKeyNote = `service key from ${o.serviceKey}`;
    } else {
      const keyUrl = new URL('keys/aptfreeze.gpg', server).href;
      const bytes = await http.get(keyUrl, MAX_SMALL);
      if (!bytes) throw new AptfreezeError('NOT_FOUND', `${keyUrl}: 404 (give the service key with --service-key)`);
      serviceKeys = await readKeyring(bytes);
      // Fetched from the server it vouches for: says the snapshot is the service's, not that the service is who you think.
      serviceKeyNote = `service key fetched from ${keyUrl} (trust on first use; pin it with --service-key)`;
    }
    const trustedKeys = await loadKeyring(o.keyring);
    const proofUrl = new URL('proof.deb', base).href;
    const proofBytes = await http.get(proofUrl, MAX_SMALL);
    if (!proofBytes) throw new AptfreezeError('NOT_FOUND', `${proofUrl}: 404`);
    const bundle = await proofFromBytes(proofBytes);
    const verifier = await ProofVerifier.create({ bundle, trustedKeys, now: new Date(), inflate });
    const proofReport = verifier.proofReport();
    proofReport.subject = `proof ${proofUrl}`;
    const m = bundle.manifest;
    const sameSubject = tag === undefined ? m.tag === undefined && (serial === 'latest' || m.serial === serial) : m.tag === tag;
    if (m.archive !== archive || !sameSubject) {
      proofReport.steps.push({ link: 'proof', status: 'fail', detail: `${proofUrl} is the proof of ${m.archive} ${m.tag === undefined ? m.serial : `tag:${m.tag}`}, not of ${archive} ${serial}` });
      Object.assign(proofReport, report(proofReport.subject, proofReport.steps));
    }
    const reports: ChainReport[] = [proofReport];
    const served: Array<{ suite: string; path: string; data: Buffer }> = [];
    for (const ps of m.suites) {
      o.log(`checking ${archive}/${serial} ${ps.suite}`);
      reports.push(await checkSuite(http, base, ps.suite, serviceKeys, serviceKeyNote, verifier, proofBytes, o.concurrency, served));
    }
    if (o.pool) reports.push(await checkPool(http, base, served, o.concurrency, o.log));
    return reports;
  } finally {
    await agent.close().catch(() => {});
  }
}

async function checkSuite(
  http: Http,
  base: URL,
  suite: string,
  serviceKeys: PublicKey[],
  serviceKeyNote: string,
  verifier: ProofVerifier,
  proofBytes: Buffer,
  concurrency: number,
  served: Array<{ suite: string; path: string; data: Buffer }>,
): Promise<ChainReport> {
  const dists = new URL(`dists/${suite}/`, base);
  const steps: Step[] = [];
  const subject = `${base.href} ${suite}`;
  const [inRelease, release, releaseGpg] = await Promise.all(['InRelease', 'Release', 'Release.gpg'].map((n) => http.get(new URL(n, dists).href, MAX_SMALL)));
  let text: string | null = null;
  if (!inRelease) steps.push({ link: 'service-signature', status: 'fail', detail: `${suite}: no InRelease served` });
  else {
    const c = await checkSignature('service-signature', `InRelease of ${suite}`, { form: 'inrelease', inRelease }, serviceKeys, new Date());
    c.step.detail += `; ${serviceKeyNote}`;
    steps.push(c.step);
    text = c.verified?.text ?? null;
  }
  if (!release || !releaseGpg) steps.push({ link: 'service-signature', status: 'fail', detail: `${suite}: no Release and Release.gpg served` });
  else {
    const c = await checkSignature('service-signature', `Release of ${suite}`, { form: 'detached', release, releaseGpg }, serviceKeys, new Date());
    steps.push(c.step);
    if (c.verified && text !== null && c.verified.text !== text) steps.push({ link: 'service-signature', status: 'fail', detail: `${suite}: InRelease and Release sign different texts` });
    text ??= c.verified?.text ?? null;
  }
  if (text === null) return report(subject, [...steps, verifier.signatureStep(suite)]);

  let entries: ReleaseFileEntry[] = [];
  let validUntil: string | undefined;
  try {
    const r = parseRelease(text);
    entries = r.sha256;
    validUntil = r.validUntil?.toISOString();
  } catch (e) {
    steps.push({ link: 'service-signature', status: 'fail', code: asAptfreezeError(e).code, detail: `${suite}: our Release does not parse: ${(e as Error).message}` });
  }
  if (validUntil && Date.parse(validUntil) < Date.now()) steps[0] = { ...steps[0]!, detail: `${steps[0]!.detail}; expired at ${validUntil} (apt refuses it now)` };

  const servedSteps: Step[] = [];
  const upstreamSteps: Step[] = [];
  const proofSteps: Step[] = [];
  const proofSha = sha256(proofBytes);
  await mapLimit(entries, concurrency, async (e) => {
    const data = await http.get(new URL(e.path, dists).href, MAX_SMALL);
    if (data) {
      const ok = sha256(data) === e.hash && data.length === e.size;
      servedSteps.push({
        link: 'served-file',
        status: ok ? 'ok' : 'fail',
        detail: ok ? `${suite}/${e.path}` : `${suite}/${e.path}: served with size ${data.length} sha256 ${sha256(data)}, the signed Release lists size ${e.size} sha256 ${e.hash}`,
      });
      if (!ok) return;
    }
    if (e.path.startsWith(`${proofComponent}/`)) {
      if (data && isPackagesIndex(e.path)) proofSteps.push(proofListed(suite, e.path, data, proofSha));
      return;
    }
    upstreamSteps.push(...verifier.checkListedIndex(suite, e, data ?? undefined));
    if (data && (isPackagesIndex(e.path) || isSourcesIndex(e.path))) served.push({ suite, path: e.path, data });
  });
  const byLink = (link: LinkName, list: Step[], what: string) => aggregate(link, list.filter((s) => s.link === link), what);
  steps.push(aggregate('served-file', servedSteps, 'served files match the signed Release'));
  steps.push(byLink('index-vs-upstream', upstreamSteps, 'listed indices are upstream\'s, verbatim or filtered'));
  if (upstreamSteps.some((s) => s.link === 'upstream-stanza')) steps.push(byLink('upstream-stanza', upstreamSteps, 'filtered indices hold only upstream stanzas'));
  if (upstreamSteps.some((s) => s.link === 'index-in-release')) steps.push(byLink('index-in-release', upstreamSteps, 'full upstream indices listed in the upstream Release'));
  steps.push(proofSteps.length ? aggregate('proof-package', proofSteps, 'aptfreeze-proof indices list the served proof.deb') : { link: 'proof-package', status: 'fail', detail: `${suite}: no aptfreeze-proof Packages index served` });
  steps.push(verifier.signatureStep(suite));
  return report(subject, steps);
}

/** Checks that the served aptfreeze-proof index lists the served proof.deb. */
function proofListed(suite: string, path: string, data: Buffer, proofSha: string): Step {
  try {
    for (const e of packageEntries(plainIndex(path, data, inflate), `${suite}/${path}`, false)) {
      if (!e.invalid && e.sha256 === proofSha) return { link: 'proof-package', status: 'ok', detail: `${suite}/${path} lists proof.deb (sha256 ${proofSha})` };
    }
    return { link: 'proof-package', status: 'fail', detail: `${suite}/${path} does not list the served proof.deb (sha256 ${proofSha})` };
  } catch (e) {
    return { link: 'proof-package', status: 'fail', code: asAptfreezeError(e).code, detail: `${suite}/${path}: ${(e as Error).message}` };
  }
}

/** --pool: every file the served (and checked) Packages and Sources indices name, fetched and hashed. */
async function checkPool(http: Http, base: URL, served: Array<{ suite: string; path: string; data: Buffer }>, concurrency: number, log: (l: string) => void): Promise<ChainReport> {
  const refs = new Map<string, { sha256: string; size: number; from: string }>();
  const steps: Step[] = [];
  // One variant of each index is enough: the others hold the same stanzas (their hashes were checked).
  const seen = new Set<string>();
  for (const s of served) {
    const key = `${s.suite}\0${stripCompression(s.path)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      const from = `${s.suite}/${s.path}`;
      const text = plainIndex(s.path, s.data, inflate);
      if (isPackagesIndex(s.path)) {
        for (const e of packageEntries(text, from, false)) if (!e.invalid) refs.set(e.filename, { sha256: e.sha256, size: e.size, from });
      } else for (const st of sourcesStanzasOf(text)) for (const r of sourcesRefs(st, from)) refs.set(r.path, { sha256: r.sha256, size: r.size, from });
    } catch (e) {
      steps.push({ link: 'pool-file', status: 'fail', code: asAptfreezeError(e).code, detail: `${s.suite}/${s.path}: ${(e as Error).message}` });
    }
  }
  log(`checking ${refs.size} pool files`);
  let bytes = 0;
  const t0 = Date.now();
  await mapLimit([...refs], concurrency, async ([path, want]) => {
    const got = await http.hash(new URL(path, base).href);
    if (!got) return void steps.push({ link: 'pool-file', status: 'fail', detail: `${path}: not served (404), listed in ${want.from}` });
    bytes += got.size;
    const ok = got.sha256 === want.sha256 && got.size === want.size;
    steps.push({ link: 'pool-file', status: ok ? 'ok' : 'fail', detail: ok ? path : `${path}: served with size ${got.size} sha256 ${got.sha256}, ${want.from} lists size ${want.size} sha256 ${want.sha256}` });
  });
  return report(`${base.href} pool`, [aggregate('pool-file', steps, 'pool files match their stanzas')], { files: refs.size, bytes, ms: Date.now() - t0 });
}

function aggregate(link: LinkName, steps: Step[], what: string): Step {
  const bad = steps.filter((s) => s.status === 'fail' || s.status === 'untrusted');
  if (bad.length === 0) return { link, status: 'ok', detail: steps.length ? `${steps.filter((s) => s.status === 'ok').length} ${what}` : 'nothing to check' };
  return { link, status: bad[0]!.status, ...(bad[0]!.code ? { code: bad[0]!.code } : {}), detail: `${bad[0]!.detail}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ''}`, data: { failures: bad.map((b) => b.detail) } };
}

class Http {
  constructor(private readonly agent: Agent) {}

  /** A 200 response, or null on 404 (410 too: a collected serial serves nothing); other statuses throw. */
  private async ok(url: string) {
    const res = await this.send(url);
    if (res.statusCode === 404 || res.statusCode === 410) {
      await res.body.dump();
      return null;
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new AptfreezeError('UPSTREAM_HTTP', `${url}: HTTP ${res.statusCode}`);
    }
    return res;
  }

  /** The body, or null on 404 (410 too: a collected serial serves nothing). */
  async get(url: string, max: number): Promise<Buffer | null> {
    const res = await this.ok(url);
    if (!res) return null;
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of res.body) {
      n += (c as Buffer).length;
      if (n > max) {
        res.body.destroy();
        throw new AptfreezeError('UPSTREAM_TOO_LARGE', `${url}: more than ${max} bytes`);
      }
      parts.push(c as Buffer);
    }
    return Buffer.concat(parts);
  }

  /** The sha256 and size of a body, streamed; null on 404. */
  async hash(url: string): Promise<{ sha256: string; size: number } | null> {
    const res = await this.ok(url);
    if (!res) return null;
    const h = createHash('sha256');
    let size = 0;
    for await (const c of res.body) {
      h.update(c as Buffer);
      size += (c as Buffer).length;
    }
    return { sha256: h.digest('hex'), size };
  }

  private async send(url: string) {
    try {
      // No redirects are followed (undici's default): a snapshot serves its own files.
      return await request(url, { dispatcher: this.agent });
    } catch (e) {
      throw new AptfreezeError('UPSTREAM_HTTP', `${url}: ${(e as Error).message}`, { cause: e });
    }
  }
}
