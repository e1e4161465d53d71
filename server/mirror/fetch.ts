import { Agent, request, errors as undiciErrors } from 'undici';
import { setTimeout as sleep } from 'node:timers/promises';
import { AptfreezeError, isAptfreezeError } from '../errors.ts';
import type { FetchSettings } from '../config/load.ts';
import { smallBlobBytes, type BlobRef, type BlobStore } from '../store/store.ts';
import { getWhole, timeoutReason, type RateRule } from './whole-body.ts';

export interface FetchStats {
  requests: number;
  bytes: number;
  retries: number;
}

/** What a fetch may try, in order: by-hash first where upstream offers it, then the plain path. */
export type Candidates = string[];

/**
 * The upstream side of HTTP: keep-alive connections (undici), bounded
 * retries with backoff, per-request deadlines derived from the expected size
 * (slow retrieval), caps on bodies (endless data), same-origin redirects only.
 */
export class Fetcher {
  readonly stats: FetchStats = { requests: 0, bytes: 0, retries: 0 };
  private readonly agent: Agent;

  constructor(
    private readonly settings: FetchSettings,
    private readonly onBytes: (n: number) => void = () => {},
  ) {
    this.agent = new Agent({
      connections: settings.concurrency + 2,
      keepAliveTimeout: 10_000,
      connectTimeout: settings.connectTimeoutMs,
      headersTimeout: settings.connectTimeoutMs,
      bodyTimeout: settings.idleTimeoutMs,
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** A small file (Release, InRelease, Release.gpg) into memory; null when upstream says 404. */
  async getSmall(url: string, maxBytes: number): Promise<Buffer | null> {
    return this.withRetries(url, async () => {
      const res = await this.open(url, maxBytes);
      if (res === null) return null;
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res.body) {
        size += c.length;
        if (size > maxBytes) {
          discard(res.body);
          throw new AptfreezeError('UPSTREAM_TOO_LARGE', `${url}: more than ${maxBytes} bytes`);
        }
        chunks.push(c);
      }
      return Buffer.concat(chunks);
    });
  }

  /**
   * Fetches a file into the store, its size and sha256 checked before it is stored under its
   * hash. Candidates are tried in order on 404 (by-hash, then the plain path). A file of at most
   * smallBlobBytes (the pool's .debs, mostly) is read whole into memory (whole-body.ts) and
   * hashed once; a larger one streams to the store, checked while it streams.
   */
  async toStore(candidates: Candidates, expected: BlobRef, store: BlobStore): Promise<void> {
    let lastNotFound: string | undefined;
    const whole = expected.size <= smallBlobBytes;
    for (const url of candidates) {
      const ok = await this.withRetries(url, () => (whole ? this.wholeToStore(url, expected, store) : this.streamToStore(url, expected, store)));
      if (ok) return;
      lastNotFound = url;
    }
    throw new AptfreezeError('UPSTREAM_HTTP', `${lastNotFound ?? candidates[0]}: 404 Not Found`);
  }

  /** One attempt of a small file: false on 404. */
  private async wholeToStore(url: string, expected: BlobRef, store: BlobStore): Promise<boolean> {
    try {
      const body = await this.getWhole(url, expected.size);
      if (body === null) return false;
      await store.putBuffer(body, expected);
    } catch (e) {
      throw withUrl(url, e);
    }
    return true;
  }

  /** One attempt of a large file: false on 404. */
  private async streamToStore(url: string, expected: BlobRef, store: BlobStore): Promise<boolean> {
    const res = await this.open(url, expected.size, this.countBytes);
    if (res === null) return false;
    const len = res.headers['content-length'];
    if (len !== undefined && Number(len) !== expected.size) {
      discard(res.body);
      throw new AptfreezeError('SIZE_MISMATCH', `${url}: Content-Length ${len}, the signed index says ${expected.size}`);
    }
    try {
      await store.putStream(res.body, expected);
    } catch (e) {
      discard(res.body);
      throw withUrl(url, e);
    }
    return true;
  }

  /**
   * A body of a known small size into memory (at most `size` bytes; the store checks the count
   * and the hash), following same-origin redirects; null on 404/410. One deadline for the whole
   * download, redirects included, as open() has.
   */
  private async getWhole(url: string, size: number): Promise<Buffer | null> {
    let current = new URL(url);
    // Same-origin redirects only (below): the origin of every hop is the first's.
    const origin = `${current.protocol}//${current.host}`;
    const slackMs = this.settings.connectTimeoutMs + this.settings.idleTimeoutMs;
    const deadlineMs = slackMs + Math.ceil((size / this.settings.minRate) * 1000);
    const rate: RateRule = { started: Date.now(), slackMs, minRate: this.settings.minRate };
    for (let hop = 0; ; hop++) {
      this.stats.requests++;
      const left = deadlineMs - (Date.now() - rate.started);
      if (left <= 0) throw toUpstreamError(current.href, timeoutReason());
      let answer;
      try {
        answer = await getWhole(this.agent, { url: current, origin, size, deadlineMs: left, rate, onChunk: this.countBytes });
      } catch (e) {
        throw toUpstreamError(current.href, e);
      }
      if ('body' in answer) return answer.body;
      if (answer.status === 404 || answer.status === 410) return null;
      current = this.redirect(url, current.href, origin, hop, answer.status, answer.location);
    }
  }

  /** The next URL of a same-origin redirect; any other answer than a redirect is an UPSTREAM_HTTP error. */
  private redirect(first: string, current: string, origin: string, hop: number, status: number, location: unknown): URL {
    if (![301, 302, 303, 307, 308].includes(status)) throw new AptfreezeError('UPSTREAM_HTTP', `${current}: HTTP ${status}`, { details: { status } });
    if (typeof location !== 'string') throw new AptfreezeError('UPSTREAM_HTTP', `${current}: redirect without Location`);
    const next = new URL(location, current);
    if (next.origin !== origin) throw new AptfreezeError('UPSTREAM_HTTP', `${current}: redirect to another host (${next.origin}) refused`);
    if (hop >= this.settings.maxRedirects) throw new AptfreezeError('UPSTREAM_HTTP', `${first}: more than ${this.settings.maxRedirects} redirects`);
    return next;
  }

  private readonly countBytes = (n: number): void => {
    this.stats.bytes += n;
    this.onBytes(n);
  };

  /**
   * Opens a GET, following same-origin redirects; null on 404/410. `onChunk` sees the size of
   * every body chunk that passed the rate check.
   */
  private async open(url: string, expectedBytes: number, onChunk?: (n: number) => void) {
    let current = url;
    const origin = new URL(url).origin;
    // Slow retrieval: the whole body must arrive at minRate on average, plus fixed slack.
    const slackMs = this.settings.connectTimeoutMs + this.settings.idleTimeoutMs;
    const deadline = new Deadline(slackMs + Math.ceil((expectedBytes / this.settings.minRate) * 1000));
    const started = Date.now();
    try {
      for (let hop = 0; ; hop++) {
        this.stats.requests++;
        let res;
        try {
          res = await request(current, { dispatcher: this.agent, signal: deadline.signal, maxRedirections: 0 } as Parameters<typeof request>[1]);
        } catch (e) {
          throw toUpstreamError(current, e);
        }
        const status = res.statusCode;
        if (status === 404 || status === 410) {
          discard(res.body);
          deadline.clear();
          return null;
        }
        if (status !== 200) {
          discard(res.body);
          current = this.redirect(url, current, origin, hop, status, res.headers['location']).href;
          continue;
        }
        const raw = res.body;
        // Surface a deadline abort inside the body as an upstream error. The deadline's timer
        // goes once the body is read to its end or dropped.
        const rate = { started, slackMs, minRate: this.settings.minRate };
        // Abandoning a download midway (a hash or size refusal, a full store): the body stream is
        // destroyed first, then the request is let go (its signal aborted), the order undici
        // expects. Dropping the request while its parser is paused on an unread body, as the
        // connection closes, reached undici's internal assertion in Parser.finish under load.
        const destroy = () => {
          discard(raw);
          deadline.abandon();
        };
        return { headers: res.headers, body: Object.assign(guardBody(raw, current, rate, deadline, onChunk), { destroy }) };
      }
    } catch (e) {
      deadline.clear();
      throw e;
    }
  }

  private async withRetries<T>(url: string, attempt: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await attempt();
      } catch (e) {
        if (!retryable(e) || i >= this.settings.retries) throw e;
        this.stats.retries++;
        await sleep(this.settings.backoffMs * 2 ** i);
      }
    }
  }
}

/** Drops a body we will not read; undici reports the abort as an error event that must be handled. */
function discard(body: { on(ev: 'error', fn: () => void): unknown; destroy(): void } | { destroy(): void }): void {
  if ('on' in body) body.on('error', () => {});
  body.destroy();
}

/**
 * Slow retrieval where the size is not known beforehand (a Release, capped at
 * maxReleaseBytes): past the fixed slack, the body must have averaged minRate
 * since the request began, checked at every chunk. A byte a second is cut off
 * a second after the slack, not at cap / minRate (17 minutes by default).
 * (RateRule: whole-body.ts, whose small files are held to the same rule.)
 */
async function* guardBody(body: AsyncIterable<Buffer> & { destroy(): void }, url: string, rate: RateRule, deadline: Deadline, onChunk?: (n: number) => void): AsyncIterable<Buffer> {
  let received = 0;
  try {
    for await (const c of body) {
      received += c.length;
      const late = Date.now() - rate.started - rate.slackMs;
      if (late > 0 && received < (rate.minRate * late) / 1000) {
        discard(body);
        throw new AptfreezeError('UPSTREAM_HTTP', `${url}: timed out (${received} bytes in ${Date.now() - rate.started} ms, slower than fetch.minRate ${rate.minRate} bytes/s)`);
      }
      onChunk?.(c.length);
      yield c;
    }
  } catch (e) {
    throw toUpstreamError(url, e);
  } finally {
    deadline.clear();
  }
}

/**
 * The deadline of one request, redirects and body included. Like AbortSignal.timeout (the same
 * abort reason), but its timer goes once the request is over: AbortSignal.timeout keeps a timer
 * and a weak reference alive for the whole deadline, tens of seconds, for each of tens of
 * thousands of small files (about 10 µs and 400 bytes of heap each, against 1 µs here).
 */
class Deadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  readonly signal = this.controller.signal;

  constructor(ms: number) {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // The same reason AbortSignal.timeout gives.
      this.controller.abort(timeoutReason());
    }, ms);
    this.timer.unref();
  }

  /** Lets go of the request whose body was destroyed: the abort takes it out of the dispatcher. */
  abandon(): void {
    this.clear();
    if (!this.controller.signal.aborted) this.controller.abort(new DOMException('The download was abandoned', 'AbortError'));
  }

  clear(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Errors worth another attempt: the network, 5xx, 429, a short body. Never a wrong hash or an oversized body. */
function retryable(e: unknown): boolean {
  if (!isAptfreezeError(e)) return true;
  if (e.code === 'UPSTREAM_HTTP') {
    const status = e.details?.['status'] as number | undefined;
    if (status === undefined) return !/redirect/.test(e.message);
    return status >= 500 || status === 429;
  }
  if (e.code !== 'SIZE_MISMATCH') return false;
  const got = e.details?.['got'] as number | undefined;
  const expected = e.details?.['expected'] as number | undefined;
  return got !== undefined && expected !== undefined && got < expected;
}

/** A size or hash refusal of the store, named by the URL it came from. */
function withUrl(url: string, e: unknown): unknown {
  if (isAptfreezeError(e) && (e.code === 'SIZE_MISMATCH' || e.code === 'HASH_MISMATCH')) {
    return new AptfreezeError(e.code, `${url}: ${e.message}`, { cause: e, details: e.details });
  }
  return e;
}

function toUpstreamError(url: string, e: unknown): AptfreezeError {
  if (isAptfreezeError(e)) return e;
  const err = e as Error & { code?: string };
  let what = err.message || String(e);
  if (err.name === 'TimeoutError' || err.name === 'AbortError' || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.HeadersTimeoutError) {
    what = `timed out (${err.message})`;
  }
  return new AptfreezeError('UPSTREAM_HTTP', `${url}: ${what}`, { cause: e });
}
