// Serving measurement with wrk (32 connections, 2 threads, a bounded time), after checking
// that the URL answers 200 with the expected number of bytes.
import { run, treeRss } from './proc.ts';
import { httpGet } from './net.ts';

export interface WrkResult {
  url: string;
  ok: boolean;
  error?: string;
  seconds: number;
  connections: number;
  fileBytes: number;
  requests: number;
  requestsPerSec: number;
  /** requests/s × file size, in MB/s (10^6 bytes) */
  mbPerSec: number;
  non2xx: number;
  socketErrors: string | null;
  latencyAvg: string | null;
  /** peak RSS of the server's process tree during the run, when a pid was given */
  serverRssBytes: number | null;
}

export async function wrk(url: string, opts: { seconds: number; connections?: number; threads?: number; expectBytes: number; serverPid?: number; warmupSeconds?: number }): Promise<WrkResult> {
  const connections = opts.connections ?? 32;
  const base: WrkResult = { url, ok: false, seconds: opts.seconds, connections, fileBytes: opts.expectBytes, requests: 0, requestsPerSec: 0, mbPerSec: 0, non2xx: 0, socketErrors: null, latencyAvg: null, serverRssBytes: null };
  try {
    const probe = await httpGet(url);
    if (probe.status !== 200 || probe.bytes !== opts.expectBytes) return { ...base, error: `probe: status ${probe.status}, ${probe.bytes} bytes (expected 200, ${opts.expectBytes})` };
  } catch (e) {
    return { ...base, error: `probe: ${(e as Error).message}` };
  }
  const threads = String(opts.threads ?? 2);
  if (opts.warmupSeconds) await run('wrk', ['-t', threads, '-c', String(connections), '-d', `${opts.warmupSeconds}s`, url], { timeoutMs: (opts.warmupSeconds + 30) * 1000 });
  let rss = 0;
  const poll = opts.serverPid ? setInterval(() => (rss = Math.max(rss, treeRss(opts.serverPid!))), 200) : null;
  const r = await run('wrk', ['-t', threads, '-c', String(connections), '-d', `${opts.seconds}s`, '--timeout', '10s', url], { timeoutMs: (opts.seconds + 60) * 1000 });
  if (poll) clearInterval(poll);
  const out = r.stdout;
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const reqs = /(\d+) requests in/.exec(out);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors:\s+(.*)/.exec(out);
  const lat = /Latency\s+(\S+)/.exec(out);
  if (r.code !== 0 || !rps) return { ...base, error: `wrk exit ${r.code}: ${r.stderr.slice(0, 300)} ${out.slice(0, 300)}` };
  const requestsPerSec = Number(rps[1]);
  const res: WrkResult = {
    ...base,
    ok: true,
    requests: reqs ? Number(reqs[1]) : 0,
    requestsPerSec,
    mbPerSec: (requestsPerSec * opts.expectBytes) / 1e6,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock[1]!.trim() : null,
    latencyAvg: lat ? lat[1]! : null,
    serverRssBytes: opts.serverPid ? rss : null,
  };
  if (res.non2xx > 0) {
    res.ok = false;
    res.error = `${res.non2xx} responses were not 2xx/3xx`;
  }
  return res;
}
