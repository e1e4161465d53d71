// A real PostgreSQL for the tests: a throwaway cluster (`initdb -A trust`, `pg_ctl -o "-p PORT -k DIR"`)
// in a temp directory, listening on 127.0.0.1 only, stopped by pid. See engines.ts for where it
// comes from (the environment under .ci/run, else one of the test file's own).
//
// - PostgreSQL refuses to run as root: as root (CI) initdb and the server run as the `postgres`
//   user the Debian package creates (through runuser), in a directory handed over to it.
// - Debian keeps the server programs in /usr/lib/postgresql/<major>/bin, off PATH.
// - Durability is off (fsync, full_page_writes, synchronous_commit): the cluster is thrown away.
// Starts in ~2-5 s.
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './release.ts';
import { engineSource, stopPids, tool, which, type EngineSource } from './engines.ts';
import { tmpDir } from './gpg.ts';
import { runOk } from './run.ts';

export interface PgCluster {
  /** postgres://aptfreeze@127.0.0.1:<port>/postgres */
  url: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

/** The environment through which .ci/run hands its cluster to the test files. */
export const postgresEnv = { url: 'APTFREEZE_TEST_DATABASE_URL' } as const;

export function postgresSource(env: NodeJS.ProcessEnv = process.env): EngineSource {
  return engineSource('PostgreSQL (initdb, pg_ctl)', Object.values(postgresEnv), [postgresBin('initdb') ?? 'initdb', postgresBin('pg_ctl') ?? 'pg_ctl'], env);
}

/** A PostgreSQL server program: the newest major version Debian installed, else PATH. */
export function postgresBin(program: string): string | null {
  const base = '/usr/lib/postgresql';
  let majors: string[] = [];
  try {
    majors = readdirSync(base).filter((m) => /^\d+$/.test(m)).sort((a, b) => Number(b) - Number(a));
  } catch {
    /* not a Debian layout */
  }
  return which(program, majors.map((m) => join(base, m, 'bin')));
}

const superuser = 'aptfreeze';

/** Starts a throwaway cluster in `dir` (made and owned by the server's user; as root, its parents must let that user through). */
export async function startPostgres(dir: string): Promise<PgCluster> {
  const initdb = postgresBin('initdb');
  const pgCtl = postgresBin('pg_ctl');
  if (!initdb || !pgCtl) throw new Error('PostgreSQL server programs not found (initdb, pg_ctl): install the postgresql package');
  const asRoot = process.getuid?.() === 0;
  // runuser: PostgreSQL will not run as root.
  const run = (cmd: string, args: string[]) => (asRoot ? tool('runuser', ['-u', 'postgres', '--', cmd, ...args]) : tool(cmd, args));
  const data = join(dir, 'data');
  await mkdir(dir, { recursive: true });
  if (asRoot) {
    const uid = Number((await runOk('id', ['-u', 'postgres'])).trim());
    const gid = Number((await runOk('id', ['-g', 'postgres'])).trim());
    await chown(dir, uid, gid);
  }
  const port = await freePort();
  await run(initdb, ['-A', 'trust', '-U', superuser, '-D', data, '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  const options = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=off', '-c full_page_writes=off', '-c synchronous_commit=off'].join(' ');
  // -w: returns once the server accepts connections.
  await run(pgCtl, ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  const pid = Number((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  // SIGINT is PostgreSQL's "fast" shutdown: open sessions are ended, nothing is kept anyway.
  return { url: `postgres://${superuser}@127.0.0.1:${port}/postgres`, dir, pid, stop: () => stopPids([pid], 10_000, 'SIGINT') };
}

/** The PostgreSQL a test file uses, and fresh databases on it. */
export interface TestPostgres {
  url: string;
  /** Creates a database no other test file uses; returns its URL. */
  newDatabase(label: string): Promise<string>;
  stop(): Promise<void>;
}

export async function testPostgres(env: NodeJS.ProcessEnv = process.env): Promise<TestPostgres> {
  let url: string;
  let stop = async () => {};
  if (postgresSource(env).kind === 'env') url = env[postgresEnv.url]!;
  else {
    const cluster = await startPostgres(await tmpDir('af-pg'));
    url = cluster.url;
    stop = cluster.stop;
  }
  return {
    url,
    async newDatabase(label) {
      const name = `af_${label.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 30)}_${randomBytes(5).toString('hex')}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      const u = new URL(url);
      u.pathname = `/${name}`;
      return u.toString();
    },
    stop,
  };
}

