/**
 * The I/O side of the auditor's checks: reading proofs, keyrings and package
 * files, and decompressing, so that server/verify/ stays free of I/O.
 */
import { createHash } from 'node:crypto';
import { open, readFile, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { PublicKey } from 'openpgp';
import { AptfreezeError } from '../errors.ts';
import { decompressBufferSync } from '../debian/compress.ts';
import { readDeb } from '../debian/deb.ts';
import { readKeyring } from '../pgp/keyring.ts';
import { bundleFromDeb, bundleFromDirectory, type ProofBundle } from '../proof/bundle.ts';
import type { Inflate } from '../verify/indices.ts';

/** Decompresses in memory with the one decompression module (debian/compress.ts), capped at maxBytes. */
export const inflate: Inflate = (kind, data, maxBytes) => decompressBufferSync(kind, data, { maxBytes });

/** Reads a keyring file (binary or armored). */
export async function loadKeyring(path: string): Promise<PublicKey[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new AptfreezeError('NOT_FOUND', `keyring ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return await readKeyring(bytes);
  } catch (e) {
    throw new AptfreezeError('MALFORMED', `keyring ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** A proof: a proof package (.deb) or an installed proof directory (/usr/share/aptfreeze/proofs/<archive>/<serial>). */
export async function loadProof(path: string): Promise<ProofBundle> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw new AptfreezeError('NOT_FOUND', `proof ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    if (st.isDirectory()) {
      const files = new Map<string, Buffer>();
      for (const f of await walk(path)) files.set(relative(path, f).split(sep).join('/'), await readFile(f));
      return bundleFromDirectory(files);
    }
    return proofFromBytes(await readFile(path));
  } catch (e) {
    if (e instanceof AptfreezeError) throw new AptfreezeError(e.code, `proof ${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

export async function proofFromBytes(bytes: Buffer): Promise<ProofBundle> {
  // A Debian-main proof unpacks to ~20 MB; the cap bounds what a hostile one can make us hold.
  return bundleFromDeb(await readDeb(bytes, { maxBytes: 1024 * 1024 * 1024 }));
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/**
 * The sha256 and size of a file, read through one reusable buffer: an auditor hashing a
 * thousand packages (1.4 GB) through read streams spent more time collecting their chunks
 * than hashing them. `buf` may be shared by sequential calls.
 */
export async function hashFile(path: string, buf: Buffer = Buffer.allocUnsafe(1 << 20)): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  let fh;
  try {
    fh = await open(path, 'r');
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
  } catch (e) {
    throw new AptfreezeError('NOT_FOUND', `${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    await fh?.close();
  }
  return { sha256: h.digest('hex'), size };
}
