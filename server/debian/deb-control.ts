import { AptfreezeError, isAptfreezeError } from '../errors.ts';
import { readAr } from './ar.ts';
import { compressionOf, decompressBuffer } from './compress.ts';
import { readTar } from './tar.ts';

/**
 * The control file of a .deb, reading only its control.tar member and at most
 * `maxBytes` of it decompressed: an uploaded package is outside data, and its
 * control member may be a decompression bomb (PAYLOAD_TOO_LARGE). Anything that
 * is not a Debian binary package is MALFORMED.
 */
export async function readDebControlText(buf: Buffer, maxBytes: number): Promise<string> {
  const members = readAr(buf);
  if (members[0]?.name !== 'debian-binary' || !members[0].data.toString('latin1').startsWith('2.')) {
    throw new AptfreezeError('MALFORMED', 'not a Debian binary package (no debian-binary 2.x first)');
  }
  const control = members.find((m) => /^control\.tar(\.(gz|xz|zst))?$/.test(m.name));
  if (!control) throw new AptfreezeError('MALFORMED', 'the package has no control.tar member');
  let tar: Buffer;
  try {
    tar = await decompressBuffer(compressionOf(control.name), control.data, { maxBytes });
  } catch (e) {
    if (isAptfreezeError(e) && e.code === 'UPSTREAM_TOO_LARGE') throw new AptfreezeError('PAYLOAD_TOO_LARGE', `the package's ${control.name} decompresses to more than ${maxBytes} bytes`);
    throw e;
  }
  const entry = readTar(tar).find((e) => (e.path === 'control' || e.path === './control') && e.type === 'file');
  if (!entry) throw new AptfreezeError('MALFORMED', 'control.tar holds no control file');
  return entry.data.toString('utf8');
}
