/**
 * The daemon's control socket, `<data>/control.sock` (mode 0600): how HTTP
 * workers and a CLI on the same data directory hand mutations to the one
 * runner. Local write access is the authority, as it is for the CLI on its
 * own: whoever can open the socket can write the data directory anyway; the
 * actor a client names (`cli:<user>`, a token's name an HTTP worker checked)
 * is recorded as given.
 *
 * Protocol: one JSON object a line. The client sends one request
 * `{"t":"submit","kind","params","actor","wait"}` or `{"t":"ping"}`; the daemon
 * answers `{"t":"accepted","op"}` or `{"t":"error","error":{code,message}}`,
 * then, when waiting, `{"t":"progress","progress"}` lines and one
 * `{"t":"done","op","result"}`, and closes. A client that goes away does not
 * cancel its operation.
 */
import { dataLayout } from '../datadir.ts';
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { existsSync, unlinkSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { OperationRunner } from './runner.ts';
import type { OpsClient } from './client.ts';
import { errorFrom } from './client.ts';
import { errorOf } from './error-of.ts';
import type { OperationView, Outcome, Progress, SubmitRequest } from './operation.ts';

/** A unix socket path is limited to 107 bytes (sun_path); past that, no control socket. */
const maxSocketPath = 100;
/** A request is one line: a tag's build manifest (up to 8 MiB, tags/build-manifest.ts) crosses too. */
const maxLine = 9 * 1024 * 1024;

export function controlPath(dataDir: string): string {
  return dataLayout(dataDir).controlSocket;
}

type Request = { t: 'ping' } | ({ t: 'submit'; wait?: boolean } & SubmitRequest);
type Reply =
  | { t: 'pong'; pid: number }
  | { t: 'accepted'; op: OperationView }
  | { t: 'progress'; progress: Progress }
  | { t: 'done'; op: OperationView; result?: unknown }
  | { t: 'error'; error: { code: string; message: string } };

/**
 * Listens on the control socket. CONFLICT when another daemon answers on it
 * (one runner per data directory); a socket file nobody answers on is stale
 * and replaced. Null (logged) when the path is too long for a unix socket:
 * the CLI then runs operations itself, the locks still keep them apart.
 */
export async function listenControl(dataDir: string, runner: OperationRunner, log: Logger): Promise<{ close(): Promise<void> } | null> {
  const path = controlPath(dataDir);
  if (Buffer.byteLength(path) > maxSocketPath) {
    log.warn({ path }, 'data directory path too long for a control socket: the CLI will run its operations itself');
    return null;
  }
  if (existsSync(path)) {
    if (await ping(path)) throw new AptfreezeError('CONFLICT', `another aptfreeze daemon runs on ${dataDir} (it answers on ${path})`);
    unlinkSync(path);
  }
  const server = createServer((conn) => serve(conn, runner, log));
  // The socket file is made 0600 at once: umask while it is created, chmod after (umask is per process).
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }),
  };
}

function serve(conn: Socket, runner: OperationRunner, log: Logger): void {
  let buf = '';
  let handled = false;
  const send = (r: Reply) => {
    if (!conn.destroyed) conn.write(`${JSON.stringify(r)}\n`);
  };
  conn.on('error', () => {});
  conn.setEncoding('utf8');
  conn.on('data', (chunk: string) => {
    if (handled) return;
    buf += chunk;
    if (buf.length > maxLine) {
      handled = true;
      send({ t: 'error', error: { code: 'PAYLOAD_TOO_LARGE', message: 'control request too large' } });
      conn.end();
      return;
    }
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    handled = true;
    let req: Request;
    try {
      req = JSON.parse(buf.slice(0, nl)) as Request;
    } catch {
      send({ t: 'error', error: { code: 'BAD_REQUEST', message: 'control request is not JSON' } });
      conn.end();
      return;
    }
    void handle(req);
  });
  const handle = async (req: Request) => {
    try {
      if (req.t === 'ping') {
        send({ t: 'pong', pid: process.pid });
        return;
      }
      if (req.t !== 'submit' || typeof req.kind !== 'string' || typeof req.actor !== 'string') throw new AptfreezeError('BAD_REQUEST', 'expected {"t":"submit","kind","params","actor"}');
      const op = runner.submit({ kind: req.kind, params: req.params, actor: req.actor });
      send({ t: 'accepted', op });
      if (!req.wait) return;
      const stop = runner.watch(op.id, (progress) => send({ t: 'progress', progress }));
      const closed = () => stop();
      conn.once('close', closed);
      try {
        const done = await runner.whenDone(op.id);
        send({ t: 'done', op: done.op, result: done.result });
      } finally {
        stop();
        conn.off('close', closed);
      }
    } catch (e) {
      const error = errorOf(e);
      if (error.code === 'INTERNAL') log.error({ err: error.message }, 'control request failed');
      send({ t: 'error', error });
    } finally {
      conn.end();
    }
  };
}

/** Whether a daemon answers on this control socket. */
export async function ping(path: string): Promise<boolean> {
  try {
    let pong = false;
    await exchange(path, { t: 'ping' }, (r) => {
      if (r.t === 'pong') pong = true;
    });
    return pong;
  } catch {
    return false;
  }
}

/** A client of the daemon's control socket; null when no daemon answers on this data directory. */
export async function connectOps(dataDir: string): Promise<OpsClient | null> {
  const path = controlPath(dataDir);
  if (!existsSync(path) || !(await ping(path))) return null;
  return remoteOps(path);
}

/** Submits through the socket at `path` (an HTTP worker to its primary, the CLI to the daemon). */
export function remoteOps(path: string): OpsClient {
  const submitOver = async (req: SubmitRequest, wait: boolean, onProgress?: (p: Progress) => void): Promise<Outcome> => {
    let accepted: OperationView | undefined;
    let done: Outcome | undefined;
    let error: { code: string; message: string } | undefined;
    await exchange(path, { t: 'submit', ...req, wait }, (r) => {
      if (r.t === 'accepted') accepted = r.op;
      else if (r.t === 'progress') onProgress?.(r.progress);
      else if (r.t === 'done') done = { op: r.op, result: r.result };
      else if (r.t === 'error') error = r.error;
    });
    if (error) throw errorFrom(error);
    if (wait && done) return done;
    if (!wait && accepted) return { op: accepted };
    throw new AptfreezeError('INTERNAL', 'the daemon closed the control connection before the operation ended (did it stop?)');
  };
  return {
    submit: async (req) => (await submitOver(req, false)).op,
    run: (req, onProgress) => submitOver(req, true, onProgress),
  };
}

/** One request, its reply lines, then the daemon closes. */
function exchange(path: string, req: Request, onReply: (r: Reply) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(path);
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(`${JSON.stringify(req)}\n`));
    conn.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          onReply(JSON.parse(line) as Reply);
        } catch (e) {
          conn.destroy();
          reject(e);
          return;
        }
      }
    });
    conn.on('error', (e) => reject(new AptfreezeError('INTERNAL', `control socket ${path}: ${e.message}`, { cause: e })));
    conn.on('close', () => resolve());
  });
}
