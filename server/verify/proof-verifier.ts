/**
 * The auditor's check of packages against a proof package, offline:
 *
 *   .deb size + sha256
 *     -> a stanza of an index the snapshot served                 (stanza)
 *     -> for a filtered index, the same bytes in upstream's index (upstream-stanza)
 *     -> that upstream index's sha256 in the upstream Release     (index-in-release)
 *     -> the manifest saying the same                             (manifest, a cross-check)
 *     -> the upstream Release signed by a key the auditor trusts  (upstream-signature)
 *
 * No I/O: the caller hands in the proof's files, the auditor's keys, the
 * clock and a decompressor. Only the signature checks are asynchronous
 * (openpgp), done once in create(); every package check after that is
 * synchronous. Everything in the proof is outside data: each parse is
 * wrapped, so a hostile proof gives a failed step, never an exception.
 *
 * One piece though over 400 lines: the named links above are one checklist over
 * one loaded proof (its indices decoded once, shared by every link); split, each
 * part would need the loaded state handed around.
 */
import type { PublicKey } from 'openpgp';
import { asAptfreezeError } from '../errors.ts';
import { fingerprintOf, readKeyring } from '../pgp/keyring.ts';
import { parseRelease, type ParsedRelease, type ReleaseFileEntry } from '../debian/release.ts';
import { stripCompression } from '../debian/compress.ts';
import type { ProofBundle } from '../proof/bundle.ts';
import { proofServedPath, proofUpstreamPath, type ProofIndex, type ProofSuite } from '../proof/manifest.ts';
import { checkSignature, signedReleaseOf, unverifiedText } from './signature.ts';
import { DEFAULT_MAX_INDEX_BYTES, isPackagesIndex, packageEntries, plainIndex, sha256, sourcesStanzasOf, stanzaKey, type Inflate, type PackageEntry } from './indices.ts';
import { entriesAt, entriesNamed, PackagesLookup } from './packages-lookup.ts';
import { report, type ChainReport, type Step } from './report.ts';

export interface ProofVerifierOptions {
  bundle: ProofBundle;
  /** The auditor's keyring: the only keys trusted. */
  trustedKeys: PublicKey[];
  now: Date;
  inflate: Inflate;
  maxIndexBytes?: number;
}

/** A package file as the auditor read it. */
export interface PackageFile {
  /** A name for the report (the file name). */
  name: string;
  sha256: string;
  size: number;
}

interface SuiteState {
  ps: ProofSuite;
  signature: Step;
  /** The Release's fields and hash list: from the verified text, or (signature failed) the unverified one. */
  release: ParsedRelease | null;
  releaseError?: string;
  byPath: Map<string, ReleaseFileEntry>;
  groups: Map<string, Group>;
}

/** One index of a suite: its variants (compressions) as the manifest lists them. */
interface Group {
  suite: SuiteState;
  base: string;
  filtered: boolean;
  variants: ProofIndex[];
  /** The upstream file held in the proof (the variant marked inProof). */
  upstream?: IndexFile;
  /** Filtered: the served copy held in the proof (servedInProof). */
  served?: IndexFile;
}

interface IndexFile {
  role: 'upstream' | 'served';
  group: Group;
  entry: ProofIndex;
  /** Relative to the proof's directory. */
  proofPath: string;
  data?: Buffer;
  sha256?: string;
  /** Filled by analyse(): the decompressed text's sha256 and size, or the error reading it. */
  plain?: { sha256: string; size: number } | { error: string; code: string };
  /** The decompressed text, decoded once and kept while the verifier lives. */
  text?: Buffer;
  /** Packages: where each package's stanza is (a scan, no parse). */
  lookup?: PackagesLookup;
  /** Every stanza's identity, made only where a whole index must be compared (a filtered Sources). */
  keys?: Set<string>;
}

interface Candidate {
  file: IndexFile;
  entry: PackageEntry;
}

export class ProofVerifier {
  private readonly suites: SuiteState[] = [];
  private readonly proofKeyFingerprints: string[] = [];
  private analysed = false;
  private readonly maxIndexBytes: number;

  private constructor(private readonly opts: ProofVerifierOptions) {
    this.maxIndexBytes = opts.maxIndexBytes ?? DEFAULT_MAX_INDEX_BYTES;
  }

  /** Reads the proof and checks every upstream signature (the only asynchronous part). */
  static async create(opts: ProofVerifierOptions): Promise<ProofVerifier> {
    const v = new ProofVerifier(opts);
    await v.checkSignatures();
    return v;
  }

  get manifest() {
    return this.opts.bundle.manifest;
  }

  // -------------------------------------------------------------------------
  // Reports

  /** Checks one package file; synchronous. */
  verifyPackage(pkg: PackageFile): ChainReport {
    this.analyse();
    const readStep: Step = { link: 'package', status: 'ok', detail: `size ${pkg.size}, sha256 ${pkg.sha256}`, data: { sha256: pkg.sha256, size: pkg.size } };
    const found = this.candidates(pkg.sha256, 'served').filter((c) => c.entry.size === pkg.size);
    if (found.length === 0) return report(pkg.name, [readStep, this.notFound(pkg)]);
    const reports = found.map((c) => report(pkg.name, [readStep, ...this.chainOf(c)], { package: describe(c) }));
    const best = reports.find((r) => r.verdict === 'verified') ?? reports.find((r) => r.verdict === 'untrusted') ?? reports[0]!;
    if (reports.length > 1) best.data = { ...best.data, alsoListedIn: found.filter((_, i) => reports[i] !== best).map((c) => where(c.file)) };
    return best;
  }

  /**
   * The proof as a whole: every signature, every file against the manifest
   * and the upstream Release, every filtered index against upstream's.
   */
  proofReport(): ChainReport {
    this.analyse();
    const m = this.manifest;
    const steps: Step[] = [
      {
        link: 'proof',
        status: 'ok',
        detail: `${m.archive} serial ${m.serial} of ${m.upstreamUrl}, ${m.suites.length} suite(s), created ${m.createdAt}`,
        data: { archive: m.archive, serial: m.serial, upstreamUrl: m.upstreamUrl, createdAt: m.createdAt, proofKeyring: this.proofKeyFingerprints },
      },
    ];
    for (const s of this.suites) steps.push(s.signature);
    steps.push(this.manifestStepAll());
    steps.push(aggregate('index-in-release', this.allFiles('upstream').map((f) => this.indexInRelease(f)), 'index files listed in the upstream Release'));
    steps.push(aggregate('upstream-stanza', this.allFiles('served').map((f) => this.servedSubset(f)), 'filtered indices hold only upstream stanzas', 'no filtered index'));
    steps.push(aggregate('stanza', this.allFiles().filter((f) => f.data && isPackagesIndex(f.entry.path)).map((f) => this.parsedStep(f)), 'Packages indices read'));
    return report('proof', steps);
  }

  /**
   * Checks an index entry of the snapshot's own signed Release against
   * upstream: verbatim, the upstream Release lists the same sha256 for the
   * path; filtered, the served bytes (`data`, already matched against the
   * entry by the caller) hold only stanzas of the full upstream index in the
   * proof, whose hash upstream lists. Without `data` (not served) a filtered
   * entry cannot be checked and is skipped.
   */
  checkListedIndex(suiteName: string, entry: ReleaseFileEntry, data?: Buffer): Step[] {
    this.analyse();
    const { path } = entry;
    const st = this.suites.find((s) => s.ps.suite === suiteName);
    if (!st) return [{ link: 'index-vs-upstream', status: 'fail', detail: `${suiteName}/${path}: the proof holds no suite ${suiteName}` }];
    const up = st.byPath.get(path);
    if (up && up.hash === entry.hash && up.size === entry.size) {
      return [{ link: 'index-vs-upstream', status: 'ok', detail: `${suiteName}/${path}: verbatim, the upstream Release lists the same sha256 ${entry.hash}` }];
    }
    const g = st.groups.get(stripCompression(path));
    if (!g || !g.filtered) {
      return [{ link: 'index-vs-upstream', status: 'fail', detail: `${suiteName}/${path}: sha256 ${entry.hash} is not upstream's (${up ? up.hash : 'upstream lists no such file'}) and the index is not a filtered one` }];
    }
    if (!data) return [{ link: 'index-vs-upstream', status: 'skipped', detail: `${suiteName}/${path}: a filtered index, listed but not served` }];
    if (!g.upstream?.data) return [{ link: 'index-vs-upstream', status: 'fail', detail: `${suiteName}/${path}: filtered, but the proof holds no full upstream index of it` }];
    const file: IndexFile = { role: 'served', group: g, entry: { ...g.variants[0]!, path }, proofPath: `served ${path}`, data, sha256: sha256(data) };
    return [
      { link: 'index-vs-upstream', status: 'ok', detail: `${suiteName}/${path}: a filtered index (sha256 ${file.sha256})` },
      this.servedSubset(file),
      this.indexInRelease(g.upstream),
    ];
  }

  /** The upstream signature step of a suite (for a snapshot report). */
  signatureStep(suiteName: string): Step {
    return this.suites.find((s) => s.ps.suite === suiteName)?.signature ?? { link: 'upstream-signature', status: 'fail', detail: `the proof holds no suite ${suiteName}` };
  }

  // -------------------------------------------------------------------------
  // Links

  /** Checks that a stanza of an index served by the snapshot lists the file, and each link above that stanza. */
  private chainOf(c: Candidate): Step[] {
    const g = c.file.group;
    const steps: Step[] = [
      {
        link: 'stanza',
        status: 'ok',
        detail: `${c.entry.package} ${c.entry.version} ${c.entry.architecture} (${c.entry.filename}) in ${where(c.file)}`,
        data: describe(c),
      },
    ];
    if (c.file.role === 'served') {
      const inUpstream = g.upstream ? this.upstreamHas(g.upstream, c.entry) : false;
      steps.push(
        inUpstream
          ? { link: 'upstream-stanza', status: 'ok', detail: `byte-identical to a stanza of upstream's ${g.suite.ps.suite}/${g.upstream!.entry.path}` }
          : { link: 'upstream-stanza', status: 'fail', detail: `the filtered index's stanza is in no stanza of upstream's ${g.suite.ps.suite}/${g.upstream?.entry.path ?? g.base} (altered or added by the service)` },
      );
    }
    steps.push(g.upstream ? this.indexInRelease(g.upstream) : { link: 'index-in-release', status: 'fail', detail: `the proof holds no upstream file of ${g.base}` });
    steps.push(this.manifestStep([g.upstream, c.file.role === 'served' ? c.file : undefined].filter((f) => f !== undefined)));
    steps.push(g.suite.signature);
    return steps;
  }

  /** Checks that an upstream index file's sha256 (or its uncompressed content's) is listed for its path in the upstream Release. */
  private indexInRelease(f: IndexFile): Step {
    const st = f.group.suite;
    const label = `${st.ps.suite}/${f.entry.path}`;
    if (!f.data) return { link: 'index-in-release', status: 'fail', detail: `${label}: not in the proof` };
    if (!st.release) return { link: 'index-in-release', status: 'fail', detail: `${label}: the upstream Release cannot be read: ${st.releaseError}` };
    const e = st.byPath.get(f.entry.path);
    if (e && e.hash === f.sha256 && e.size === f.data.length) {
      return { link: 'index-in-release', status: 'ok', detail: `${label} (sha256 ${f.sha256}) is listed in the upstream Release of ${st.ps.suite}` };
    }
    // apt keeps indices recompressed (lz4) and Release lists the uncompressed file too: its hash is as good a link.
    const plainPath = stripCompression(f.entry.path);
    const pe = st.byPath.get(plainPath);
    if (plainPath !== f.entry.path && pe) {
      const plain = this.plainOf(f);
      if ('sha256' in plain && plain.sha256 === pe.hash && plain.size === pe.size) {
        return { link: 'index-in-release', status: 'ok', detail: `${label}: its uncompressed content (sha256 ${pe.hash}) is listed as ${plainPath} in the upstream Release of ${st.ps.suite}` };
      }
    }
    return {
      link: 'index-in-release',
      status: 'fail',
      detail: e ? `${label}: the proof's file has sha256 ${f.sha256}, the upstream Release lists ${e.hash}` : `${label}: not listed in the upstream Release of ${st.ps.suite}`,
    };
  }

  /** Checks that the manifest lists the same hash as the given files and as the upstream Release. */
  private manifestStep(files: IndexFile[]): Step {
    const problems = files.flatMap((f) => this.manifestProblems(f));
    if (problems.length) return { link: 'manifest', status: 'fail', detail: problems[0]!, data: { problems } };
    return { link: 'manifest', status: 'ok', detail: `lists ${files.map((f) => `${f.group.suite.ps.suite}/${f.entry.path}${f.role === 'served' ? ' (served)' : ''}`).join(', ')} with the same sha256` };
  }

  private manifestProblems(f: IndexFile): string[] {
    const st = f.group.suite;
    const label = `${st.ps.suite}/${f.entry.path}`;
    const out: string[] = [];
    if (!f.data) return [`the manifest lists ${f.proofPath} in the proof; the proof lacks it`];
    const [wantSha, wantSize] = f.role === 'upstream' ? [f.entry.sha256, f.entry.size] : [f.entry.servedSha256, f.entry.servedSize];
    if (wantSha !== f.sha256 || wantSize !== f.data.length) out.push(`the manifest lists ${f.role === 'served' ? 'the served ' : ''}${label} with sha256 ${wantSha}, the proof's file has ${f.sha256}`);
    if (f.role === 'upstream') out.push(...this.manifestVsRelease(st, f.entry));
    return out;
  }

  private manifestVsRelease(st: SuiteState, i: ProofIndex): string[] {
    const e = st.byPath.get(i.path);
    if (!st.release || !e) return [];
    return e.hash === i.sha256 && e.size === i.size ? [] : [`the manifest lists ${st.ps.suite}/${i.path} with sha256 ${i.sha256}, the upstream Release ${e.hash}`];
  }

  /** The proof-wide manifest check: Release files, keyring, every index entry against files and Release. */
  private manifestStepAll(): Step {
    const m = this.manifest;
    const files = this.opts.bundle.files;
    const problems: string[] = [];
    const kr = files.get(m.keyring.name);
    if (!kr) problems.push(`the proof lacks ${m.keyring.name}`);
    else if (sha256(kr) !== m.keyring.sha256) problems.push(`the manifest lists ${m.keyring.name} with sha256 ${m.keyring.sha256}, the proof's file has ${sha256(kr)}`);
    for (const st of this.suites) {
      for (const rf of st.ps.releaseFiles) {
        const data = files.get(proofUpstreamPath(st.ps.suite, rf.name));
        if (!data) problems.push(`the proof lacks ${st.ps.suite}/${rf.name}`);
        else if (sha256(data) !== rf.sha256) problems.push(`the manifest lists ${st.ps.suite}/${rf.name} with sha256 ${rf.sha256}, the proof's file has ${sha256(data)}`);
      }
      for (const i of st.ps.indices) problems.push(...this.manifestVsRelease(st, i));
      for (const g of st.groups.values()) for (const f of [g.upstream, g.served]) if (f) problems.push(...this.manifestProblems(f).filter((p) => !p.includes('the upstream Release')));
    }
    if (problems.length) return { link: 'manifest', status: 'fail', detail: `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, data: { problems } };
    return { link: 'manifest', status: 'ok', detail: 'every hash the manifest lists is that of the file in the proof and of the upstream Release' };
  }

  /** Checks that every stanza of a served (filtered) index is byte-identical to one of the full upstream index. */
  private servedSubset(f: IndexFile): Step {
    const g = f.group;
    const label = `${g.suite.ps.suite}/${f.entry.path} (served)`;
    if (!f.data) return { link: 'upstream-stanza', status: 'fail', detail: `${label}: not in the proof` };
    const up = g.upstream;
    if (!up?.data) return { link: 'upstream-stanza', status: 'fail', detail: `${label}: the proof holds no full upstream index of it` };
    const upText = this.textOf(up);
    if (!upText) return { link: 'upstream-stanza', status: 'fail', detail: `${label}: upstream's index cannot be read` };
    const plain = this.textOf(f);
    if (!plain) {
      const p = f.plain as { error: string; code: string };
      return { link: 'upstream-stanza', status: 'fail', code: p.code, detail: `${label}: ${p.error}` };
    }
    let n = 0;
    const foreign: string[] = [];
    try {
      if (isPackagesIndex(f.entry.path)) {
        for (const e of packageEntries(plain, label)) {
          n++;
          // A Packages stanza is looked up by its hash in upstream's; one listing no file against every stanza of upstream's.
          const known = e.invalid ? this.keysOf(up).has(e.key) : this.upstreamHas(up, e);
          if (!known) foreign.push(`${e.package || '?'} ${e.version || '?'}`);
        }
      } else {
        for (const s of sourcesStanzasOf(plain)) {
          n++;
          if (!this.keysOf(up).has(stanzaKey(s.raw))) foreign.push(`${s.get('Package') ?? '?'} ${s.get('Version') ?? '?'}`);
        }
      }
    } catch (e) {
      const err = asAptfreezeError(e);
      return { link: 'upstream-stanza', status: 'fail', code: err.code, detail: `${label}: ${err.message}` };
    }
    if (foreign.length) {
      return { link: 'upstream-stanza', status: 'fail', detail: `${label}: ${foreign.length} of ${n} stanzas are in no stanza of upstream's ${up.entry.path} (first: ${foreign[0]})`, data: { foreign } };
    }
    return { link: 'upstream-stanza', status: 'ok', detail: `${label}: each of ${n} stanzas is byte-identical to one of upstream's ${up.entry.path}` };
  }

  private parsedStep(f: IndexFile): Step {
    const label = `${f.group.suite.ps.suite}/${f.entry.path}${f.role === 'served' ? ' (served)' : ''}`;
    const p = f.plain;
    if (p && 'error' in p) return { link: 'stanza', status: 'fail', code: p.code, detail: `${label}: ${p.error}` };
    return { link: 'stanza', status: 'ok', detail: `${label}: ${f.lookup?.count ?? 0} packages` };
  }

  /** Why no stanza lists this file: a changed file, one filtered out, or one this proof knows nothing of. */
  private notFound(pkg: PackageFile): Step {
    const out = this.candidates(pkg.sha256, 'filtered-out').find((c) => c.entry.size === pkg.size);
    if (out) {
      return { link: 'stanza', status: 'fail', detail: `listed upstream in ${where(out.file)}, but filtered out: the snapshot did not serve it`, data: describe(out) };
    }
    const base = pkg.name.split('/').pop()!;
    const same = this.servedFiles().flatMap((file) => (file.lookup ? entriesNamed(file.lookup, base).map((entry) => ({ file, entry })) : []));
    if (same.length) {
      const c = same[0]!;
      return {
        link: 'stanza',
        status: 'fail',
        detail: `no index of the proof lists size ${pkg.size} sha256 ${pkg.sha256}; ${where(c.file)} lists ${c.entry.filename} with size ${c.entry.size} sha256 ${c.entry.sha256}`,
        data: describe(c),
      };
    }
    return { link: 'stanza', status: 'fail', detail: `no index of the proof (${this.manifest.archive} ${this.manifest.serial}) lists a file of size ${pkg.size} and sha256 ${pkg.sha256}` };
  }

  // -------------------------------------------------------------------------
  // Reading the proof

  private async checkSignatures(): Promise<void> {
    const { bundle, trustedKeys, now } = this.opts;
    let proofKeys: PublicKey[] = [];
    const kr = bundle.files.get(bundle.manifest.keyring.name);
    if (kr) {
      try {
        proofKeys = await readKeyring(kr);
        this.proofKeyFingerprints.push(...proofKeys.map(fingerprintOf));
      } catch {
        /* an unreadable proof keyring is reported by the manifest step (its hash) and simply not used */
      }
    }
    for (const ps of bundle.manifest.suites) {
      const get = (name: string) => bundle.files.get(proofUpstreamPath(ps.suite, name));
      const what = `upstream ${ps.form === 'inrelease' ? 'InRelease' : 'Release'} of ${ps.suite}`;
      const st: SuiteState = { ps, signature: { link: 'upstream-signature', status: 'fail', detail: '' }, release: null, byPath: new Map(), groups: new Map() };
      let text: string | null = null;
      try {
        const signed = signedReleaseOf(ps.form === 'inrelease' ? { inRelease: get('InRelease') } : { release: get('Release'), releaseGpg: get('Release.gpg') }, `${what} in the proof`);
        const sig = await checkSignature('upstream-signature', what, signed, trustedKeys, now, proofKeys);
        st.signature = sig.step;
        text = sig.verified?.text ?? unverifiedText(signed);
      } catch (e) {
        const err = asAptfreezeError(e);
        st.signature = { link: 'upstream-signature', status: 'fail', code: err.code, detail: err.message };
      }
      if (text === null) st.releaseError = 'not in the proof or not a Release';
      else {
        try {
          st.release = parseRelease(text);
          for (const e of st.release.sha256) st.byPath.set(e.path, e);
        } catch (e) {
          st.releaseError = asAptfreezeError(e).message;
        }
      }
      this.addGroups(st);
      this.suites.push(st);
    }
  }

  private addGroups(st: SuiteState): void {
    const files = this.opts.bundle.files;
    for (const i of st.ps.indices) {
      const base = stripCompression(i.path);
      let g = st.groups.get(base);
      if (!g) {
        g = { suite: st, base, filtered: i.served === 'filtered', variants: [] };
        st.groups.set(base, g);
      }
      g.variants.push(i);
      if (i.served === 'filtered') g.filtered = true;
      const file = (role: 'upstream' | 'served', proofPath: string): IndexFile => {
        const data = files.get(proofPath);
        return { role, group: g, entry: i, proofPath, ...(data ? { data, sha256: sha256(data) } : {}) };
      };
      if (i.inProof) g.upstream = file('upstream', proofUpstreamPath(st.ps.suite, i.path));
      if (i.servedInProof) g.served = file('served', proofServedPath(st.ps.suite, i.path));
    }
  }

  private allFiles(role?: 'upstream' | 'served'): IndexFile[] {
    const out: IndexFile[] = [];
    for (const st of this.suites) for (const g of st.groups.values()) for (const f of [g.upstream, g.served]) if (f && (!role || f.role === role)) out.push(f);
    return out;
  }

  /** Decodes every Packages index once and notes where each package's stanza is; nothing is parsed yet. */
  private analyse(): void {
    if (this.analysed) return;
    this.analysed = true;
    for (const f of this.allFiles()) {
      if (!f.data || !isPackagesIndex(f.entry.path)) continue;
      const text = this.textOf(f);
      if (text) f.lookup = new PackagesLookup(text, indexLabel(f));
    }
  }

  /** The Packages files whose stanzas the snapshot served: a verbatim index's upstream file, a filtered index's served copy. */
  private servedFiles(): IndexFile[] {
    return this.allFiles().filter((f) => f.lookup && f === servedFileOf(f.group));
  }

  /**
   * The stanzas listing a file of this sha256: in what the snapshot served, or ('filtered-out')
   * in upstream indices of filtered groups but not in what was served. A stanza that cannot be
   * parsed is no candidate: hostile text gives a failed link, never an exception.
   */
  private candidates(sha: string, which: 'served' | 'filtered-out'): Candidate[] {
    this.analyse();
    const served = this.servedFiles();
    const out: Candidate[] = [];
    const at = (file: IndexFile) => {
      try {
        return entriesAt(file.lookup!, sha).map((entry) => ({ file, entry }));
      } catch {
        return [];
      }
    };
    if (which === 'served') for (const file of served) out.push(...at(file));
    else if (served.every((file) => at(file).length === 0)) {
      for (const file of this.allFiles()) if (file.lookup && file.role === 'upstream' && !served.includes(file)) out.push(...at(file));
    }
    return out;
  }

  /** Whether upstream's index holds a stanza byte-identical to this one (found by its hash). */
  private upstreamHas(up: IndexFile, e: PackageEntry): boolean {
    const text = this.textOf(up);
    if (!text) return false;
    up.lookup ??= new PackagesLookup(text, indexLabel(up));
    try {
      return entriesAt(up.lookup, e.sha256).some((x) => x.key === e.key);
    } catch {
      return false;
    }
  }

  /** Every stanza identity of an index (for indices without a per-stanza hash, Sources, and Packages stanzas listing no file). */
  private keysOf(f: IndexFile): Set<string> {
    if (!f.keys) {
      f.keys = new Set();
      const text = this.textOf(f);
      if (text && isPackagesIndex(f.entry.path)) for (const e of packageEntries(text, indexLabel(f))) f.keys.add(e.key);
      else if (text) for (const s of sourcesStanzasOf(text)) f.keys.add(stanzaKey(s.raw));
    }
    return f.keys;
  }

  /** The decompressed text of an index file, decoded once; null (and f.plain says why) when it cannot be. */
  private textOf(f: IndexFile): Buffer | null {
    if (f.text) return f.text;
    if (!f.data || (f.plain && 'error' in f.plain)) return null;
    try {
      const text = plainIndex(f.entry.path, f.data, this.opts.inflate, this.maxIndexBytes);
      f.plain = { sha256: sha256(text), size: text.length };
      f.text = text;
      return text;
    } catch (e) {
      const err = asAptfreezeError(e);
      f.plain = { error: err.message, code: err.code };
      return null;
    }
  }

  private plainOf(f: IndexFile): NonNullable<IndexFile['plain']> {
    this.textOf(f);
    return f.plain ?? { error: 'not in the proof', code: 'NOT_FOUND' };
  }
}

function servedFileOf(g: Group): IndexFile | undefined {
  // For a proof without a served copy of a filtered index: upstream's, with the filter unknown.
  return g.filtered && g.served ? g.served : g.upstream;
}

/** An index file as errors name it: `<suite>/<path>`. */
function indexLabel(f: IndexFile): string {
  return `${f.group.suite.ps.suite}/${f.entry.path}`;
}

function where(f: IndexFile): string {
  const g = f.group;
  return `${g.suite.ps.suite}/${f.entry.path}${f.role === 'served' ? ' (served, filtered)' : g.filtered ? ' (upstream, filtered)' : ''}`;
}

function describe(c: Candidate): Record<string, unknown> {
  return {
    package: c.entry.package,
    version: c.entry.version,
    architecture: c.entry.architecture,
    filename: c.entry.filename,
    suite: c.file.group.suite.ps.suite,
    index: c.file.entry.path,
    served: c.file.group.filtered ? 'filtered' : 'verbatim',
  };
}

/** One step for many checks of one link: ok when all are, else the first failure and a count. */
function aggregate(link: Step['link'], steps: Step[], what: string, none = 'nothing to check'): Step {
  const bad = steps.filter((s) => s.status !== 'ok');
  if (steps.length === 0) return { link, status: 'ok', detail: none };
  if (bad.length === 0) return { link, status: 'ok', detail: `${steps.length} ${what}` };
  return { link, status: bad[0]!.status, ...(bad[0]!.code ? { code: bad[0]!.code } : {}), detail: `${bad[0]!.detail}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ''}`, data: { failures: bad.map((b) => b.detail) } };
}
