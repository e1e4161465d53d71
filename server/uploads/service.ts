/**
 * Custom repositories as one service over the Services: receiving a file of
 * an upload into its session, handing the upload to the operations runner
 * once its .changes is in (the `upload` operation, server/ops/kinds/uploads.ts,
 * which processes and publishes it), expiring idle sessions. The HTTP routes
 * and the CLI call the same functions.
 */
import { AptfreezeError, asAptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import type { RepositoryConfig } from '../config/schema.ts';
import { Catalog, type SessionRow } from '../catalog/uploads.ts';
import { endSession, expireSessions, openSession, putSessionFile } from './session.ts';
import type { UploadResult } from './process.ts';
import { resultOf, type OpsClient } from '../ops/client.ts';
import { readDebControlText } from '../debian/deb-control.ts';
import { parseDebControl } from './changes.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sessionDir } from './session.ts';

export type UploadsDeps = Pick<Services, 'config' | 'repo' | 'store' | 'publisher' | 'key' | 'log' | 'now' | 'db' | 'dataDir'>;

export interface PutResult {
  file: string;
  size: number;
  /** Set once the .changes came in and the upload was processed. */
  upload?: UploadResult;
}

export class UploadsService {
  readonly catalog: Catalog;

  constructor(
    private readonly d: UploadsDeps,
    private readonly ops: OpsClient,
  ) {
    this.catalog = new Catalog(d.db);
  }

  repository(name: string): RepositoryConfig {
    const cfg = this.d.config.repositories.find((r) => r.name === name);
    if (!cfg) throw new AptfreezeError('NOT_FOUND', `unknown repository ${name}`);
    return cfg;
  }

  /**
   * One file of an upload, into the uploader's session. A .deb is checked at
   * once against the catalog, so that another build of a version already
   * uploaded is refused at upload time (CONFLICT); the .changes, last, runs
   * the upload.
   */
  async put(repository: string, sessionName: string, file: string, body: AsyncIterable<Uint8Array>, actor: string): Promise<PutResult> {
    const cfg = this.repository(repository);
    await expireSessions(this.sessionDeps(), cfg);
    const session = await openSession(this.sessionDeps(), cfg.name, actor, sessionName);
    let size: number;
    try {
      ({ size } = await putSessionFile(this.sessionDeps(), cfg, session, file, body));
    } catch (e) {
      const err = asAptfreezeError(e);
      if (err.code === 'PAYLOAD_TOO_LARGE') this.d.repo.appendAudit({ actor, action: 'upload.refuse', target: `${cfg.name}/${file}`, after: { code: err.code, message: err.message } }, this.d.now());
      throw err;
    }
    if (/\.(deb|udeb)$/.test(file)) await this.checkEarly(cfg, session, file, actor);
    if (!file.endsWith('.changes')) return { file, size };
    return { file, size, upload: await this.process(cfg, session, file, actor) };
  }

  /**
   * Processes a session whose .changes is in (the CLI's upload calls this too): the `upload`
   * operation, waited for, since dput's PUT of the .changes is answered with the outcome.
   * Refused at once with CONFLICT while something else than an upload or overlay change holds
   * the repository (a freeze, a thaw, a gc sweep): the session stays, to be sent again.
   */
  async process(cfg: RepositoryConfig, session: SessionRow, changesName: string, actor: string): Promise<UploadResult> {
    return resultOf<UploadResult>(await this.ops.run({ kind: 'upload', params: { repository: cfg.name, session: session.id, changes: changesName }, actor }));
  }

  openSession(cfg: RepositoryConfig, actor: string, name: string): Promise<SessionRow> {
    return openSession(this.sessionDeps(), cfg.name, actor, name);
  }

  putFile(cfg: RepositoryConfig, session: SessionRow, file: string, body: AsyncIterable<Uint8Array>) {
    return putSessionFile(this.sessionDeps(), cfg, session, file, body);
  }

  /** Removes idle sessions of every repository; returns how many. */
  async expire(): Promise<number> {
    let n = 0;
    for (const cfg of this.d.config.repositories) n += (await expireSessions(this.sessionDeps(), cfg)).length;
    return n;
  }

  private sessionDeps() {
    return { catalog: this.catalog, dataDir: this.d.dataDir, now: this.d.now };
  }

  private async checkEarly(cfg: RepositoryConfig, session: SessionRow, file: string, actor: string): Promise<void> {
    try {
      const data = await readFile(join(sessionDir(this.d.dataDir, session), file));
      const c = parseDebControl(await readDebControlText(data, cfg.maxControlBytes), `${file} control`);
      const seen = this.catalog.findPackage(cfg.name, 'binary', c.package, c.version, c.architecture);
      const { createHash } = await import('node:crypto');
      if (seen && seen.sha256 !== createHash('sha256').update(data).digest('hex')) {
        throw new AptfreezeError('CONFLICT', `${c.package} ${c.version} ${c.architecture} is in ${cfg.name} already with other bytes: a version, once uploaded, never changes`);
      }
    } catch (e) {
      const err = asAptfreezeError(e);
      // Only a decided refusal ends the session now; a package that does not parse is refused, with its code, when the .changes comes.
      if (err.code !== 'CONFLICT' && err.code !== 'PAYLOAD_TOO_LARGE') return;
      await endSession({ catalog: this.catalog, dataDir: this.d.dataDir }, session);
      this.d.repo.appendAudit({ actor, action: 'upload.refuse', target: `${cfg.name}/${file}`, after: { code: err.code, message: err.message } }, this.d.now());
      throw err;
    }
  }
}
