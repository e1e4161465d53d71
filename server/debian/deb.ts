import { createHash } from 'node:crypto';
import { AptfreezeError } from '../errors.ts';
import { readAr, writeArParts } from './ar.ts';
import { compressBuffer, compressionOf, decompressBuffer } from './compress.ts';
import { parseStanzas } from './deb822.ts';
import { checkRelativePath } from './paths.ts';
import { readTar, writeTar, writeTarParts, type TarWriteEntry } from './tar.ts';

/**
 * Reproducible .deb files (deb(5)): the same options give the same bytes, so a
 * proof package can be rebuilt and compared. Laid out as `dpkg-deb --build
 * --root-owner-group` would: members debian-binary, control.tar.*, data.tar.*;
 * tar entries owned by root, every directory listed before its contents, names
 * sorted byte-wise within a directory.
 */

export interface DebFile {
  /** Installed path without a leading slash, e.g. "usr/share/x/y". */
  path: string;
  data: Buffer;
  /** Permission bits, default 0644. */
  mode?: number;
}

export interface BuildDebOptions {
  /** The DEBIAN/control text: one stanza (a final newline is added when missing). */
  control: string;
  files: DebFile[];
  /** Seconds since the epoch stamped on every member and entry; fix it for reproducibility. */
  mtime: number;
  /** Member compression; default zst (dpkg >= 1.21.18 reads it). */
  compression?: 'zst' | 'gz';
  /** The data member's compression when not the same: 'none' for contents that are compressed already. */
  dataCompression?: 'zst' | 'gz' | 'none';
}

export async function buildDeb(opts: BuildDebOptions): Promise<Buffer> {
  return Buffer.concat(await buildDebParts(opts));
}

/** The same package as a list of buffers: with an uncompressed data.tar, file contents are not copied. */
export async function buildDebParts(opts: BuildDebOptions): Promise<Buffer[]> {
  const compression = opts.compression ?? 'zst';
  const control = opts.control.endsWith('\n') ? opts.control : `${opts.control}\n`;
  const stanzas = parseStanzas(control);
  // One stanza and nothing else: no blank lines before, inside or after it.
  if (stanzas.length !== 1 || !stanzas[0]!.raw.equals(Buffer.from(control, 'utf8'))) {
    throw new AptfreezeError('MALFORMED', 'control must be exactly one stanza');
  }

  const files = new Map<string, DebFile>();
  const dirs = new Set<string>();
  for (const f of opts.files) {
    const path = checkRelativePath(f.path, 'package file');
    if (files.has(path)) throw new AptfreezeError('INTERNAL', `buildDeb: ${path} given twice`);
    files.set(path, f);
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) dirs.add(segments.slice(0, i).join('/'));
  }
  for (const d of dirs) if (files.has(d)) throw new AptfreezeError('INTERNAL', `buildDeb: ${d} is both a file and a directory`);

  const order = treeOrder([...dirs], [...files.keys()]);
  const dataEntries: TarWriteEntry[] = [{ path: '.', type: 'dir' }];
  let md5sums = '';
  for (const { path, dir } of order) {
    if (dir) {
      dataEntries.push({ path, type: 'dir' });
    } else {
      const f = files.get(path)!;
      dataEntries.push({ path, type: 'file', data: f.data, mode: f.mode ?? 0o644 });
      md5sums += `${createHash('md5').update(f.data).digest('hex')}  ${path}\n`;
    }
  }
  const controlEntries: TarWriteEntry[] = [
    { path: '.', type: 'dir' },
    { path: 'control', type: 'file', data: Buffer.from(control, 'utf8') },
    { path: 'md5sums', type: 'file', data: Buffer.from(md5sums, 'utf8') },
  ];

  const controlTar = await compressBuffer(compression, writeTar(controlEntries, opts.mtime));
  const dataCompression = opts.dataCompression ?? compression;
  const dataTar = dataCompression === 'none' ? writeTarParts(dataEntries, opts.mtime) : [await compressBuffer(dataCompression, writeTar(dataEntries, opts.mtime))];
  return writeArParts(
    [
      { name: 'debian-binary', parts: [Buffer.from('2.0\n')] },
      { name: `control.tar.${compression}`, parts: [controlTar] },
      { name: dataCompression === 'none' ? 'data.tar' : `data.tar.${dataCompression}`, parts: dataTar },
    ],
    opts.mtime,
  );
}

/** Depth-first, each directory before its contents, siblings in byte order (as dpkg-deb's tree walk). */
function treeOrder(dirs: string[], files: string[]): Array<{ path: string; dir: boolean }> {
  const all = [...dirs.map((path) => ({ path, dir: true })), ...files.map((path) => ({ path, dir: false }))];
  const keys = new Map(all.map((e) => [e.path, e.path.split('/').map((s) => Buffer.from(s, 'utf8'))]));
  return all.sort((a, b) => {
    const ka = keys.get(a.path)!;
    const kb = keys.get(b.path)!;
    for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
      const c = Buffer.compare(ka[i]!, kb[i]!);
      if (c !== 0) return c;
    }
    return ka.length - kb.length; // a directory before what it holds
  });
}

export interface ReadDebResult {
  /** The control file's text. */
  control: string;
  /** Regular files of the data member, keyed by path without the leading "./". */
  files: Map<string, Buffer>;
}

/**
 * Reads a .deb: control.tar and data.tar compressed with zst, gz or xz, or not
 * at all. Outside data: a bad archive is MALFORMED; a member that decompresses
 * past `maxBytes` (default 1 GiB) is UPSTREAM_TOO_LARGE.
 */
export async function readDeb(buf: Buffer, opts: { maxBytes?: number } = {}): Promise<ReadDebResult> {
  const maxBytes = opts.maxBytes ?? 1024 * 1024 * 1024;
  const members = readAr(buf);
  const first = members[0];
  if (first?.name !== 'debian-binary' || !first.data.toString('latin1').startsWith('2.')) {
    throw new AptfreezeError('MALFORMED', 'not a Debian binary package (no debian-binary 2.x first)');
  }
  const controlMember = members.find((m) => /^control\.tar(\.(gz|xz|zst))?$/.test(m.name));
  const dataMember = members.find((m) => /^data\.tar(\.(gz|xz|zst|bz2))?$/.test(m.name));
  if (!controlMember || !dataMember) throw new AptfreezeError('MALFORMED', 'the package has no control.tar or data.tar member');

  const controlTar = readTar(await decompressBuffer(compressionOf(controlMember.name), controlMember.data, { maxBytes }));
  const controlEntry = controlTar.find((e) => e.path === 'control' && e.type === 'file');
  if (!controlEntry) throw new AptfreezeError('MALFORMED', 'control.tar holds no control file');

  const files = new Map<string, Buffer>();
  for (const e of readTar(await decompressBuffer(compressionOf(dataMember.name), dataMember.data, { maxBytes }))) {
    if (e.type === 'file') files.set(e.path, e.data);
  }
  return { control: controlEntry.data.toString('utf8'), files };
}
