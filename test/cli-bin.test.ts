// bin/aptfreeze.js chooses between the bundle and the TypeScript sources (issue 16): a part of the
// bundle (the front, dist/lean.mjs; the full program, dist/aptfreeze.mjs) runs only when no source
// file it was built from (dist/inputs.json, written by scripts/build.mjs) is newer than the bundle,
// so an edited tree never runs stale code. Checked on a package root of its own (the real bin, a
// stand-in dist/ and server/ that say which ran), with mtimes set, not waited for.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { runCommand } from './helpers/run.ts';
import { repoRoot } from './helpers/service.ts';

let root: string;
const built = new Date('2026-12-01T00:00:00Z');
const older = new Date('2026-11-30T00:00:00Z');
const newer = new Date('2026-12-02T00:00:00Z');
// The front's sources and the full program's (errors.ts in both, as in the real lists).
const inputs = { lean: ['server/cli/lean.ts', 'server/errors.ts'], full: ['server/cli/main.ts', 'server/errors.ts'] };

async function run(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await runCommand(process.execPath, [join(root, 'bin', 'aptfreeze.js'), ...args], { cwd: root, env: { ...process.env, APTFREEZE_FROM_SOURCE: '', ...env } });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function write(rel: string, text: string, mtime: Date): void {
  const p = join(root, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  utimesSync(p, mtime, mtime);
}

before(async () => {
  root = await tmpDir('af-cli-bin');
  mkdirSync(join(root, 'bin'));
  copyFileSync(join(repoRoot, 'bin', 'aptfreeze.js'), join(root, 'bin', 'aptfreeze.js'));
  writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'));
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  rmSync(join(root, 'server'), { recursive: true, force: true });
  // The front answers `lean` itself and hands the rest to the full program, as server/cli/lean.ts does.
  write('dist/lean.mjs', "export async function main(argv, full) { if (argv[2] === 'lean') process.stdout.write('lean\\n'); else await (await full()).main(argv); }\n", built);
  write('dist/aptfreeze.mjs', "export async function main() { process.stdout.write('bundle\\n'); }\n", built);
  write('dist/inputs.json', `${JSON.stringify(inputs)}\n`, built);
  write('server/cli/main.ts', "export async function main(): Promise<void> { process.stdout.write('sources\\n'); }\n", older);
  write('server/cli/lean.ts', '', older);
  write('server/errors.ts', '', older);
});

describe('bin/aptfreeze.js', () => {
  it('runs the bundle when every source it was built from is older, the front first', async () => {
    assert.equal(await run(['lean']), 'lean');
    assert.equal(await run(['serials', 'x']), 'bundle');
  });

  it('runs the sources when a source of the front is newer than the bundle (an edit in place)', async () => {
    utimesSync(join(root, 'server', 'errors.ts'), newer, newer);
    assert.equal(await run(['lean']), 'sources');
    assert.equal(await run(['serials', 'x']), 'sources');
  });

  it('runs the front but hands over to the sources when only a source of the full program is newer', async () => {
    utimesSync(join(root, 'server', 'cli', 'main.ts'), newer, newer);
    assert.equal(await run(['lean']), 'lean', 'the front is built from current sources');
    assert.equal(await run(['serials', 'x']), 'sources');
  });

  it('runs the sources when a source is newer than the full program, though older than the front', async () => {
    utimesSync(join(root, 'dist', 'aptfreeze.mjs'), older, older);
    assert.equal(await run(['x']), 'bundle', 'sources as old as the full program');
    const between = new Date((older.getTime() + built.getTime()) / 2);
    utimesSync(join(root, 'server', 'errors.ts'), between, between);
    assert.equal(await run(['x']), 'sources');
  });

  it('runs the sources when a source the bundle was built from is gone', async () => {
    rmSync(join(root, 'server', 'errors.ts'));
    assert.equal(await run(['lean']), 'sources');
  });

  it('runs the sources when the list of inputs is missing or empty', async () => {
    rmSync(join(root, 'dist', 'inputs.json'));
    assert.equal(await run(['lean']), 'sources');
    write('dist/inputs.json', '{"lean":[],"full":[]}\n', built);
    assert.equal(await run(['lean']), 'sources');
    write('dist/inputs.json', '["server/cli/lean.ts"]\n', built);
    assert.equal(await run(['lean']), 'sources', 'a list of another shape');
  });

  it('runs the sources when APTFREEZE_FROM_SOURCE=1', async () => {
    assert.equal(await run(['lean'], { APTFREEZE_FROM_SOURCE: '1' }), 'sources');
  });
});
