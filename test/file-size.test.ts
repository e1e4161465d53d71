// Issue 11, acceptance 7: "No file under server/ mixes two responsibilities; one over 400 lines says in
// its first comment why it is one piece." Every server/**/*.ts over MAX_LINES lines must carry the
// marker (ARCHITECTURE.md, "Small files") in its first comment, followed by the reason. The checker
// is also run on planted files, so a broken checker fails too.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');

export const MAX_LINES = 400;
export const MARKER = 'One piece though over 400 lines:';
/** The reason after the marker: at least this many characters (a sentence, not a placeholder). */
const MIN_REASON = 30;

/** Lines as `wc -l` counts them. */
function lineCount(src: string): number {
  let n = 0;
  for (let i = src.indexOf('\n'); i !== -1; i = src.indexOf('\n', i + 1)) n++;
  return n;
}

/** The file's first comment: a block comment, or a run of `//` lines, whichever comes first; '' if none. */
export function firstComment(src: string): string {
  const m = /\/\*[\s\S]*?\*\/|(?:^[ \t]*\/\/.*(?:\n|$))+/m.exec(src);
  return m ? m[0] : '';
}

/** Why a file breaks the rule, or null. */
export function problem(file: string, src: string): string | null {
  const lines = lineCount(src);
  if (lines <= MAX_LINES) return null;
  // The comment's text, without the comment markers, on one line.
  const text = firstComment(src)
    .replace(/^\s*(?:\/\*\*?|\*\/|\*|\/\/)/gm, ' ')
    .replace(/\*\/\s*$/, '')
    .replace(/\s+/g, ' ');
  const at = text.indexOf(MARKER);
  if (at === -1) return `${file}: ${lines} lines, and its first comment does not say "${MARKER} <why>"`;
  if (text.slice(at + MARKER.length).trim().length < MIN_REASON) return `${file}: ${lines} lines, and its first comment gives no reason after "${MARKER}"`;
  return null;
}

function serverFiles(dir = join(root, 'server')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? serverFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [relative(root, join(dir, e.name))] : [],
  );
}

describe('files over 400 lines under server/', () => {
  it('each says in its first comment why it is one piece', () => {
    const files = serverFiles();
    assert.ok(files.length > 100, `scanned ${files.length} files`);
    const found = files.map((f) => problem(f, readFileSync(join(root, f), 'utf8'))).filter((p) => p !== null);
    assert.deepEqual(found, []);
  });

  describe('when a violation is planted', () => {
    const body = 'export const x = 1;\n'.repeat(MAX_LINES);
    const why = 'the parser and its checks share one state and must agree byte for byte.';

    it('catches a long file without a first comment', () => {
      assert.match(problem('server/planted.ts', `import { a } from './a.ts';\n${body}`) ?? '', /^server\/planted\.ts: 401 lines, and its first comment does not say/);
    });

    it('catches the marker when it is not in the first comment', () => {
      const src = `/** What this file does. */\n${body}/**\n * ${MARKER} ${why}\n */\n`;
      assert.match(problem('server/planted.ts', src) ?? '', /does not say/);
    });

    it('catches the marker without a reason', () => {
      assert.match(problem('server/planted.ts', `// ${MARKER} yes.\n${body}`) ?? '', /gives no reason/);
    });

    it('accepts the marker and a reason in the first comment, block or line comments, after the imports', () => {
      assert.equal(problem('server/planted.ts', `import { a } from './a.ts';\n/**\n * The parser.\n *\n * ${MARKER} the parser and its checks\n * share one state and must agree.\n */\n${body}`), null);
      assert.equal(problem('server/planted.ts', `// The parser.\n// ${MARKER} ${why}\n${body}`), null);
    });

    it('leaves a file of 400 lines alone', () => {
      assert.equal(problem('server/planted.ts', 'export const x = 1;\n'.repeat(MAX_LINES)), null);
    });
  });
});
