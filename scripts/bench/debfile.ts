// A minimal, fast writer of real .deb files (deb(5)): ar archive with debian-binary,
// control.tar.gz and data.tar.zst (dpkg >= 1.21.18 reads zstd; Ubuntu's default since 21.10).
// control.tar is gzip on purpose: reprepro reads every package's control member when it adds
// it, in-process for gzip but through one external decompressor process per package for zstd,
// which made reprepro ~10x slower here and the comparison unfair; GNU-format tar headers as dpkg-deb writes them (no pax),
// every entry owned by root, fixed mtime (reproducible). Written here rather than shared with
// server/debian so that the bench's upstream does not inherit a bug of the service it measures;
// test/bench-generator.test.ts checks the output with dpkg-deb and the real apt.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Compressor } from 'zstd-napi';

const BLOCK = 512;
/**
 * zstd level 3 through one reused context: ~25 µs for a small package here, where gzipSync
 * takes ~180 µs (and data.tar.gz at level 0 would store the tar padding uncompressed).
 */
let zstdCtx: Compressor | null = null;
function zst(data: Buffer): Buffer {
  if (!zstdCtx) {
    zstdCtx = new Compressor();
    zstdCtx.setParameters({ compressionLevel: 3 });
  }
  return zstdCtx.compress(data);
}

export interface DebEntry {
  /** without "./"; directories end with "/" */
  path: string;
  data?: Buffer;
  mode?: number;
}

function octal(v: number, width: number): string {
  return `${v.toString(8).padStart(width - 1, '0')}\0`;
}

function tarHeader(name: string, size: number, mode: number, mtime: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(BLOCK);
  const n = Buffer.from(name, 'utf8');
  if (n.length > 100) throw new Error(`bench deb: tar name too long: ${name}`);
  n.copy(h, 0);
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.fill(0x20, 148, 156);
  h.write(type, 156, 'ascii');
  h.write('ustar  \0', 257, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** A tar archive of the entries in the order given; "./" is written first. */
export function tar(entries: DebEntry[], mtime: number): Buffer {
  const parts: Buffer[] = [tarHeader('./', 0, 0o755, mtime, '5')];
  for (const e of entries) {
    if (e.path.endsWith('/')) {
      parts.push(tarHeader(`./${e.path}`, 0, e.mode ?? 0o755, mtime, '5'));
      continue;
    }
    const data = e.data ?? Buffer.alloc(0);
    parts.push(tarHeader(`./${e.path}`, data.length, e.mode ?? 0o644, mtime, '0'));
    parts.push(data);
    const pad = data.length % BLOCK;
    if (pad) parts.push(Buffer.alloc(BLOCK - pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

function arMember(name: string, data: Buffer, mtime: number): Buffer[] {
  const h = `${name.padEnd(16)}${String(mtime).padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(data.length).padEnd(10)}\`\n`;
  const out = [Buffer.from(h, 'ascii'), data];
  if (data.length % 2) out.push(Buffer.from('\n'));
  return out;
}

/**
 * A binary package: `control` is the DEBIAN/control stanza (ends with "\n"), `files` the
 * data entries (directories listed before their contents). md5sums is made from the files.
 */
export function buildDeb(control: string, files: DebEntry[], mtime: number): Buffer {
  let md5sums = '';
  for (const f of files) if (!f.path.endsWith('/')) md5sums += `${createHash('md5').update(f.data ?? Buffer.alloc(0)).digest('hex')}  ${f.path}\n`;
  const controlTar = gzipSync(
    tar(
      [
        { path: 'control', data: Buffer.from(control, 'utf8') },
        { path: 'md5sums', data: Buffer.from(md5sums, 'utf8') },
      ],
      mtime,
    ),
    { level: 9 },
  );
  const dataTar = zst(tar(files, mtime));
  return Buffer.concat([
    Buffer.from('!<arch>\n', 'ascii'),
    ...arMember('debian-binary', Buffer.from('2.0\n'), mtime),
    ...arMember('control.tar.gz', controlTar, mtime),
    ...arMember('data.tar.zst', dataTar, mtime),
  ]);
}
