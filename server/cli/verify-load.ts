/**
 * The I/O side of the auditor's checks: reading proofs, keyrings and package
 * files, and decompressing, so that server/verify/ stays free of I/O.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readFile, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import zstdBinding from 'zstd-napi/binding.js';
import type { PublicKey } from 'openpgp';
import { AptfreezeError } from '../errors.ts';
import type { Compression } from '../debian/compress.ts';
import { readDeb } from '../debian/deb.ts';
import { readKeyring } from '../pgp/keyring.ts';
import { bundleFromDeb, bundleFromDirectory, type ProofBundle } from '../proof/bundle.ts';
import type { Inflate } from '../verify/indices.ts';

const programs: Partial<Record<Compression, string>> = { xz: 'xz', bz2: 'bzip2', lz4: 'lz4' };

function tooLarge(kind: Compression, maxBytes: number): AptfreezeError {
  return new AptfreezeError('UPSTREAM_TOO_LARGE', `${kind} data decompresses to more than ${maxBytes} bytes`);
}

/** Decompresses in memory: gzip and zstd in-process, xz, bzip2 and lz4 with the Debian programs. Capped at maxBytes. */
export const inflate: Inflate = (kind, data, maxBytes) => {
  switch (kind) {
    case 'none':
      if (data.length > maxBytes) throw tooLarge(kind, maxBytes);
      return data;
    case 'gz':
      try {
        return gunzipSync(data, { maxOutputLength: maxBytes });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(kind, maxBytes);
        throw new AptfreezeError('MALFORMED', `corrupt gzip data: ${(e as Error).message}`, { cause: e });
      }
    case 'zst':
      return unzstd(data, maxBytes);
    default: {
      const cmd = programs[kind];
      if (!cmd) throw new AptfreezeError('INTERNAL', `cannot decompress ${kind}`);
      try {
        return execFileSync(cmd, ['-dc'], { input: data, maxBuffer: maxBytes, stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOBUFS') throw tooLarge(kind, maxBytes);
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new AptfreezeError('INTERNAL', `cannot run ${cmd}: it is not installed`);
        throw new AptfreezeError('MALFORMED', `corrupt ${kind} data (${cmd}): ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`, { cause: e });
      }
    }
  }
};

/** zstd through the streaming binding, so that the cap holds whatever the frame header claims. */
function unzstd(data: Buffer, maxBytes: number): Buffer {
  const dctx = new zstdBinding.DCtx();
  const outSize = zstdBinding.dStreamOutSize();
  const parts: Buffer[] = [];
  let total = 0;
  let src = data;
  let inFrame = false;
  while (src.length > 0 || inFrame) {
    const dst = Buffer.allocUnsafe(outSize);
    let ret: number;
    let produced: number;
    let consumed: number;
    try {
      [ret, produced, consumed] = dctx.decompressStream(dst, src);
    } catch (e) {
      throw new AptfreezeError('MALFORMED', `corrupt zstd data: ${(e as Error).message}`, { cause: e });
    }
    total += produced;
    if (total > maxBytes) throw tooLarge('zst', maxBytes);
    parts.push(dst.subarray(0, produced));
    src = src.subarray(consumed);
    inFrame = ret !== 0;
    if (src.length === 0 && produced < dst.length && inFrame) throw new AptfreezeError('MALFORMED', 'zstd data ends in the middle of a frame');
  }
  return Buffer.concat(parts, total);
}

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
