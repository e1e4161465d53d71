// Issue 11, "one atomic-write helper with a stated fsync policy": what the helper writes survives
// a power cut (modelled by test/helpers/kill-preload.mjs and power-cut.ts), where a plain
// write-then-rename does not; a store batch a power cut left unflushed is checked at the next
// start (its empty blobs removed, its whole ones kept); and a re-signing a crash left half-done is
// finished by start-up recovery, with no `fsck --repair`.
import { fsBlobFiles } from '../server/store/fs-links.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync, truncateSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { tmpDir } from './helpers/gpg.ts';
import { applyPowerCut } from './helpers/power-cut.ts';
import { writeFileAtomic, writeFileAtomicSync } from '../server/util/atomic-write.ts';
import { FsBlobStore } from '../server/store/store.ts';
import { createUpstreamKey, buildUpstream, makePackages } from './helpers/upstream.ts';
import { serveUpstream } from './helpers/http-upstream.ts';
import { startService } from './helpers/service.ts';
import { snapshotService } from '../server/snapshot/service.ts';
import { withValidUntil } from '../server/snapshot/release-file.ts';
import { signRelease } from '../server/sign/signer.ts';
import { openForFsck } from '../server/fsck/open.ts';
import { runFsck } from '../server/fsck/fsck.ts';

const here = dirname(fileURLToPath(import.meta.url));
const preload = join(here, 'helpers', 'kill-preload.mjs');
const helper = pathToFileURL(join(here, '..', 'server', 'util', 'atomic-write.ts')).href;

/** Runs a snippet in a node process under the power-cut journal, then cuts the power. */
async function underPowerCut(dir: string, body: string) {
  const journal = join(dir, 'journal.jsonl');
  const backup = join(dir, 'backup');
  mkdirSync(backup, { recursive: true });
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', preload, '--input-type=module', '-e', `import * as aw from '${helper}'; import fs from 'node:fs';\n${body}`], {
    env: { ...process.env, APTFREEZE_TEST_POWER_JOURNAL: journal, APTFREEZE_TEST_POWER_BACKUP: backup },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return applyPowerCut(journal, join(dir, 'data'));
}

describe('the atomic-write helper', () => {
  it('writes the whole file, with its mode, and leaves no temp file; noReplace keeps an existing file (EEXIST)', async () => {
    const dir = await tmpDir('af-aw');
    const f = join(dir, 'Release');
    writeFileAtomicSync(f, 'one\n', { mode: 0o644 });
    await writeFileAtomic(f, 'two\n', { mode: 0o600 });
    assert.equal(readFileSync(f, 'utf8'), 'two\n');
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.throws(() => writeFileAtomicSync(f, 'three\n', { noReplace: true }), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
    await assert.rejects(writeFileAtomic(f, 'three\n', { noReplace: true }), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
    assert.equal(readFileSync(f, 'utf8'), 'two\n');
    assert.deepEqual(readdirSync(dir), ['Release']);
  });

  it('keeps what it wrote through a power cut right after it returns, where a plain write and rename loses it', async () => {
    const dir = await tmpDir('af-aw-power');
    const data = join(dir, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'old-plain'), 'old\n');
    writeFileSync(join(data, 'old-atomic'), 'old\n');
    const cut = await underPowerCut(
      dir,
      `fs.writeFileSync('${data}/new-plain.tmp', 'new\\n'); fs.renameSync('${data}/new-plain.tmp', '${data}/old-plain');
       fs.writeFileSync('${data}/fresh-plain', 'new\\n');
       aw.writeFileAtomicSync('${data}/old-atomic', 'new\\n');
       await aw.writeFileAtomic('${data}/fresh-atomic', 'new\\n');`,
    );
    assert.ok(cut.ops > 0);
    // The helper's files: the new contents, under their names.
    assert.equal(readFileSync(join(data, 'old-atomic'), 'utf8'), 'new\n');
    assert.equal(readFileSync(join(data, 'fresh-atomic'), 'utf8'), 'new\n');
    // The plain ones: made before the helper's directory fsync, their entries survive, their contents do not.
    assert.equal(readFileSync(join(data, 'old-plain'), 'utf8'), '', 'renamed over but never fsync\'d: empty');
    assert.equal(readFileSync(join(data, 'fresh-plain'), 'utf8'), '');
  });

  it('a plain write after the last sync point loses its directory entry: the old file is back', async () => {
    const dir = await tmpDir('af-aw-power2');
    const data = join(dir, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'f'), 'old\n');
    const cut = await underPowerCut(dir, `aw.writeFileAtomicSync('${data}/g', 'x'); fs.writeFileSync('${data}/f.tmp', 'new\\n'); fs.renameSync('${data}/f.tmp', '${data}/f'); fs.rmSync('${data}/g');`);
    assert.ok(cut.entriesDropped >= 3, JSON.stringify(cut));
    assert.equal(readFileSync(join(data, 'f'), 'utf8'), 'old\n');
    assert.equal(readFileSync(join(data, 'g'), 'utf8'), 'x', 'the removal was lost too');
    assert.ok(!existsSync(join(data, 'f.tmp')));
  });
});

describe('a store batch a power cut left unflushed', () => {
  it('is checked at the next start: empty or short blobs are removed, whole ones kept, the marker goes', async () => {
    const dir = await tmpDir('af-aw-store');
    const store = new FsBlobStore(join(dir, 'store'));
    await store.init();
    const blobs = await Promise.all(['a', 'b', 'c'].map((x) => store.putBuffer(Buffer.from(x.repeat(1000)))));
    const marker = join(dir, 'store', `unsynced-${process.pid}`);
    assert.ok(existsSync(marker), 'the batch is marked before its first blob');
    // A power cut: the process is gone (a pid no process has), one blob lost its contents, one half.
    renameSync(marker, join(dir, 'store', 'unsynced-999999999'));
    truncateSync(fsBlobFiles(store).fileOf(blobs[0]!.sha256), 0);
    truncateSync(fsBlobFiles(store).fileOf(blobs[1]!.sha256), 500);
    const again = new FsBlobStore(join(dir, 'store'));
    await again.init();
    assert.equal(await again.has(blobs[0]!.sha256), false);
    assert.equal(await again.has(blobs[1]!.sha256), false);
    assert.equal(await again.has(blobs[2]!.sha256), true);
    assert.equal(createHash('sha256').update(await again.read(blobs[2]!.sha256)).digest('hex'), blobs[2]!.sha256);
    assert.deepEqual(readdirSync(join(dir, 'store')).filter((f) => f.startsWith('unsynced-')), []);
  });

  it('is flushed before a serial is published: the marker is gone once the publish returns', async () => {
    const dir = await tmpDir('af-aw-flush');
    const key = await createUpstreamKey(join(dir, 'keys'));
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: makePackages(3) }], key);
    const up = await serveUpstream(join(dir, 'up'));
    const svc = await startService(join(dir, 'svc'), { archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } } });
    try {
      await snapshotService(svc.services)('debian', 'test');
      assert.deepEqual(readdirSync(join(svc.dataDir, 'store')).filter((f) => f.startsWith('unsynced-')), []);
    } finally {
      await svc.close();
      await up.close();
    }
  });
});

describe('a re-signing left half-done', () => {
  it('is finished by start-up recovery with the recorded Valid-Until: fsck finds nothing, without --repair', async () => {
    const dir = await tmpDir('af-aw-resign');
    const key = await createUpstreamKey(join(dir, 'keys'));
    await buildUpstream(join(dir, 'up'), [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: makePackages(3) }], key);
    const up = await serveUpstream(join(dir, 'up'));
    const svc = await startService(join(dir, 'svc'), { archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } } });
    try {
      const { serial } = await snapshotService(svc.services)('debian', 'test');
      const d = join(svc.dataDir, 'public', 'debian', serial, 'dists', 'bookworm');
      const recorded = readFileSync(join(d, 'Release'), 'utf8');
      // As a freeze killed after its first file: Release (and its signature) re-signed with another date, InRelease not, the database rolled back.
      const text = withValidUntil(recorded, new Date(Date.now() + 90 * 86_400_000));
      const signed = await signRelease(svc.services.key, text);
      writeFileAtomicSync(join(d, 'Release'), text);
      writeFileAtomicSync(join(d, 'Release.gpg'), signed.releaseGpg);
      const check = async () => {
        const ctx = openForFsck(svc.dataDir);
        try {
          return await runFsck(ctx, { repair: false });
        } finally {
          ctx.close();
        }
      };
      const before = await check();
      assert.ok(before.problems.some((p) => p.kind === 'valid-until' || p.kind === 'release-mismatch'), JSON.stringify(before.problems));
      await svc.reconfigure(() => {}); // a restart: openServices runs the recovery
      assert.deepEqual((await check()).problems, []);
      const vu = (t: string) => /^Valid-Until: .*$/m.exec(t)?.[0];
      assert.equal(vu(readFileSync(join(d, 'Release'), 'utf8')), vu(recorded), 'back to the recorded Valid-Until');
      assert.equal(vu(readFileSync(join(d, 'InRelease'), 'utf8')), vu(recorded));
    } finally {
      await svc.close();
      await up.close();
    }
  });
});
