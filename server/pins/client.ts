import { AptfreezeError, errorCodes, type ErrorCode } from '../errors.ts';
import type { SerialView } from '../snapshot/query.ts';

export interface ArchiveInfo {
  name: string;
  configured: boolean;
  suites: string[];
  components: string[];
  architectures: string[];
  latest: string | null;
}

/**
 * The builder's side talks to a running server's JSON API (reads only, no
 * token), never to a data directory: builders do not have one.
 */
export class ServerClient {
  readonly base: string;

  constructor(server: string) {
    let u: URL;
    try {
      u = new URL(server);
    } catch {
      throw new AptfreezeError('BAD_REQUEST', `--server: not a URL: ${JSON.stringify(server)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new AptfreezeError('BAD_REQUEST', `--server: expected an http:// or https:// URL, got ${server}`);
    this.base = server.replace(/\/+$/, '');
  }

  async archives(): Promise<ArchiveInfo[]> {
    const body = (await this.get('/api/archives')) as { archives: ArchiveInfo[] };
    return body.archives;
  }

  async archive(name: string): Promise<ArchiveInfo> {
    const a = (await this.archives()).find((x) => x.name === name);
    if (!a) throw new AptfreezeError('NOT_FOUND', `${this.base}: unknown archive ${name}`);
    return a;
  }

  /** A serial the server still serves; NOT_FOUND when it never published it, GONE when it was collected. */
  async serial(archive: string, serial: string): Promise<SerialView> {
    const v = (await this.get(`/api/archives/${encodeURIComponent(archive)}/serials/${encodeURIComponent(serial)}`)) as SerialView;
    // The API lists a collected serial (200, state collected); for a builder it is gone.
    if (v.state === 'collected') throw new AptfreezeError('GONE', `${this.base}: ${archive}/${serial} was collected`);
    return v;
  }

  /** A tag the server holds for an archive (NOT_FOUND when it has none of that name, or not for that archive). */
  async tag(name: string, archive: string): Promise<{ name: string; archives: Array<{ archive: string; serial: string }> }> {
    const t = (await this.get(`/api/tags/${encodeURIComponent(name)}`)) as { name: string; archives: Array<{ archive: string; serial: string }> };
    if (!t.archives.some((a) => a.archive === archive)) throw new AptfreezeError('NOT_FOUND', `${this.base}: tag ${name} holds nothing of ${archive}`);
    return t;
  }

  async keyArmored(): Promise<string> {
    return (await this.request('/keys/aptfreeze.asc')).text();
  }

  private async get(path: string): Promise<unknown> {
    return (await this.request(path)).json();
  }

  private async request(path: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { signal: AbortSignal.timeout(30_000) });
    } catch (e) {
      throw new AptfreezeError('UPSTREAM_HTTP', `cannot reach the aptfreeze server ${this.base}: ${(e as Error).message}`, { cause: e });
    }
    if (res.ok) return res;
    // The server's own error keeps its code (NOT_FOUND, GONE...); anything else is an HTTP failure.
    let code: ErrorCode = 'UPSTREAM_HTTP';
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: { code?: string; message?: string } };
      if (body.error?.code && body.error.code in errorCodes) code = body.error.code as ErrorCode;
      if (body.error?.message) message = body.error.message;
    } catch {
      // not our JSON
    }
    throw new AptfreezeError(code, `${this.base}${path}: ${message}`);
  }
}
