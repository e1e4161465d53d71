import { mkdirSync, readdirSync, readFileSync, existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { AptfreezeError } from '../errors.ts';
import { writeFileAtomicSync } from '../util/atomic-write.ts';
import { isTagName } from '../tags/name.ts';

/**
 * The builder's pin files: `<dir>/<archive>/serial`, one line holding a
 * serial (YYYYMMDDNN), `latest`, or `tag:<name>`. Plain files so that a build tree can
 * commit them and a review shows a bump as a one-line diff.
 */
export type PinValue = string;

const archiveRe = /^[a-z0-9][a-z0-9.+-]{0,62}$/;
export const serialRe = /^\d{10}$/;

export function checkArchiveName(name: string): string {
  if (!archiveRe.test(name)) throw new AptfreezeError('BAD_REQUEST', `not an archive name: ${JSON.stringify(name)}`);
  return name;
}

/** A pin naming a tag: `tag:<name>` (server/tags/); a tag never moves and never expires. */
export function isTagPin(value: string): boolean {
  return value.startsWith('tag:') && isTagName(value.slice(4));
}

export function checkPinValue(value: string, where: string): PinValue {
  if (value !== 'latest' && !serialRe.test(value) && !isTagPin(value)) throw new AptfreezeError('BAD_REQUEST', `${where}: expected a serial YYYYMMDDNN, latest or tag:<name>, found ${JSON.stringify(value)}`);
  return value;
}

/** Every pin under `dir`, by archive name (sorted). A missing directory holds no pins. */
export function readPins(dir: string): Map<string, PinValue> {
  const pins = new Map<string, PinValue>();
  if (!existsSync(dir)) return pins;
  for (const name of readdirSync(dir).sort()) {
    const file = join(dir, name, 'serial');
    if (name.startsWith('.') || !lstatSync(join(dir, name)).isDirectory() || !existsSync(file)) continue;
    checkArchiveName(name);
    pins.set(name, checkPinValue(readFileSync(file, 'utf8').trim(), file));
  }
  return pins;
}

/** Writes one pin (temp file + rename). */
export function writePin(dir: string, archive: string, value: PinValue): void {
  checkArchiveName(archive);
  checkPinValue(value, `pin of ${archive}`);
  const d = join(dir, archive);
  mkdirSync(d, { recursive: true });
  writeFileAtomicSync(join(d, 'serial'), `${value}\n`, { mode: 0o644 });
}
