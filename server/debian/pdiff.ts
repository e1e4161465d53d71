import { AptfreezeError } from '../errors.ts';
import { parseStanzas } from './deb822.ts';

/**
 * pdiffs: `<index>.diff/Index` and the ed-style patches it names, as dak and
 * reprepro publish them and apt reads them (apt-pkg/acquire-item.cc
 * ParseDiffIndex, methods/rred.cc). Pure: text in, text out; everything here
 * is outside data, so every problem is MALFORMED, never a crash.
 *
 * The Index lists, by SHA256:
 * - `SHA256-Current: <hash> <size>`: the index now (must be what the Release lists);
 * - `SHA256-History: <hash> <size> <name>`: the index a patch applies to;
 * - `SHA256-Patches: <hash> <size> <name>`: the patch, uncompressed;
 * - `SHA256-Download: <hash> <size> <name>.gz`: the patch as served.
 * With `X-Patch-Precedence: merged` each patch goes from its history state
 * straight to the current index (dak's merged patches, named
 * `T-<to>-F-<from>`); without it, patch i goes from history i to history
 * i + 1 (the last to the current), and a client applies them in turn.
 */

export interface PdiffPatch {
  name: string;
  /** The index this patch applies to. */
  from: { sha256: string; size: number };
  /** The patch, uncompressed. */
  patch: { sha256: string; size: number };
  /** `<name>.gz` as served. */
  download: { sha256: string; size: number };
}

export interface PdiffIndex {
  current: { sha256: string; size: number };
  merged: boolean;
  patches: PdiffPatch[];
}

const HEX = /^[0-9a-f]{64}$/;
// Patch names are file names in the .diff directory: no slash, no dot-dot, nothing to escape.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+:-]*$/;

function malformed(what: string): AptfreezeError {
  return new AptfreezeError('MALFORMED', `pdiff Index: ${what}`);
}

function hashSize(hash: string | undefined, size: string | undefined, field: string): { sha256: string; size: number } {
  const h = (hash ?? '').toLowerCase();
  if (!HEX.test(h) || !size || !/^\d{1,15}$/.test(size)) throw malformed(`bad ${field} entry`);
  return { sha256: h, size: Number(size) };
}

function list(value: string | undefined, field: string): Array<{ sha256: string; size: number; name: string }> {
  if (value === undefined) return [];
  const out = [];
  for (const line of value.split('\n')) {
    const parts = line.trim().split(/[ \t]+/);
    if (parts.length === 1 && parts[0] === '') continue;
    if (parts.length !== 3 || !NAME.test(parts[2]!) || parts[2]!.includes('..')) throw malformed(`bad ${field} line ${JSON.stringify(line.trim())}`);
    out.push({ ...hashSize(parts[0], parts[1], field), name: parts[2]! });
  }
  return out;
}

export function parsePdiffIndex(text: string | Buffer): PdiffIndex {
  const stanzas = parseStanzas(text);
  if (stanzas.length !== 1) throw malformed(`${stanzas.length} paragraphs, expected one`);
  const s = stanzas[0]!;
  const cur = (s.get('SHA256-Current') ?? '').trim().split(/[ \t]+/);
  if (cur.length !== 2) throw malformed('no SHA256-Current');
  const history = list(s.get('SHA256-History'), 'SHA256-History');
  const patches = new Map(list(s.get('SHA256-Patches'), 'SHA256-Patches').map((p) => [p.name, p]));
  const downloads = new Map(list(s.get('SHA256-Download'), 'SHA256-Download').map((p) => [p.name, p]));
  const out: PdiffPatch[] = [];
  for (const h of history) {
    const p = patches.get(h.name);
    const d = downloads.get(`${h.name}.gz`);
    // apt likewise stops at the first patch it has no usable hashes for.
    if (!p || !d) throw malformed(`no SHA256-Patches or SHA256-Download entry for ${h.name}`);
    out.push({ name: h.name, from: { sha256: h.sha256, size: h.size }, patch: { sha256: p.sha256, size: p.size }, download: { sha256: d.sha256, size: d.size } });
  }
  return { current: hashSize(cur[0], cur[1], 'SHA256-Current'), merged: (s.get('X-Patch-Precedence') ?? '').trim() === 'merged', patches: out };
}

/**
 * The patches that take an index of hash `base` to the current one, in the
 * order to apply them; null when `base` is not in the history (a client
 * then fetches the whole index, as apt does).
 */
export function patchesFrom(index: PdiffIndex, base: string): PdiffPatch[] | null {
  // The newest entry naming the base, as apt searches from the end.
  let i = -1;
  for (let k = index.patches.length - 1; k >= 0; k--) {
    if (index.patches[k]!.from.sha256 === base) {
      i = k;
      break;
    }
  }
  if (i === -1) return null;
  return index.merged ? [index.patches[i]!] : index.patches.slice(i);
}

/** One ed command of a patch, line numbers 1-based, in the original file's numbering. */
interface EdCommand {
  kind: 'a' | 'c' | 'd';
  from: number;
  to: number;
  /** Lines to insert (a, c), each with its newline. */
  lines: Buffer[];
}

/**
 * Parses an ed script as `diff --ed` writes it and rred applies it: commands
 * `Na`, `N[,M]c`, `N[,M]d`, text after `a`/`c` ending at a line holding one
 * `.`, and `s/.//` after a text line `..` (a text line that is one dot),
 * followed by `a` to go on appending after it. The
 * commands must go from the end of the file to its start, without overlap:
 * that is what diff writes and what lets them apply in one pass.
 */
export function parseEdScript(patch: Buffer): EdCommand[] {
  const cmds: EdCommand[] = [];
  let pos = 0;
  let lineNo = 0;
  const nextLine = (): Buffer | null => {
    if (pos >= patch.length) return null;
    const nl = patch.indexOf(0x0a, pos);
    if (nl === -1) throw new AptfreezeError('MALFORMED', `pdiff: line ${lineNo + 1} has no newline`);
    const line = patch.subarray(pos, nl + 1);
    pos = nl + 1;
    lineNo++;
    return line;
  };
  let afterFix = false;
  for (let line = nextLine(); line !== null; line = nextLine()) {
    const text = line.toString('latin1', 0, line.length - 1);
    if (text === 's/.//') {
      const prev = cmds[cmds.length - 1];
      const last = prev?.lines[prev.lines.length - 1];
      if (!last || last.toString('latin1') !== '..\n') throw new AptfreezeError('MALFORMED', `pdiff: line ${lineNo}: s/.// after no ".." line`);
      prev!.lines[prev!.lines.length - 1] = Buffer.from('.\n');
      afterFix = true;
      continue;
    }
    // After `s/.//`, diff --ed goes on appending with an `a` without address (after the line just fixed).
    if (text === 'a' && afterFix) {
      afterFix = false;
      const prev = cmds[cmds.length - 1]!;
      for (;;) {
        const t = nextLine();
        if (t === null) throw new AptfreezeError('MALFORMED', `pdiff: the text of line ${lineNo}'s a has no closing "."`);
        if (t.length === 2 && t[0] === 0x2e) break;
        prev.lines.push(t);
      }
      continue;
    }
    afterFix = false;
    const m = /^(\d{1,10})(?:,(\d{1,10}))?([acd])$/.exec(text);
    if (!m) throw new AptfreezeError('MALFORMED', `pdiff: line ${lineNo}: not an ed command: ${JSON.stringify(text.slice(0, 40))}`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    const kind = m[3] as EdCommand['kind'];
    if (to < from || (kind !== 'a' && from < 1) || (kind === 'a' && m[2] !== undefined)) throw new AptfreezeError('MALFORMED', `pdiff: line ${lineNo}: bad range ${text}`);
    const prev = cmds[cmds.length - 1];
    // From the end of the file to its start, no overlap: a command may end on the line after which
    // the previous one appends ("Na" keeps line N), otherwise before the previous one's first line.
    if (prev && !(prev.kind === 'a' && kind !== 'a' ? to <= prev.from : to < prev.from)) {
      throw new AptfreezeError('MALFORMED', `pdiff: line ${lineNo}: ${text} is not before the previous command`);
    }
    const cmd: EdCommand = { kind, from, to, lines: [] };
    if (kind !== 'd') {
      for (;;) {
        const t = nextLine();
        if (t === null) throw new AptfreezeError('MALFORMED', `pdiff: the text of ${text} has no closing "."`);
        if (t.length === 2 && t[0] === 0x2e) break;
        cmd.lines.push(t);
      }
    }
    cmds.push(cmd);
  }
  return cmds;
}

/**
 * Applies an ed script to a text. A command naming a line past the end is
 * MALFORMED (rred refuses it too): a patch for another file never applies
 * halfway. The result still has to match the hash the signed Release lists;
 * that check is the caller's.
 */
export function applyEdScript(base: Buffer, patch: Buffer): Buffer {
  const cmds = parseEdScript(patch);
  if (cmds.length === 0) return base;
  // Line starts of the base: lines[k] is where line k + 1 begins; lines[n] = base.length.
  const starts: number[] = [0];
  for (let i = base.indexOf(0x0a); i !== -1; i = base.indexOf(0x0a, i + 1)) starts.push(i + 1);
  if (starts[starts.length - 1] !== base.length) starts.push(base.length);
  const n = starts.length - 1;
  const out: Buffer[] = [];
  let cursor = 0; // byte offset in base up to which the output is written
  for (let k = cmds.length - 1; k >= 0; k--) {
    const c = cmds[k]!;
    if (c.to > n || (c.kind === 'a' && c.from > n)) throw new AptfreezeError('MALFORMED', `pdiff: ${c.from}${c.to !== c.from ? `,${c.to}` : ''}${c.kind} is past the end of the file (${n} lines)`);
    // Keep the base up to the command: through line `from` for 'a', before line `from` otherwise.
    const keepTo = c.kind === 'a' ? starts[c.from]! : starts[c.from - 1]!;
    out.push(base.subarray(cursor, keepTo));
    out.push(...c.lines);
    cursor = c.kind === 'a' ? keepTo : starts[c.to]!;
  }
  out.push(base.subarray(cursor));
  return Buffer.concat(out);
}
