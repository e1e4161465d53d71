import type { Dispatcher } from 'undici';
import { AptfreezeError } from '../errors.ts';
import { tooLarge } from '../store/store.ts';

/**
 * One GET whose body is read whole into memory: the pool's small files (a .deb of a few
 * kilobytes, tens of thousands of them in a first snapshot). It speaks to undici's dispatcher
 * through a handler (the callbacks its HTTP/1.1 parser calls) instead of `request()`: no body
 * stream, no async iteration, no AbortSignal, and so none of their allocations, listeners and
 * event-loop turns for each file. The bytes arrive as the parser's own slices and are kept as
 * they are (one file is usually one slice); the caller hashes the whole buffer once.
 *
 * The same limits as the streaming path (fetch.ts): the body stops at the first byte past the
 * size the signed index gives (endless data), a Content-Length that disagrees with that size
 * is refused before any byte is read, the request has a deadline (slow retrieval) and the body
 * an average rate, checked at every slice.
 *
 * Abandoning a download: the handler never pauses the parser (no back-pressure: the bytes are
 * bounded by `size`), and it lets go of a request by `controller.abort(reason)` only, the one
 * way undici offers a handler (the same path `request()` takes when its handler throws). The
 * assertion once seen in undici's Parser.finish (PITFALLS.md) needs a parser paused on an
 * unread body, which this handler never leaves.
 */

/** Bytes of a non-200 answer's body read and dropped to keep its connection; past it the request is abandoned. */
const errorBodyBytes = 64 * 1024;

export interface RateRule {
  /** Date.now() when the first request of this download was sent */
  started: number;
  slackMs: number;
  minRate: number;
}

export interface WholeGet {
  /** The request's URL (its path and query are sent; parsed once, by the caller). */
  url: URL;
  /** Its origin, `http(s)://host[:port]`: given, because URL's `origin` getter costs tens of µs a call here. */
  origin: string;
  /** The size the signed index gives: at most this many body bytes are read. */
  size: number;
  /** Milliseconds left for this request, headers and body. */
  deadlineMs: number;
  rate: RateRule;
  /** Told the size of each body slice of a 200 answer, once it passed the checks. */
  onChunk?: (n: number) => void;
}

/** A 200 with its body (at most `size` bytes; fewer when upstream sent fewer), or another status with its Location. */
export type WholeAnswer = { status: 200; body: Buffer } | { status: number; location: string | undefined };

/** The deadline's abort reason: the same as AbortSignal.timeout's, so errors read alike on both paths. */
export function timeoutReason(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}

export function getWhole(dispatcher: Dispatcher, req: WholeGet): Promise<WholeAnswer> {
  return new Promise<WholeAnswer>((resolve, reject) => {
    let controller: Dispatcher.DispatchController | null = null;
    let settled = false;
    /** Set once nothing more is wanted of this request (answered, refused, or past its deadline). */
    let abandoned: Error | null = null;
    let status = 0;
    let received = 0;
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => fail(timeoutReason()), Math.max(0, req.deadlineMs));
    timer.unref();

    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    /** Refuses the download and lets go of the request (now, or as soon as it is on a connection). */
    const fail = (e: Error) => {
      clearTimeout(timer);
      settle(() => reject(e));
      abandon(e);
    };
    const abandon = (e: Error) => {
      if (abandoned) return;
      abandoned = e;
      if (controller && !controller.aborted) controller.abort(e);
    };

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        // Abandoned while it waited for a connection (its deadline passed in the queue).
        if (abandoned) c.abort(abandoned);
      },
      onResponseStart(_c, statusCode, headers) {
        // An informational answer (100 Continue, 103 Early Hints): the real one follows.
        if (statusCode < 200) return;
        status = statusCode;
        if (statusCode !== 200) {
          const location = headers['location'];
          // The body of a redirect or an error is read and dropped (below): the connection stays usable.
          settle(() => resolve({ status: statusCode, location: typeof location === 'string' ? location : undefined }));
          return;
        }
        const len = headers['content-length'];
        if (len !== undefined && Number(len) !== req.size) {
          fail(new AptfreezeError('SIZE_MISMATCH', `Content-Length ${String(len)}, the signed index says ${req.size}`));
        }
      },
      onResponseData(_c, chunk) {
        if (abandoned) return;
        received += chunk.length;
        if (status !== 200) {
          if (received > errorBodyBytes) {
            clearTimeout(timer);
            abandon(new AptfreezeError('UPSTREAM_HTTP', `${req.url.href}: HTTP ${status} with a body over ${errorBodyBytes} bytes`));
          }
          return;
        }
        // Endless data: stop at the first byte beyond the size the signed index gives.
        if (received > req.size) return fail(tooLarge(received, req.size));
        const late = Date.now() - req.rate.started - req.rate.slackMs;
        if (late > 0 && received < (req.rate.minRate * late) / 1000) {
          return fail(new AptfreezeError('UPSTREAM_HTTP', `${req.url.href}: timed out (${received} bytes in ${Date.now() - req.rate.started} ms, slower than fetch.minRate ${req.rate.minRate} bytes/s)`));
        }
        req.onChunk?.(chunk.length);
        chunks.push(chunk);
      },
      onResponseEnd() {
        clearTimeout(timer);
        if (status !== 200) return;
        settle(() => resolve({ status: 200, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received) }));
      },
      onResponseError(_c, err) {
        clearTimeout(timer);
        // Our own abort comes back here with its reason: the download was settled by then.
        settle(() => reject(err));
      },
    };
    try {
      dispatcher.dispatch({ origin: req.origin, path: `${req.url.pathname}${req.url.search}`, method: 'GET' }, handler);
    } catch (e) {
      clearTimeout(timer);
      settle(() => reject(e as Error));
    }
  });
}
