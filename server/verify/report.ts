/**
 * What the auditor's checks report: per subject (a package, the proof, a
 * snapshot) a list of steps, one a link of the chain of trust, in chain order.
 * The names of the links are stable (tests and scripts match on them); the
 * details are for people.
 */

export const links = {
  /** The proof package is one proof of one snapshot, its manifest readable. */
  proof: 'the proof package is readable and names one snapshot',
  /** The file's size and sha256, as computed by the auditor. */
  package: 'the package file was read',
  /** A stanza of an index served by the snapshot lists the file's size and sha256. */
  stanza: 'a stanza of an index in the proof lists this size and sha256',
  /** Filtered index: the served stanza is byte-identical to one of the full upstream index. */
  'upstream-stanza': "the served stanza is byte-identical to one of upstream's index",
  /** The index file's sha256 is listed for its path in the upstream Release. */
  'index-in-release': "the index's sha256 is listed in the upstream Release",
  /** The proof's manifest lists the same hashes as the files in the proof and the upstream Release. */
  manifest: 'the proof manifest agrees with the files and the upstream Release',
  /** The upstream Release is signed by a key of the auditor's keyring. */
  'upstream-signature': "the upstream Release is signed by a key of the auditor's keyring",
  /** Our Release (InRelease, Release + Release.gpg) is signed by the service key. */
  'service-signature': "the snapshot's Release is signed by the service key",
  /** A served file has the size and sha256 our signed Release lists. */
  'served-file': 'the served file matches the signed Release of the snapshot',
  /** A served index is upstream's (same hash) or a filtered copy of it (every stanza upstream's). */
  'index-vs-upstream': "the served index is upstream's, verbatim or filtered",
  /** The served proof.deb is the one the signed aptfreeze-proof index lists. */
  'proof-package': 'the proof package is the one the signed index lists',
  /** Custom repositories: a .changes in the proof, the one its manifest names, lists the package's name, size and sha256. */
  changes: "an uploaded .changes in the proof lists this size and sha256",
  /** Custom repositories: that .changes is signed by a key of the auditor's keyring. */
  'uploader-signature': "the .changes is signed by a key of the auditor's keyring",
  /** A served pool file has the size and sha256 its (checked) index lists. */
  'pool-file': 'the pool files match their index stanzas',
} as const;

export type LinkName = keyof typeof links;

/** untrusted: valid, but signed by no key of the auditor's keyring (only by one in the proof's own keyring). */
export type StepStatus = 'ok' | 'fail' | 'untrusted' | 'skipped';

export interface Step {
  link: LinkName;
  status: StepStatus;
  /** One line for people. */
  detail: string;
  /** An error code where the step failed on one (UPSTREAM_BAD_SIGNATURE, MALFORMED, ...). */
  code?: string;
  /** Facts for --json (hashes, paths, signers, times). */
  data?: Record<string, unknown>;
}

export type Verdict = 'verified' | 'untrusted' | 'failed';

export interface ChainReport {
  /** What was checked: a file name, "proof", a URL. */
  subject: string;
  verdict: Verdict;
  /** The first step that is not ok (fail or untrusted), in chain order; null when verified. */
  brokenLink: LinkName | null;
  steps: Step[];
  data?: Record<string, unknown>;
}

/** The verdict of a list of steps: failed if any failed, else untrusted if any is, else verified. */
export function report(subject: string, steps: Step[], data?: Record<string, unknown>): ChainReport {
  const broken = steps.find((s) => s.status === 'fail' || s.status === 'untrusted');
  const verdict: Verdict = steps.some((s) => s.status === 'fail') ? 'failed' : steps.some((s) => s.status === 'untrusted') ? 'untrusted' : 'verified';
  return { subject, verdict, brokenLink: broken?.link ?? null, steps, ...(data ? { data } : {}) };
}

/** The verdict of several reports: the worst of them. */
export function overall(reports: ChainReport[]): Verdict {
  if (reports.some((r) => r.verdict === 'failed')) return 'failed';
  if (reports.some((r) => r.verdict === 'untrusted')) return 'untrusted';
  return 'verified';
}

const marks: Record<StepStatus, string> = { ok: 'ok', fail: 'FAIL', untrusted: 'UNTRUSTED', skipped: '-' };

/** Text for a terminal: the subject and its verdict, then one line per link. */
export function formatReport(r: ChainReport): string {
  const head = `${r.subject}: ${r.verdict.toUpperCase()}${r.brokenLink ? ` (broken link: ${r.brokenLink})` : ''}`;
  const width = Math.max(...r.steps.map((s) => s.link.length));
  const lines = r.steps.map((s) => `  ${marks[s.status].padEnd(9)} ${s.link.padEnd(width)}  ${s.detail}${s.code ? ` [${s.code}]` : ''}`);
  return [head, ...lines].join('\n') + '\n';
}
