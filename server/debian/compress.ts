import { execFileSync, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import zstd from 'zstd-napi';
import zstdBinding from 'zstd-napi/binding.js';
import { AptfreezeError } from '../errors.ts';

/**
 * The compressions APT indexes come in, and streaming decompression with a cap
 * on the output (the "gzip bomb" defence: the cap is checked as bytes come out,
 * so at most one small burst past it is ever in memory). The one decompression
 * module: streams (decompressStream), whole buffers (decompressBuffer) and, for the
 * synchronous verifier, decompressBufferSync, all with the same error codes.
 */
export type Compression = 'none' | 'gz' | 'xz' | 'bz2' | 'zst' | 'lz4';

const EXTENSIONS: ReadonlyArray<[string, Compression]> = [
  ['.gz', 'gz'],
  ['.xz', 'xz'],
  ['.bz2', 'bz2'],
  ['.zst', 'zst'],
  ['.lz4', 'lz4'],
];

/** The compression a file name says it has; 'none' when it names none. */
export function compressionOf(path: string): Compression {
  for (const [ext, kind] of EXTENSIONS) if (path.endsWith(ext)) return kind;
  return 'none';
}

/** The name without its compression extension: "main/binary-amd64/Packages.xz" → "main/binary-amd64/Packages". */
export function stripCompression(path: string): string {
  for (const [ext] of EXTENSIONS) if (path.endsWith(ext)) return path.slice(0, -ext.length);
  return path;
}

export interface DecompressOptions {
  /** Output beyond this many bytes is UPSTREAM_TOO_LARGE. */
  maxBytes: number;
}

type Input = AsyncIterable<Buffer> | NodeJS.ReadableStream;

/**
 * Decompresses a stream. Corrupt or truncated input is MALFORMED; more than
 * `maxBytes` of output is UPSTREAM_TOO_LARGE; an error of the input itself is
 * passed on as it is. xz, bz2 and lz4 run the Debian programs (xz-utils, bzip2,
 * lz4); the child is killed and reaped whenever the stream stops, early or not.
 */
export function decompressStream(kind: Compression, input: Input, opts: DecompressOptions): AsyncIterable<Buffer> {
  const source = buffers(input);
  switch (kind) {
    case 'none':
      return capped(source, opts.maxBytes, kind);
    case 'gz':
      return viaGunzip(source, opts.maxBytes);
    case 'zst':
      return viaZstd(source, opts.maxBytes);
    case 'xz':
      return viaChild('xz', ['-dc', '-T1'], source, opts.maxBytes, kind);
    case 'bz2':
      return viaChild('bzip2', ['-dc'], source, opts.maxBytes, kind);
    case 'lz4':
      return viaChild('lz4', ['-dc'], source, opts.maxBytes, kind);
    default:
      throw new AptfreezeError('INTERNAL', `unknown compression ${String(kind)}`);
  }
}

/** Reads a whole decompressed stream into one Buffer (same errors as decompressStream). */
export async function decompressBuffer(kind: Compression, data: Buffer, opts: DecompressOptions): Promise<Buffer> {
  // Uncompressed (a proof package's data.tar, tens of MB): the bytes themselves, not a copy.
  if (kind === 'none') {
    if (data.length > opts.maxBytes) throw tooLarge(kind, opts.maxBytes);
    return data;
  }
  const parts: Buffer[] = [];
  for await (const chunk of decompressStream(kind, oneChunk(data), opts)) parts.push(chunk);
  return Buffer.concat(parts);
}

async function* oneChunk(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

const gzip = promisify(zlib.gzip);

/**
 * Compresses deterministically: same input, same bytes (with the same library
 * and program versions). gzip carries no name and mtime 0 (Node writes none);
 * xz runs single-threaded, whose block layout does not depend on the machine;
 * zstd at level 3 (level 19 is ~100x slower and blocks the event loop).
 */
export async function compressBuffer(kind: 'gz' | 'xz' | 'zst', data: Buffer): Promise<Buffer> {
  switch (kind) {
    case 'gz':
      return gzip(data, { level: 9 });
    case 'zst':
      return zstd.compress(data, { compressionLevel: 3 });
    case 'xz': {
      const parts: Buffer[] = [];
      for await (const chunk of viaChild('xz', ['-c', '-6', '-T1'], oneChunk(data), Number.MAX_SAFE_INTEGER, 'xz')) parts.push(chunk);
      return Buffer.concat(parts);
    }
    default:
      throw new AptfreezeError('INTERNAL', `cannot compress as ${String(kind)}`);
  }
}

async function* buffers(input: Input): AsyncGenerator<Buffer> {
  for await (const chunk of input as AsyncIterable<Buffer | string | Uint8Array>) {
    if (typeof chunk === 'string') yield Buffer.from(chunk);
    else if (Buffer.isBuffer(chunk)) yield chunk;
    else yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}

function tooLarge(kind: Compression, maxBytes: number): AptfreezeError {
  return new AptfreezeError('UPSTREAM_TOO_LARGE', `${kind} stream decompresses to more than ${maxBytes} bytes`, { details: { maxBytes } });
}

async function* capped(source: AsyncIterable<Buffer>, maxBytes: number, kind: Compression): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > maxBytes) throw tooLarge(kind, maxBytes);
    yield chunk;
  }
}

/**
 * zstd through the binding's streaming call, one output buffer at a time.
 * (zstd-napi's DecompressStream pushes everything one input chunk expands to
 * before it looks at backpressure, which a bomb turns into gigabytes.)
 */
async function* viaZstd(source: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  const dctx = new zstdBinding.DCtx();
  const outSize = zstdBinding.dStreamOutSize();
  const total = { bytes: 0 };
  let inFrame = false;
  let sawInput = false;
  for await (const chunk of source) {
    if (chunk.length > 0) sawInput = true;
    inFrame = yield* zstdChunk(dctx, outSize, chunk, inFrame, total, maxBytes);
  }
  // Empty input is no zstd stream at all (as for gzip and xz).
  if (inFrame || !sawInput) throw new AptfreezeError('MALFORMED', 'zstd data is empty or ends in the middle of a frame');
}

/**
 * Decompresses one input chunk, one output buffer at a time (the cap checked on each), and
 * returns whether a frame is still open once the chunk is taken and nothing waits to be flushed.
 */
function* zstdChunk(dctx: InstanceType<typeof zstdBinding.DCtx>, outSize: number, chunk: Buffer, inFrameBefore: boolean, total: { bytes: number }, maxBytes: number): Generator<Buffer, boolean> {
  let src = chunk;
  let inFrame = inFrameBefore;
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
    if (produced > 0) {
      total.bytes += produced;
      if (total.bytes > maxBytes) throw tooLarge('zst', maxBytes);
      yield dst.subarray(0, produced);
    }
    src = src.subarray(consumed);
    inFrame = ret !== 0;
    // All input taken and the output buffer not filled: nothing is waiting to be flushed.
    if (src.length === 0 && produced < dst.length) break;
  }
  return inFrame;
}

/**
 * gzip through node:zlib, fed in small slices: zlib inflates a whole written
 * chunk before it looks at backpressure, so a slice bounds the burst (gzip
 * expands at most ~1032:1, so 16 KiB in is at most ~16.5 MiB out).
 */
async function* viaGunzip(source: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  const gunzip = zlib.createGunzip();
  const feeder = feed(source, gunzip, 16 * 1024, (e) => gunzip.destroy(e as Error));
  let total = 0;
  try {
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > maxBytes) throw tooLarge('gz', maxBytes);
        yield chunk;
      }
    } catch (e) {
      if (e instanceof AptfreezeError || feeder.error() !== undefined) throw feeder.error() ?? e;
      throw new AptfreezeError('MALFORMED', `corrupt gzip data: ${(e as Error).message}`, { cause: e });
    }
    await feeder.done;
    if (feeder.error() !== undefined) throw feeder.error();
  } finally {
    feeder.stop();
    gunzip.destroy();
  }
}

interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A filter program: input to its stdin, its stdout out, its exit status judged at the end. */
async function* viaChild(cmd: string, args: string[], source: AsyncIterable<Buffer>, maxBytes: number, kind: Compression): AsyncGenerator<Buffer> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<ChildExit>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 2000) stderr += d.toString('utf8');
  });
  // EPIPE when the program stops reading early, or a pipe torn down by the cleanup
  // below: the exit status tells what happened, so these must not go unhandled.
  child.stdin.on('error', () => {});
  child.stdout.on('error', () => {});
  child.stderr.on('error', () => {});
  const feeder = feed(source, child.stdin, 64 * 1024, () => child.kill('SIGKILL'));
  let total = 0;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) throw tooLarge(kind, maxBytes);
      yield chunk;
    }
    const exit = await exited;
    if (feeder.error() !== undefined) throw feeder.error();
    if (exit.error) throw new AptfreezeError('INTERNAL', `cannot run ${cmd}: ${exit.error.message}`, { cause: exit.error });
    if (exit.code !== 0) {
      throw new AptfreezeError('MALFORMED', `corrupt ${kind} data (${cmd} exited ${exit.code ?? exit.signal}): ${stderr.trim()}`);
    }
    await feeder.done;
  } finally {
    feeder.stop();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child.stdin.destroy();
    child.stdout.destroy();
    child.stderr.destroy();
    await exited; // reaped: no child outlives the stream
  }
}

interface Feeder {
  /** Settles when all input is written and the writable ended, or feeding stopped. Never rejects. */
  done: Promise<void>;
  /** The input's own error, if reading it failed. */
  error(): unknown;
  /** Stops reading the input (the writable's reader is gone). */
  stop(): void;
}

/** Copies `source` into `dest` in slices of at most `slice` bytes, honouring backpressure. */
function feed(source: AsyncIterable<Buffer>, dest: Writable, slice: number, onInputError: (e: unknown) => void): Feeder {
  let stopped = false;
  let inputError: unknown;
  const iterator = source[Symbol.asyncIterator]();
  const done = (async () => {
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done || stopped) break;
        const chunk = next.value;
        for (let off = 0; off < chunk.length && !stopped; off += slice) {
          if (dest.destroyed) {
            stopped = true;
            break;
          }
          if (!dest.write(chunk.subarray(off, off + slice))) await drained(dest);
        }
        if (stopped) break;
      }
      if (!stopped && !dest.destroyed) dest.end();
    } catch (e) {
      inputError = e;
      onInputError(e);
    }
  })();
  return {
    done,
    error: () => inputError,
    stop: () => {
      stopped = true;
      // Ends the input now when it waits at a chunk boundary (else right after its pending read).
      void iterator.return?.()?.catch(() => {});
    },
  };
}

function drained(w: Writable | Readable): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      w.off('drain', finish);
      w.off('close', finish);
      w.off('error', finish);
      resolve();
    };
    w.on('drain', finish);
    w.on('close', finish);
    w.on('error', finish);
  });
}

const programs: Partial<Record<Compression, string>> = { xz: 'xz', bz2: 'bzip2', lz4: 'lz4' };

/**
 * The synchronous form of decompressBuffer, for callers with no event loop to spare (the
 * auditor's verifier is synchronous, server/verify/): gzip and zstd in-process, xz, bzip2
 * and lz4 with the Debian programs. Same errors: corrupt is MALFORMED, more than maxBytes
 * of output UPSTREAM_TOO_LARGE, a missing program INTERNAL.
 */
export function decompressBufferSync(kind: Compression, data: Buffer, opts: DecompressOptions): Buffer {
  const { maxBytes } = opts;
  switch (kind) {
    case 'none':
      if (data.length > maxBytes) throw tooLarge(kind, maxBytes);
      return data;
    case 'gz':
      try {
        return zlib.gunzipSync(data, { maxOutputLength: maxBytes });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(kind, maxBytes);
        throw new AptfreezeError('MALFORMED', `corrupt gzip data: ${(e as Error).message}`, { cause: e });
      }
    case 'zst':
      return unzstdSync(data, maxBytes);
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
}

/** zstd through the streaming binding, so that the cap holds whatever the frame header claims. */
function unzstdSync(data: Buffer, maxBytes: number): Buffer {
  const total = { bytes: 0 };
  const chunks = zstdChunk(new zstdBinding.DCtx(), zstdBinding.dStreamOutSize(), data, false, total, maxBytes);
  const parts: Buffer[] = [];
  let step = chunks.next();
  for (; !step.done; step = chunks.next()) parts.push(step.value);
  if (step.value) throw new AptfreezeError('MALFORMED', 'zstd data ends in the middle of a frame');
  return Buffer.concat(parts, total.bytes);
}
