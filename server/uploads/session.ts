/**
 * Upload sessions: the files of one upload collect in a directory of their
 * own, `<data>/incoming/<repository>/<id>/`, so that two uploads never share a
 * staging place (aptly #1276 lost files that way). A session is keyed by the
 * repository, the authenticated uploader and the incoming path's optional
 * session segment (`PUT /upload/<repo>/<session>/<file>`); its `.changes`,
 * uploaded last, closes it. A session with no new file for the repository's
 * `sessionTimeout` is removed (clock-driven: the injected `now`).
 */
import { dataLayout } from '../datadir.ts';
import { randomBytes } from 'node:crypto';
import { promises as fsp, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import type { RepositoryConfig } from '../config/schema.ts';
import type { Catalog, SessionRow } from '../catalog/uploads.ts';
import { checkUploadFileName } from './changes.ts';

export interface SessionDeps {
  catalog: Catalog;
  dataDir: string;
  now: () => Date;
}

/** Bytes past the cap still read (and dropped) before the connection is cut. */
const drainBytes = 64 * 1024 * 1024;

const sessionNameRe = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function incomingRoot(dataDir: string, repository: string): string {
  return join(dataLayout(dataDir).incoming, repository);
}

export function sessionDir(dataDir: string, s: Pick<SessionRow, 'repository' | 'id'>): string {
  return join(incomingRoot(dataDir, s.repository), s.id);
}

export function checkSessionName(name: string): string {
  if (name !== '' && !sessionNameRe.test(name)) throw new AptfreezeError('UNSAFE_PATH', `upload session ${JSON.stringify(name)}: expected letters, digits and . _ - (not starting with a dot)`);
  return name;
}

/** The open session of (repository, uploader, name), made when there is none. */
export async function openSession(d: SessionDeps, repository: string, actor: string, name: string): Promise<SessionRow> {
  checkSessionName(name);
  const now = d.now().toISOString();
  const row = d.catalog.session(repository, actor, name) ?? d.catalog.openSession({ id: randomBytes(12).toString('hex'), repository, actor, name, created_at: now, updated_at: now });
  await fsp.mkdir(sessionDir(d.dataDir, row), { recursive: true, mode: 0o700 });
  return row;
}

/** The files a session holds, by name, with their sizes. */
export function sessionFiles(dataDir: string, s: SessionRow): Map<string, number> {
  const dir = sessionDir(dataDir, s);
  const out = new Map<string, number>();
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    // Temp files of a PUT in progress start with a dot: not part of the upload.
    if (e.isFile() && !e.name.startsWith('.')) out.set(e.name, 0);
  }
  return out;
}

/**
 * Writes one file into a session from a stream: temp file, then rename (a PUT
 * of the same name again replaces it). Refuses a file over the repository's
 * per-file cap or one that would take the session over its upload cap
 * (PAYLOAD_TOO_LARGE), and ends the session then: nothing stays staged.
 */
export async function putSessionFile(d: SessionDeps, repo: RepositoryConfig, s: SessionRow, name: string, body: AsyncIterable<Uint8Array>): Promise<{ size: number }> {
  checkUploadFileName(name);
  const dir = sessionDir(d.dataDir, s);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const dest = join(dir, name);
  const tmp = join(dir, `.${name}.${randomBytes(4).toString('hex')}.part`);
  let prior = 0;
  try {
    prior = (await fsp.stat(dest)).size;
  } catch {
    prior = 0;
  }
  const budget = Math.min(repo.maxFileBytes, repo.maxUploadBytes - (s.bytes - prior));
  const fh = await fsp.open(tmp, 'wx', 0o600);
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.length;
      // Over the cap: the rest is read and dropped (up to a bound), so the client reads our answer rather than a reset.
      if (size > budget + drainBytes) break;
      if (size > budget) continue;
      await fh.write(chunk);
    }
    if (size > budget) throw new AptfreezeError('PAYLOAD_TOO_LARGE', `${name}: the upload is over the repository's cap (${repo.maxFileBytes} bytes a file, ${repo.maxUploadBytes} an upload)`);
    await fh.close();
    await fsp.rename(tmp, dest);
  } catch (e) {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    if (e instanceof AptfreezeError && e.code === 'PAYLOAD_TOO_LARGE') await endSession(d, s);
    throw e;
  }
  s.bytes = s.bytes - prior + size;
  d.catalog.touchSession(s.id, s.bytes, d.now());
  return { size };
}

/** Removes a session: its directory and its row. */
export async function endSession(d: Pick<SessionDeps, 'catalog' | 'dataDir'>, s: SessionRow): Promise<void> {
  await fsp.rm(sessionDir(d.dataDir, s), { recursive: true, force: true });
  d.catalog.deleteSession(s.id);
}

/** Removes the sessions of a repository idle for longer than its sessionTimeout; returns their ids. */
export async function expireSessions(d: SessionDeps, repo: RepositoryConfig): Promise<string[]> {
  const before = new Date(d.now().getTime() - repo.sessionTimeoutMs);
  const idle = d.catalog.sessionsIdleSince(repo.name, before);
  for (const s of idle) await endSession(d, s);
  // Directories left by a crash between mkdir and the row (or the reverse): no row, no session.
  const root = incomingRoot(d.dataDir, repo.name);
  if (existsSync(root)) {
    const live = new Set(d.catalog.sessions(repo.name).map((s) => s.id));
    for (const e of readdirSync(root)) if (!live.has(e)) await fsp.rm(join(root, e), { recursive: true, force: true });
  }
  return idle.map((s) => s.id);
}
