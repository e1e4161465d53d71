/**
 * What `aptfreeze fsck` finds: a list of problems, each with a stable kind.
 *
 * - error: the published state is wrong (a file missing or not its hash, a
 *   bad signature, `latest` pointing elsewhere than the newest serial...).
 *   The data directory is consistent only when there is none.
 * - leftover: residue of an interrupted run that nothing serves and nothing
 *   references (staging trees, partial downloads, unreferenced blobs, a
 *   pending serial of a dead process). Harmless; `--repair` removes it.
 */
export type Severity = 'error' | 'leftover';

export const problemKinds = {
  // errors
  'missing-serial-dir': 'error', // a live or frozen serial has no tree
  'missing-manifest': 'error', // a live or frozen serial has no (readable) manifest blob
  'missing-suites': 'error', // a live or frozen serial records no suite
  'missing-file': 'error', // a file of a serial's manifest is not in its tree
  'corrupt-file': 'error', // a published file whose bytes are not its manifest hash
  'missing-blob': 'error', // a blob a serial references is not in the store
  'corrupt-blob': 'error', // a store blob whose bytes do not hash to its name
  'bad-pool-link': 'error', // a serial's pool symlink is missing or names another pool set
  'unexpected-file': 'error', // a file or symlink in a published tree that no manifest lists
  'bad-signature': 'error', // a Release / InRelease / Release.gpg that does not verify with the service key
  'release-mismatch': 'error', // InRelease and Release list different SHA256 entries or Valid-Until
  'release-tree-mismatch': 'error', // a Release entry whose file in the tree has another hash or size
  'valid-until': 'error', // a Release whose Valid-Until is not the database's
  latest: 'error', // `latest` does not point at the newest published serial
  trace: 'error', // project/trace/<archive> does not name the newest published serial
  'public-key': 'error', // the served public key is not the service key's
  'key-mode': 'error', // the private key or its directory can be read by others
  'missing-key': 'error', // no readable service key
  'audit-log': 'error', // the audit log's append-only triggers are missing
  // the object store and its publication catalog (storage s3 + catalog postgres; server/s3/fsck.ts)
  'object-latest': 'error', // the catalog's latest names a serial it has not published, or one collected
  'object-unsigned': 'error', // a serial of the catalog answers no dists/<suite>/InRelease
  'object-missing': 'error', // a path of a serial names a blob the object store does not hold
  'object-size': 'error', // an object's size is not the size the catalog lists
  'object-corrupt': 'error', // an object's bytes do not hash to its name
  'object-collected-files': 'error', // a collected serial still lists files
  // leftovers
  'pending-serial': 'leftover', // a serial still pending, its process gone
  'unpublished-serial-dir': 'leftover', // a serial directory whose row is failed, collected or absent
  staging: 'leftover', // a .staging-*, .latest-* or .tmp-* entry
  'unused-pool': 'leftover', // a shared pool tree no published serial links
  'unused-pool-file': 'leftover', // a file of a shared pool tree that no serial linking to the tree lists (a failed run's)
  'unreferenced-blob': 'leftover', // a store blob no published serial references
  'partial-file': 'leftover', // a partial download of a dead process in store/tmp
  'temp-file': 'leftover', // a *.tmp-* file beside a published file (an interrupted re-signing)
  'stray-store-file': 'leftover', // a file in the store that is not named by a sha256
} as const satisfies Record<string, Severity>;

export type ProblemKind = keyof typeof problemKinds;

export interface Problem {
  kind: ProblemKind;
  severity: Severity;
  archive?: string;
  serial?: string;
  /** Relative to the data directory. */
  path?: string;
  message: string;
  /** What --repair does about it, when it can. */
  repair?: string;
}

export interface FsckReport {
  /** No error left (leftovers allowed). */
  ok: boolean;
  dataDir: string;
  checked: { archives: number; serials: number; files: number; blobs: number; bytesHashed: number };
  problems: Problem[];
  /** With --repair: what was found and repaired (problems then holds what remains). */
  repaired: Problem[];
  /** Things not checked and why (an archive busy with a snapshot, ...). */
  notes: string[];
  ms: number;
}

export function problem(kind: ProblemKind, message: string, where: { archive?: string; serial?: string; path?: string; repair?: string } = {}): Problem {
  return { kind, severity: problemKinds[kind], ...where, message };
}

/** One line per problem, then a summary line. */
export function formatReport(r: FsckReport): string {
  const line = (p: Problem) => `${p.severity.padEnd(8)} ${p.kind.padEnd(22)} ${p.path ?? [p.archive, p.serial].filter(Boolean).join('/')}: ${p.message}`;
  const out: string[] = [];
  for (const p of r.repaired) out.push(`repaired ${p.kind.padEnd(22)} ${p.path ?? [p.archive, p.serial].filter(Boolean).join('/')}: ${p.repair ?? p.message}`);
  for (const p of r.problems) out.push(line(p));
  for (const n of r.notes) out.push(`note     ${n}`);
  const errors = r.problems.filter((p) => p.severity === 'error').length;
  const leftovers = r.problems.length - errors;
  out.push(
    `${r.ok ? 'consistent' : 'INCONSISTENT'}: ${r.checked.archives} archives, ${r.checked.serials} serials, ${r.checked.files} published files, ${r.checked.blobs} blobs (${r.checked.bytesHashed} bytes hashed); ` +
      `${errors} errors, ${leftovers} leftovers${r.repaired.length ? `, ${r.repaired.length} repaired` : ''} (${r.ms} ms)`,
  );
  return `${out.join('\n')}\n`;
}
