// Small helpers shared by the fixtures and the tests: gpgv, file hashing, temporary directories.
//
// tmpDir(): every directory it makes is removed when the test process exits (one process per
// test file under `node --test`), through a single process 'exit' hook registered on first use.
// Set AF_KEEP_TMP=1 to keep them for debugging (their paths are then printed on exit).
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { sha256 } from './hash.ts';
import { runCommand } from './run.ts';

export { sha256File } from './hash.ts';

const tmpDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const dir of tmpDirs) {
      if (process.env.AF_KEEP_TMP) {
        process.stderr.write(`kept temporary directory ${dir}\n`);
        continue;
      }
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

/** A fresh directory under os.tmpdir(), removed when the process exits (see the file header). */
export async function tmpDir(prefix: string): Promise<string> {
  installExitHook();
  const safe = prefix.replace(/[^A-Za-z0-9._-]/g, '_');
  const dir = await mkdtemp(path.join(os.tmpdir(), `${safe}-`));
  tmpDirs.add(dir);
  return dir;
}

/** Synchronous twin of tmpDir, for code that cannot await (same cleanup). */
export function tmpDirSync(prefix: string): string {
  installExitHook();
  const safe = prefix.replace(/[^A-Za-z0-9._-]/g, '_');
  const dir = mkdtempSync(path.join(os.tmpdir(), `${safe}-`));
  tmpDirs.add(dir);
  return dir;
}

let gpgHome: Promise<string> | null = null;

/** gpgv with its own empty home directory, so root's ~/.gnupg is never read or created. */
function gpgvHome(): Promise<string> {
  gpgHome ??= tmpDir('af-gpgv-home');
  return gpgHome;
}

/** gpgv reads binary keyrings only; an armored one is converted to a binary copy first. */
async function binaryKeyring(keyringPath: string): Promise<string> {
  const abs = path.resolve(keyringPath);
  const bytes = await readFile(abs);
  const head = bytes.subarray(0, 64).toString('latin1');
  if (!head.includes('-----BEGIN PGP')) return abs;
  const text = bytes.toString('utf8');
  const blocks = text.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g) ?? [];
  const parts: Uint8Array[] = [];
  for (const block of blocks) {
    const keys = await openpgp.readKeys({ armoredKeys: block });
    for (const key of keys) parts.push(key.toPublic().write());
  }
  const out = path.join(await gpgvHome(), `dearmored-${sha256(abs).slice(0, 16)}.gpg`);
  await writeFile(out, Buffer.concat(parts));
  return out;
}

/**
 * Runs `gpgv --status-fd 1 --keyring <keyring> <files…>` (an InRelease; or a Release.gpg followed by
 * the Release it signs). ok is gpgv's exit status 0. output is the status lines (stdout: look for
 * `[GNUPG:] GOODSIG`, `EXPKEYSIG`, `VALIDSIG <fingerprint>`) followed by gpgv's human text (stderr).
 * Note that gpgv exits 0 for a good signature by an expired key; apt refuses that (EXPKEYSIG).
 * Accepts a binary or an armored keyring.
 */
export async function gpgv(keyringPath: string, ...files: string[]): Promise<{ ok: boolean; output: string }> {
  const home = await gpgvHome();
  const kr = await binaryKeyring(keyringPath);
  const args = ['--homedir', home, '--status-fd', '1', '--keyring', kr, ...files.map((f) => path.resolve(f))];
  const r = await runCommand('gpgv', args);
  return { ok: r.code === 0, output: `${r.stdout}${r.stderr}` };
}
