import type { Command } from 'commander';
import { basename } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import type { ChainReport, Verdict } from '../verify/report.ts';

interface VerifyOptions {
  proof?: string;
  snapshot?: string;
  keyring: string;
  serviceKey?: string;
  pool?: boolean;
  json?: boolean;
  concurrency?: string;
}

/** Exit statuses: 0 every subject verified; 1 a broken link; 3 valid, but signed by no key of the given keyring. */
export const verifyExit: Record<Verdict, number> = { verified: 0, failed: 1, untrusted: 3 };

export function register(program: Command): void {
  program
    .command('verify')
    .description("the auditor's check: packages against a proof package (offline), or a published snapshot, back to the upstream signature")
    .argument('[files...]', 'package files (.deb) to check with --proof')
    .option('--proof <proof>', 'a proof package (aptfreeze-proof-<archive>_<serial>_all.deb) or an installed proof directory')
    .option('--snapshot <url>', 'a published snapshot, e.g. http://host/debian/2026112701/')
    .requiredOption('--keyring <keyring>', "the upstream archive's keyring you trust (binary or armored)")
    .option('--service-key <keyring>', "--snapshot: the service's public key (default: fetched from <server>/keys/aptfreeze.gpg)")
    .option('--pool', '--snapshot: also fetch and check every pool file')
    .option('--concurrency <n>', '--snapshot: parallel requests', '8')
    .option('--json', 'print the reports as JSON')
    .action(async (files: string[], opts: VerifyOptions) => {
      if (Boolean(opts.proof) === Boolean(opts.snapshot)) throw new AptfreezeError('BAD_REQUEST', 'give either --proof <proof.deb> with package files, or --snapshot <url>');
      const { formatReport, overall } = await import('../verify/report.ts');
      const reports = opts.proof ? await verifyWithProof(opts.proof, opts.keyring, files) : await (await import('./verify-snapshot.ts')).verifySnapshot({ url: opts.snapshot!, keyring: opts.keyring, serviceKey: opts.serviceKey, pool: Boolean(opts.pool), concurrency: Number(opts.concurrency) || 8, log: (l) => !opts.json && process.stderr.write(`${l}\n`) });
      const verdict = overall(reports);
      if (opts.json) process.stdout.write(`${JSON.stringify({ verdict, reports }, null, 2)}\n`);
      else for (const r of reports) process.stdout.write(formatReport(r));
      if (verdict !== 'verified') {
        const first = reports.find((r) => r.verdict === verdict)!;
        const step = first.steps.find((s) => s.link === first.brokenLink);
        process.stderr.write(`aptfreeze: ${verdict === 'untrusted' ? 'VERIFY_UNTRUSTED' : 'VERIFY_FAILED'}: ${first.subject}: broken link ${first.brokenLink}: ${step?.detail ?? ''}\n`);
        process.exitCode = verifyExit[verdict];
      }
    });
}

/** `verify --proof`: the proof's own report, then one per package file. */
export async function verifyWithProof(proofPath: string, keyringPath: string, files: string[]): Promise<ChainReport[]> {
  if (files.length === 0) throw new AptfreezeError('BAD_REQUEST', 'verify --proof: name at least one package file');
  const [{ loadUploadsProof, verifyUploadsProof }, { hashFile, inflate, loadKeyring, loadProof }, { ProofVerifier }] = await Promise.all([
    import('./verify-uploads.ts'),
    import('./verify-load.ts'),
    import('../verify/proof-verifier.ts'),
  ]);
  // A custom repository's proof: packages back to the uploader's signature.
  const uploads = await loadUploadsProof(proofPath);
  if (uploads) return verifyUploadsProof(proofPath, uploads, keyringPath, files);
  const [bundle, trustedKeys] = await Promise.all([loadProof(proofPath), loadKeyring(keyringPath)]);
  const verifier = await ProofVerifier.create({ bundle, trustedKeys, now: new Date(), inflate });
  const reports = [verifier.proofReport()];
  reports[0]!.subject = `proof ${basename(proofPath)}`;
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const f of files) {
    const { sha256, size } = await hashFile(f, buf);
    reports.push(verifier.verifyPackage({ name: f, sha256, size }));
  }
  return reports;
}
