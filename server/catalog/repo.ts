import type { Db } from './open.ts';
import { processAlive } from '../util/process.ts';
import { AptfreezeError } from '../errors.ts';

export type SerialState = 'pending' | 'live' | 'frozen' | 'collected' | 'failed';

export interface SerialRow {
  archive: string;
  serial: string;
  state: SerialState;
  created_at: string;
  published_at: string | null;
  valid_until: string | null;
  frozen_until: string | null;
  freeze_reason: string | null;
  frozen_by: string | null;
  frozen_at: string | null;
  collected_at: string | null;
  manifest_sha256: string | null;
  stats: string | null;
  error: string | null;
}

export interface LockHolder {
  name: string;
  pid: number;
  acquired_at: string;
}

/** The lock (resource) name of an archive: its snapshots, freezes and thaws exclude each other. */
export function archiveLock(archive: string): string {
  return `archive:${archive}`;
}

export interface SuiteSnapshotRow {
  suite: string;
  release_date: string;
  upstream_sha256: string;
  signers: string;
  fetched_at: string;
}

export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  before?: unknown;
  after?: unknown;
}

/** A Packages index as provenance last recorded it (migrations/003_provenance.sql). */
export interface ProvenanceIndexRow {
  archive: string;
  suite: string;
  component: string;
  arch_dir: string;
  parsed_path: string;
  parsed_sha256: string;
  filter_key: string;
  last_serial: string;
}

/** One unbroken run of serials in which an index listed a package file. */
export interface PresenceRow {
  id: number;
  archive: string;
  suite: string;
  component: string;
  arch_dir: string;
  package: string;
  version: string;
  architecture: string;
  sha256: string;
  size: number;
  filename: string;
  first_serial: string;
  last_serial: string | null;
}

/** Formats the serial `YYYYMMDDNN` for a UTC day and counter. */
export function formatSerial(day: Date, n: number): string {
  const d = day.toISOString().slice(0, 10).replace(/-/g, '');
  return `${d}${String(n).padStart(2, '0')}`;
}

export function isSerial(s: string): boolean {
  return /^\d{8}\d{2}$/.test(s);
}

/** The only place with SQL. Every method is synchronous (better-sqlite3). */
export class Repo {
  constructor(readonly db: Db) {}

  ensureArchive(name: string, url: string, now: Date): void {
    this.db
      .prepare('INSERT INTO archives (name, url, created_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET url = excluded.url')
      .run(name, url, now.toISOString());
  }

  /**
   * Allocates the next serial: today's date and the next counter, strictly
   * greater than every serial ever allocated for the archive (failed and
   * collected ones included), so a serial is never reused. If the clock went
   * back, the counter continues from the highest serial rather than reuse one.
   */
  allocateSerial(archive: string, now: Date): string {
    return this.db
      .transaction(() => {
        const max = this.db.prepare('SELECT MAX(serial) FROM serials WHERE archive = ?').pluck().get(archive) as string | null;
        let serial = formatSerial(now, 1);
        if (max && max >= serial) {
          const next = Number(max) + 1;
          if (next % 100 === 0) throw new AptfreezeError('CONFLICT', `archive ${archive}: serial counter exhausted for ${max.slice(0, 8)} (at most 99 serials a day)`);
          serial = String(next);
        }
        this.db.prepare("INSERT INTO serials (archive, serial, state, created_at) VALUES (?, ?, 'pending', ?)").run(archive, serial, now.toISOString());
        return serial;
      })
      .immediate();
  }

  markPublished(
    archive: string,
    serial: string,
    v: { validUntil: Date; publishedAt: Date; manifest: string; stats: unknown },
    suites: SuiteSnapshotRow[],
    /** Runs inside the same transaction (provenance ranges). */
    alsoInTransaction?: (db: Db) => void,
  ): void {
    this.db.transaction(() => {
      this.db
        .prepare("UPDATE serials SET state = 'live', valid_until = ?, published_at = ?, manifest_sha256 = ?, stats = ? WHERE archive = ? AND serial = ? AND state = 'pending'")
        .run(v.validUntil.toISOString(), v.publishedAt.toISOString(), v.manifest, JSON.stringify(v.stats), archive, serial);
      const ins = this.db.prepare(
        'INSERT INTO suite_snapshots (archive, serial, suite, release_date, upstream_sha256, signers, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      );
      for (const s of suites) ins.run(archive, serial, s.suite, s.release_date, s.upstream_sha256, s.signers, s.fetched_at);
      alsoInTransaction?.(this.db);
    }).immediate();
  }

  markFailed(archive: string, serial: string, error: string): void {
    this.db.prepare("UPDATE serials SET state = 'failed', error = ? WHERE archive = ? AND serial = ? AND state = 'pending'").run(error, archive, serial);
  }

  pendingSerials(): Array<{ archive: string; serial: string }> {
    return this.db.prepare("SELECT archive, serial FROM serials WHERE state = 'pending'").all() as Array<{ archive: string; serial: string }>;
  }

  getSerial(archive: string, serial: string): SerialRow | undefined {
    return this.db.prepare('SELECT * FROM serials WHERE archive = ? AND serial = ?').get(archive, serial) as SerialRow | undefined;
  }

  /** Published serials (live, frozen) and collected ones, newest first. */
  listSerials(archive: string, opts: { includeCollected?: boolean } = {}): SerialRow[] {
    const states = opts.includeCollected ? "('live', 'frozen', 'collected')" : "('live', 'frozen')";
    return this.db.prepare(`SELECT * FROM serials WHERE archive = ? AND state IN ${states} ORDER BY serial DESC`).all(archive) as SerialRow[];
  }

  /** Every serial of an archive, whatever its state. */
  allSerials(archive: string): SerialRow[] {
    return this.db.prepare('SELECT * FROM serials WHERE archive = ?').all(archive) as SerialRow[];
  }

  latestSerial(archive: string): string | null {
    return (this.db.prepare("SELECT MAX(serial) FROM serials WHERE archive = ? AND state IN ('live', 'frozen')").pluck().get(archive) as string | null) ?? null;
  }

  listArchives(): Array<{ name: string; url: string; created_at: string }> {
    return this.db.prepare('SELECT * FROM archives ORDER BY name').all() as Array<{ name: string; url: string; created_at: string }>;
  }

  /** The newest upstream Date this archive ever accepted for a suite (rollback defence). */
  lastAcceptedDate(archive: string, suite: string): string | null {
    return (this.db
      .prepare(
        "SELECT MAX(s.release_date) FROM suite_snapshots s JOIN serials r USING (archive, serial) WHERE s.archive = ? AND s.suite = ? AND r.state IN ('live', 'frozen', 'collected')",
      )
      .pluck()
      .get(archive, suite) as string | null) ?? null;
  }

  suiteSnapshots(archive: string, serial: string): Array<SuiteSnapshotRow> {
    return this.db.prepare('SELECT suite, release_date, upstream_sha256, signers, fetched_at FROM suite_snapshots WHERE archive = ? AND serial = ? ORDER BY suite').all(archive, serial) as SuiteSnapshotRow[];
  }

  /**
   * The one lock implementation (cross-process: the daemon and the CLI share the data
   * directory). Takes every named lock at once, or none. A row whose process is alive is busy,
   * whoever holds it, this process included: nothing is re-entrant, so two holders in one
   * process (the runner and a gc sweep in its operation) exclude each other as two processes
   * do. A row of a dead process is taken over. A name ending in ':' is a prefix: busy when any
   * live row starts with it (a gc sweep needs every `archive:` lock, also of archives only
   * another process's configuration has).
   */
  tryLock(names: readonly string[], pid: number, now: Date): { ok: true } | { ok: false; busy: LockHolder[] } {
    return this.db
      .transaction(() => {
        const busy: LockHolder[] = [];
        const get = this.db.prepare('SELECT name, pid, acquired_at FROM locks WHERE name = ?');
        const prefixed = this.db.prepare('SELECT name, pid, acquired_at FROM locks WHERE substr(name, 1, ?) = ?');
        for (const n of names) {
          const rows = n.endsWith(':') ? (prefixed.all(n.length, n) as LockHolder[]) : [get.get(n) as LockHolder | undefined].filter((r) => r !== undefined);
          for (const row of rows) if (processAlive(row.pid) && !busy.some((b) => b.name === row.name)) busy.push(row);
        }
        if (busy.length) return { ok: false as const, busy };
        const put = this.db.prepare('INSERT OR REPLACE INTO locks (name, pid, acquired_at) VALUES (?, ?, ?)');
        for (const n of names) if (!n.endsWith(':')) put.run(n, pid, now.toISOString());
        return { ok: true as const };
      })
      .immediate();
  }

  unlock(names: readonly string[], pid: number): void {
    if (names.length === 0) return;
    // One statement: on a full disk it still gets through where a wrapping transaction did not.
    this.db.prepare(`DELETE FROM locks WHERE pid = ? AND name IN (${names.map(() => '?').join(', ')})`).run(pid, ...names);
  }

  /** The live holder of a lock, or null. */
  lockHolder(name: string): LockHolder | null {
    const row = this.db.prepare('SELECT name, pid, acquired_at FROM locks WHERE name = ?').get(name) as LockHolder | undefined;
    return row && processAlive(row.pid) ? row : null;
  }

  /** Drops this process's lock rows except `keep` (what a crashed operation thread left behind). */
  unlockAllOf(pid: number, keep: ReadonlySet<string>): string[] {
    const rows = this.db.prepare('SELECT name FROM locks WHERE pid = ?').pluck().all(pid) as string[];
    const drop = rows.filter((n) => !keep.has(n));
    this.unlock(drop, pid);
    return drop;
  }

  indexRefs(indexSha256: string, kind: string): string | null {
    return (this.db.prepare('SELECT refs_sha256 FROM index_refs WHERE index_sha256 = ? AND kind = ?').pluck().get(indexSha256, kind) as string | undefined) ?? null;
  }

  setIndexRefs(indexSha256: string, kind: string, refsSha256: string): void {
    this.db.prepare('INSERT OR REPLACE INTO index_refs (index_sha256, kind, refs_sha256) VALUES (?, ?, ?)').run(indexSha256, kind, refsSha256);
  }

  // --- Provenance (migrations/003_provenance.sql): presence ranges, see server/provenance/.

  provenanceIndices(archive: string): ProvenanceIndexRow[] {
    return this.db.prepare('SELECT * FROM provenance_indices WHERE archive = ?').all(archive) as ProvenanceIndexRow[];
  }

  /** The open ranges of an index as raw rows [id, filename, sha256, package, version, architecture]. */
  openPresenceKeys(archive: string, suite: string, component: string, archDir: string): IterableIterator<[number, string, string, string, string, string]> {
    // Iterated, not collected into an array: 60,000 rows at Debian scale.
    return this.db
      .prepare('SELECT id, filename, sha256, package, version, architecture FROM package_presence WHERE archive = ? AND suite = ? AND component = ? AND arch_dir = ? AND last_serial IS NULL')
      .raw(true)
      .iterate(archive, suite, component, archDir) as IterableIterator<[number, string, string, string, string, string]>;
  }

  openPresence(archive: string, suite: string, component: string, archDir: string): PresenceRow[] {
    return this.db
      .prepare('SELECT * FROM package_presence WHERE archive = ? AND suite = ? AND component = ? AND arch_dir = ? AND last_serial IS NULL')
      .all(archive, suite, component, archDir) as PresenceRow[];
  }

  /** Closes presence ranges (by id) at a serial. */
  closePresence(ids: readonly number[], lastSerial: string): void {
    const st = this.db.prepare('UPDATE package_presence SET last_serial = ? WHERE id = ? AND last_serial IS NULL');
    for (const id of ids) st.run(lastSerial, id);
  }

  /** Opens presence ranges starting at a serial. */
  openPresenceRanges(rows: ReadonlyArray<Omit<PresenceRow, 'id' | 'last_serial'>>): void {
    const st = this.db.prepare(
      'INSERT INTO package_presence (archive, suite, component, arch_dir, package, version, architecture, sha256, size, filename, first_serial) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (const r of rows) st.run(r.archive, r.suite, r.component, r.arch_dir, r.package, r.version, r.architecture, r.sha256, r.size, r.filename, r.first_serial);
  }

  setProvenanceIndex(r: ProvenanceIndexRow): void {
    this.db
      .prepare(
        'INSERT OR REPLACE INTO provenance_indices (archive, suite, component, arch_dir, parsed_path, parsed_sha256, filter_key, last_serial) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(r.archive, r.suite, r.component, r.arch_dir, r.parsed_path, r.parsed_sha256, r.filter_key, r.last_serial);
  }

  /** Every presence range of a package version (and architecture), with its index's last serial for open ranges. */
  presenceOf(pkg: string, version: string, architecture?: string): Array<PresenceRow & { index_last_serial: string | null }> {
    const sql =
      'SELECT p.*, i.last_serial AS index_last_serial FROM package_presence p LEFT JOIN provenance_indices i USING (archive, suite, component, arch_dir) WHERE p.package = ? AND p.version = ?' +
      (architecture === undefined ? '' : ' AND p.architecture = ?');
    const args = architecture === undefined ? [pkg, version] : [pkg, version, architecture];
    return this.db.prepare(sql).all(...args) as Array<PresenceRow & { index_last_serial: string | null }>;
  }

  appendAudit(e: AuditEntry, now: Date): void {
    this.db
      .prepare('INSERT INTO audit_log (at, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)')
      .run(now.toISOString(), e.actor, e.action, e.target, e.before === undefined ? null : JSON.stringify(e.before), e.after === undefined ? null : JSON.stringify(e.after));
  }
}
