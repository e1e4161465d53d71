// Issue "One owner for the data directory", acceptance 2: SQL, data-directory path building and the
// published tree's layout names appear only in their owner's folder. Issue 11 item 5 ("one Packages
// reader"): a Packages index is read only through snapshot/packages-reader.ts (rules `packages-*`). Scans server/**/*.ts with
// comments stripped; the scanner is also run on planted violations, so a broken scanner fails too.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');

interface Rule {
  name: string;
  pattern: RegExp;
  /** Path prefixes (relative to the repository) that own what the pattern finds. */
  owners: string[];
}

const rules: Rule[] = [
  {
    name: 'sql',
    pattern: /\.(?:prepare|exec|pragma)\(\s*[`'"]|[`'"]\s*(?:SELECT\s|INSERT\s+(?:OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+(?:TABLE|INDEX|TRIGGER)\s)/,
    owners: ['server/catalog/'],
  },
  { name: 'layout-name', pattern: /\.pools\b|\.staging-|\.tmp-|\.trash-|\.latest-/, owners: ['server/publish/'] },
  // The PublishedTree port (server/publish/port.ts): a path into the published tree is built
  // only behind it; fsck, the filesystem backend's own checker, walks the tree itself.
  {
    name: 'published-tree-path',
    pattern: /\bpublisher\.root\b|\.(?:serialDir|poolsDir|poolDir)\(|from\s+['"][./]*publish\/layout(?:\.ts)?['"]/,
    owners: ['server/publish/', 'server/fsck/', 'server/util/atomic-write.ts'],
  },
  { name: 'blob-path', pattern: /\bpathOf\(/, owners: ['server/store/'] },
  { name: 'blob-link-source', pattern: /\blinkSource\(/, owners: ['server/store/', 'server/publish/'] },
  // The blob store's filesystem side (hard links, inode identity, adoption, the flush barrier):
  // the filesystem published tree's, never the BlobStore port's (issue 11, narrow ports).
  {
    name: 'fs-backend',
    pattern: /\bfrom\s+['"][^'"]*\bfs-links(?:\.ts)?['"]|\bimport\(\s*['"][^'"]*\bfs-links(?:\.ts)?['"]|\bfsBlobFiles\(/,
    owners: ['server/store/', 'server/publish/'],
  },
  // One Packages reader (issue 11 item 5): the byte scanner is called only by the reader; the old
  // per-stanza Packages readers (packagesRef, packageEntry) stay gone; and deb822's stanza parsers,
  // with their wrappers for whole indices, are called only by modules that read something other than
  // a Packages index with them (each owner below says what).
  { name: 'packages-scanner', pattern: /\bscanPackages(?:Buffer)?\(/, owners: ['server/debian/packages-scan.ts', 'server/snapshot/packages-reader.ts'] },
  { name: 'packages-stanza-reader', pattern: /\b(?:packagesRef|packageEntry)\(/, owners: [] },
  {
    name: 'packages-deb822',
    pattern: /\b(?:parseStanzas|readStanzas|stanzasOfBlob|sourcesStanzasOf)\(/,
    owners: [
      'server/debian/deb822.ts', // the parser itself
      'server/debian/release.ts', // Release / InRelease
      'server/debian/deb.ts', // a .deb's control file
      'server/debian/pdiff.ts', // a pdiff Index
      'server/uploads/changes.ts', // .changes, .dsc, .buildinfo
      'server/tags/dpkg-status.ts', // a chroot's dpkg status
      'server/proof/bundle.ts', // the proof package's control file
      'server/snapshot/parse-index.ts', // stanzasOfBlob: stored Sources and Translation indices
      'server/snapshot/parse.ts', // Sources and Translation indices of a snapshot
      'server/tags/serial-source.ts', // Sources indices of a serial
      'server/snapmr/index.ts', // Sources indices of a serial
      'server/verify/indices.ts', // sourcesStanzasOf: a Sources text in memory
      'server/verify/proof-verifier.ts', // a proof's Sources indices
      'server/cli/verify-snapshot.ts', // a served Sources index (--pool)
    ],
  },
  {
    name: 'data-dir-path',
    pattern: /\bjoin\(\s*(?:[\w$]+\.)*dataDir\b|['"](?:aptfreeze\.db|control\.sock|admin-token)['"]/,
    owners: ['server/datadir.ts'],
  },
];

/**
 * Files another engineer is editing on another branch: they move to their owners after that
 * merge, and this list is emptied then. Each entry: the file, the rules it may still break, why.
 */
const pendingMoves: Record<string, { rules: string[]; why: string }> = {
};

/** Removes comments (block and line), keeping strings, template literals and regular expressions that contain slashes. */
export function stripComments(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const n = src[i + 1];
    if (c === '/' && n === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
    } else if (c === '/' && n === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && /[=(,:!&|?;{}[\n]\s*$/.test(out.slice(-20))) {
      // A regular expression literal: copied whole (it may hold `//` or quotes).
      let j = i + 1;
      let cls = false;
      while (j < src.length && src[j] !== '\n' && (cls || src[j] !== '/')) {
        if (src[j] === '\\') j++;
        else if (src[j] === '[') cls = true;
        else if (src[j] === ']') cls = false;
        j++;
      }
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The violations of one file: `<file>:<line>: <rule>`. */
export function scan(file: string, src: string): string[] {
  const found: string[] = [];
  const lines = stripComments(src).split('\n');
  for (const rule of rules) {
    if (rule.owners.some((o) => file === o || file.startsWith(o))) continue;
    if (pendingMoves[file]?.rules.includes(rule.name)) continue;
    lines.forEach((line, k) => {
      if (rule.pattern.test(line)) found.push(`${file}:${k + 1}: ${rule.name}: ${line.trim()}`);
    });
  }
  return found;
}

function serverFiles(dir = join(root, 'server')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? serverFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [relative(root, join(dir, e.name))] : [],
  );
}

describe('who owns the data directory', () => {
  it('finds SQL, layout names, blob paths, data-directory paths and Packages parsing only in their owners', () => {
    const files = serverFiles();
    assert.ok(files.length > 100, `scanned ${files.length} files`);
    const found = files.flatMap((f) => scan(f, readFileSync(join(root, f), 'utf8')));
    assert.deepEqual(found, []);
  });

  it('keeps its list of pending moves to files that exist and still need it', () => {
    for (const [file, p] of Object.entries(pendingMoves)) {
      const src = readFileSync(join(root, file), 'utf8');
      const saved = pendingMoves[file]!;
      delete pendingMoves[file];
      try {
        const hits = scan(file, src);
        for (const r of p.rules) assert.ok(hits.some((h) => h.includes(`: ${r}: `)), `${file} no longer breaks ${r}: remove it from pendingMoves`);
      } finally {
        pendingMoves[file] = saved;
      }
    }
  });

  describe('when a violation is planted', () => {
    const planted: Array<[string, string, string]> = [
      ['sql', 'server/release/planted.ts', "const n = db.prepare('SELECT COUNT(*) FROM serials').get();\n"],
      ['sql', 'server/http/planted.ts', 'const q = `DELETE FROM tokens WHERE id = ?`;\n'],
      ['layout-name', 'server/release/planted.ts', "const dir = join(root, archive, '.pools', id);\n"],
      ['layout-name', 'server/fsck/planted.ts', "if (name.startsWith('.staging-')) remove(name);\n"],
      ['layout-name', 'server/util/planted.ts', 'const tmp = `${path}.tmp-${rand}`;\n'],
      ['published-tree-path', 'server/release/planted.ts', 'await rm(s.publisher.serialDir(archive, serial), { recursive: true });\n'],
      ['published-tree-path', 'server/http/planted.ts', "res.sendFile(join(deps.publisher.root, 'keys', f));\n"],
      ['published-tree-path', 'server/cli/planted.ts', "import { archiveEntry, poolsDirName } from '../publish/layout.ts';\n"],
      ['blob-path', 'server/snapshot/planted.ts', 'const data = readFileSync(store.pathOf(sha));\n'],
      ['blob-link-source', 'server/fsck/planted.ts', 'linkSync(ctx.store.linkSource(sha), dest);\n'],
      ['fs-backend', 'server/fsck/planted.ts', "import { fsBlobFiles, type FsBlobFiles } from '../store/fs-links.ts';\n"],
      ['fs-backend', 'server/release/planted.ts', "const { fsBlobFiles: files } = await import('../store/fs-links.ts');\n"],
      ['fs-backend', 'server/snapshot/planted.ts', 'linkFrom(fsBlobFiles(ctx.store), sha, dest);\n'],
      ['data-dir-path', 'server/cli/planted.ts', "const db = openDb(join(dataDir, 'aptfreeze.db'));\n"],
      ['data-dir-path', 'server/metrics/planted.ts', "walk(join(deps.dataDir, 'store', 'sha256'));\n"],
      ['packages-deb822', 'server/provenance/planted.ts', 'for await (const s of stanzasOfBlob(store, v.hash, v.path, max)) refs.push(s.get(\'Filename\'));\n'],
      ['packages-deb822', 'server/verify/planted.ts', 'for (const s of parseStanzas(packagesText)) seen.add(s.get(\'SHA256\'));\n'],
      ['packages-stanza-reader', 'server/snapmr/planted.ts', 'const ref = packagesRef(st, where);\n'],
      ['packages-scanner', 'server/release/planted.ts', 'for await (const batch of scanPackages(chunks, path)) n += batch.length;\n'],
    ];
    for (const [rule, file, src] of planted) {
      it(`catches ${rule} in ${file}`, () => {
        const hits = scan(file, src);
        assert.equal(hits.length, 1, hits.join('\n'));
        assert.match(hits[0]!, new RegExp(`^${file}:1: ${rule}: `));
      });
    }

    it('lets the owner keep it', () => {
      assert.deepEqual(scan('server/catalog/planted.ts', planted[0]![2]), []);
      assert.deepEqual(scan('server/publish/planted.ts', planted[2]![2]), []);
      for (const [rule, , src] of planted.filter(([r]) => r === 'published-tree-path')) {
        assert.deepEqual(scan('server/publish/planted.ts', src), [], rule);
        assert.deepEqual(scan('server/fsck/planted.ts', src), [], rule);
      }
      assert.deepEqual(scan('server/datadir.ts', planted.find(([r]) => r === 'data-dir-path')![2]), []);
      for (const [rule, , src] of planted.filter(([r]) => r === 'fs-backend')) {
        assert.deepEqual(scan('server/publish/planted.ts', src), [], rule);
        assert.deepEqual(scan('server/store/planted.ts', src), [], rule);
      }
      assert.deepEqual(scan('server/snapshot/packages-reader.ts', planted.find(([r]) => r === 'packages-scanner')![2]), []);
      assert.deepEqual(scan('server/debian/release.ts', planted.find(([r, f]) => r === 'packages-deb822' && f.includes('verify'))![2]), []);
    });

    it('ignores it in a comment, and keeps a string or regular expression that looks like one', () => {
      assert.deepEqual(scan('server/release/planted.ts', "// db.prepare('SELECT 1')\n/* join(dataDir, 'x') and .pools */\nconst u = 'http://x/y';\n"), []);
      assert.equal(scan('server/release/planted.ts', "const re = /a\\/b/; const s = '.pools';\n").length, 1);
    });
  });
});
