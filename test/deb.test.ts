import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import zstd from 'zstd-napi';
import { readAr, writeAr } from '../server/debian/ar.ts';
import { buildDeb, readDeb, type BuildDebOptions } from '../server/debian/deb.ts';
import { readTar, writeTar } from '../server/debian/tar.ts';
import { AptfreezeError } from '../server/errors.ts';

function code(expected: string) {
  return (e: unknown) => {
    assert.ok(e instanceof AptfreezeError, `expected an AptfreezeError, got ${String(e)}`);
    assert.equal(e.code, expected);
    return true;
  };
}

function run(cmd: string, args: string[], opts: { input?: Buffer; cwd?: string } = {}): SpawnSyncReturns<Buffer> {
  const r = spawnSync(cmd, args, { input: opts.input, cwd: opts.cwd, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr?.toString()}`);
  return r;
}

const work = mkdtempSync(join(tmpdir(), 'aptfreeze-deb-'));
after(() => rmSync(work, { recursive: true, force: true }));

const MTIME = 1_795_000_000; // a fixed stamp, so builds are reproducible
const LONG_DIR = `usr/share/aptfreeze/proofs/debian/2026112701/${'very-long-directory-name-'.repeat(4)}`;
const LONG_PATH = `${LONG_DIR}/deb.debian.org_debian_dists_bookworm_InRelease`;
const CONTROL =
  'Package: aptfreeze-test\n' +
  'Version: 1.0-1\n' +
  'Architecture: all\n' +
  'Maintainer: Test <test@example.org>\n' +
  'Description: a package built by aptfreeze tests\n' +
  ' It holds a few files.\n';
const FILES: BuildDebOptions['files'] = [
  { path: 'usr/share/doc/aptfreeze-test/README', data: Buffer.from('hello\n') },
  { path: 'usr/bin/aptfreeze-test-tool', data: Buffer.from('#!/bin/sh\necho tool\n'), mode: 0o755 },
  { path: LONG_PATH, data: Buffer.from('signed text\n'.repeat(100)) },
  { path: 'usr/share/aptfreeze/empty', data: Buffer.alloc(0) },
  { path: 'usr/share/aptfreeze/odd', data: Buffer.from('odd') },
];

describe('tar', () => {
  const entries = [
    { path: '.', type: 'dir' as const },
    { path: 'usr', type: 'dir' as const },
    { path: 'usr/a', type: 'file' as const, data: Buffer.from('abc') },
    { path: LONG_DIR, type: 'dir' as const },
    { path: LONG_PATH, type: 'file' as const, data: Buffer.from('x'.repeat(1000)), mode: 0o600 },
  ];

  it('writes what GNU tar lists as dpkg-deb would: ./ names, root/root, long names whole', () => {
    assert.ok(LONG_PATH.length > 100);
    const listing = run('tar', ['-tvf', '-'], { input: writeTar(entries, MTIME) }).stdout.toString().trim().split('\n');
    assert.deepEqual(
      listing.map((l) => l.split(/\s+/).slice(-1)[0]),
      ['./', './usr/', './usr/a', `./${LONG_DIR}/`, `./${LONG_PATH}`],
    );
    for (const line of listing) assert.match(line, /^\S+ root\/root /);
    assert.match(listing[4]!, /^-rw------- /);
  });

  it('reads back what it writes', () => {
    const back = readTar(writeTar(entries, MTIME));
    assert.deepEqual(
      back.map((e) => [e.path, e.type, e.data.toString(), e.mode]),
      [
        ['.', 'dir', '', 0o755],
        ['usr', 'dir', '', 0o755],
        ['usr/a', 'file', 'abc', 0o644],
        [LONG_DIR, 'dir', '', 0o755],
        [LONG_PATH, 'file', 'x'.repeat(1000), 0o600],
      ],
    );
  });

  it('writes the same bytes for the same input, ending in two zero blocks', () => {
    const a = writeTar(entries, MTIME);
    assert.ok(a.equals(writeTar(entries, MTIME)));
    assert.equal(a.length % 512, 0);
    assert.ok(a.subarray(-1024).equals(Buffer.alloc(1024)));
  });

  for (const format of ['gnu', 'pax', 'ustar']) {
    it(`reads archives made by GNU tar --format=${format}`, () => {
      const dir = join(work, `tar-${format}`);
      const longRel = format === 'ustar' ? `${'d'.repeat(90)}/${'f'.repeat(90)}` : LONG_PATH;
      mkdirSync(join(dir, dirname(longRel)), { recursive: true });
      writeFileSync(join(dir, longRel), 'long one');
      mkdirSync(join(dir, 'bin'));
      writeFileSync(join(dir, 'bin/tool'), 'tool');
      chmodSync(join(dir, 'bin/tool'), 0o755);
      const tar = run('tar', [`--format=${format}`, '-cf', '-', '-C', dir, '.']).stdout;
      const got = new Map(readTar(tar).map((e) => [e.path, e]));
      assert.equal(got.get(longRel)?.data.toString(), 'long one');
      assert.equal(got.get('bin/tool')?.mode, 0o755);
      assert.equal(got.get('bin')?.type, 'dir');
      assert.equal(got.get('.')?.type, 'dir');
    });
  }

  it('calls a bad checksum or a truncated archive MALFORMED', () => {
    const good = writeTar([{ path: 'a', type: 'file', data: Buffer.from('x'.repeat(700)) }], MTIME);
    const bad = Buffer.from(good);
    bad[0] = 0x62; // 'b': the name changes, the checksum does not
    assert.throws(() => readTar(bad), code('MALFORMED'));
    assert.throws(() => readTar(good.subarray(0, 800)), code('MALFORMED'));
    assert.throws(() => readTar(good.subarray(0, 300)), code('MALFORMED'));
  });

  it('calls a member that climbs out of its root UNSAFE_PATH', () => {
    const tar = writeTar([{ path: 'aaaaa/x', type: 'file', data: Buffer.from('x') }], MTIME);
    tar.write('./../x\0', 0, 'ascii'); // was "./aaaaa/x"
    tar.write('        ', 148, 'ascii');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += tar[i]!;
    tar.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    assert.throws(() => readTar(tar), code('UNSAFE_PATH'));
  });

  it('refuses to write unsafe paths', () => {
    assert.throws(() => writeTar([{ path: '../x', type: 'file' }], MTIME), code('UNSAFE_PATH'));
    assert.throws(() => writeTar([{ path: '/etc/x', type: 'file' }], MTIME), code('UNSAFE_PATH'));
  });
});

describe('ar', () => {
  const members = [
    { name: 'debian-binary', data: Buffer.from('2.0\n') },
    { name: 'odd', data: Buffer.from('abc') },
    { name: 'last', data: Buffer.from('z') },
  ];

  it('writes archives binutils ar reads, padded to even offsets', () => {
    const file = join(work, 'x.a');
    const ar = writeAr(members, MTIME);
    writeFileSync(file, ar);
    assert.equal(run('ar', ['t', file]).stdout.toString(), 'debian-binary\nodd\nlast\n');
    assert.equal(run('ar', ['p', file, 'odd']).stdout.toString(), 'abc');
    assert.equal(ar.length % 2, 0);
    assert.match(run('ar', ['tv', file]).stdout.toString(), /^rw-r--r-- 0\/0 +4 /);
  });

  it('reads back what it writes', () => {
    assert.deepEqual(
      readAr(writeAr(members, MTIME)).map((m) => [m.name, m.data.toString()]),
      members.map((m) => [m.name, m.data.toString()]),
    );
  });

  it('calls a missing magic or a truncated archive MALFORMED', () => {
    const ar = writeAr(members, MTIME);
    assert.throws(() => readAr(Buffer.from('!<arch]\n')), code('MALFORMED'));
    assert.throws(() => readAr(ar.subarray(0, 30)), code('MALFORMED'));
    assert.throws(() => readAr(ar.subarray(0, 8 + 60 + 2)), code('MALFORMED'));
  });
});

describe('a .deb built by buildDeb', () => {
  let deb: Buffer;
  let debFile: string;
  before(async () => {
    deb = await buildDeb({ control: CONTROL, files: FILES, mtime: MTIME });
    debFile = join(work, 'aptfreeze-test_1.0-1_all.deb');
    writeFileSync(debFile, deb);
  });

  it('is the same bytes when built again, whatever the order of the files', async () => {
    const again = await buildDeb({ control: CONTROL, files: [...FILES].reverse().map((f) => ({ ...f, data: Buffer.from(f.data) })), mtime: MTIME });
    assert.ok(again.equals(deb));
    const later = await buildDeb({ control: CONTROL, files: FILES, mtime: MTIME + 1 });
    assert.ok(!later.equals(deb));
  });

  it('has the members dpkg expects, in order', () => {
    assert.deepEqual(
      readAr(deb).map((m) => m.name),
      ['debian-binary', 'control.tar.zst', 'data.tar.zst'],
    );
  });

  it('passes dpkg-deb --info', () => {
    const info = run('dpkg-deb', ['--info', debFile]).stdout.toString();
    assert.match(info, /^ Package: aptfreeze-test$/m);
    assert.match(info, /^ Version: 1\.0-1$/m);
    assert.match(info, /control/);
    assert.match(info, /md5sums/);
    assert.equal(run('dpkg-deb', ['--field', debFile, 'Package']).stdout.toString(), 'aptfreeze-test\n');
  });

  it('lists every parent directory first, then contents, owned by root, in dpkg --contents', () => {
    const lines = run('dpkg-deb', ['--contents', debFile]).stdout.toString().trim().split('\n');
    const names = lines.map((l) => l.split(/\s+/).slice(5).join(' '));
    assert.equal(names[0], './');
    for (const line of lines) assert.match(line, /^\S+ root\/root /);
    assert.ok(names.includes(`./${LONG_PATH}`));
    for (const f of FILES) {
      const idx = names.indexOf(`./${f.path}`);
      assert.notEqual(idx, -1, f.path);
      const segments = f.path.split('/');
      for (let i = 1; i < segments.length; i++) {
        const parent = names.indexOf(`./${segments.slice(0, i).join('/')}/`);
        assert.ok(parent !== -1 && parent < idx, `${segments.slice(0, i).join('/')} before ${f.path}`);
      }
    }
  });

  it('extracts with dpkg-deb -x to the same bytes and modes', () => {
    const dir = join(work, 'extract');
    run('dpkg-deb', ['-x', debFile, dir]);
    for (const f of FILES) {
      assert.ok(readFileSync(join(dir, f.path)).equals(f.data), f.path);
      assert.equal(statSync(join(dir, f.path)).mode & 0o7777, f.mode ?? 0o644, f.path);
    }
  });

  it('installs with dpkg into a throwaway root, and dpkg --verify finds its md5sums right', () => {
    const root = join(work, 'root');
    const admin = join(root, 'var/lib/dpkg');
    mkdirSync(join(admin, 'info'), { recursive: true });
    mkdirSync(join(admin, 'updates'), { recursive: true });
    writeFileSync(join(admin, 'status'), '');
    writeFileSync(join(admin, 'available'), '');
    run('dpkg', [`--root=${root}`, '--force-not-root', '--log=/dev/null', '--install', debFile]);
    for (const f of FILES) assert.ok(readFileSync(join(root, f.path)).equals(f.data), f.path);
    const status = run('dpkg', [`--root=${root}`, '--status', 'aptfreeze-test']).stdout.toString();
    assert.match(status, /^Status: install ok installed$/m);
    assert.equal(readFileSync(join(admin, 'info/aptfreeze-test.md5sums'), 'utf8').includes(LONG_PATH), true);
    // --verify compares installed files with the package's md5sums; silent and 0 when all match.
    assert.equal(run('dpkg', [`--root=${root}`, '--verify', 'aptfreeze-test']).stdout.toString(), '');
    writeFileSync(join(root, FILES[0]!.path), 'tampered\n');
    assert.notEqual(spawnSync('dpkg', [`--root=${root}`, '--verify', 'aptfreeze-test']).stdout.toString(), '');
  });

  it('reads back with readDeb', async () => {
    const back = await readDeb(deb);
    assert.equal(back.control, CONTROL);
    assert.deepEqual([...back.files.keys()].sort(), FILES.map((f) => f.path).sort());
    for (const f of FILES) assert.ok(back.files.get(f.path)!.equals(f.data), f.path);
  });

  it('can use gzip members instead, which dpkg-deb also reads', async () => {
    const gz = await buildDeb({ control: CONTROL, files: FILES, mtime: MTIME, compression: 'gz' });
    assert.ok(gz.equals(await buildDeb({ control: CONTROL, files: FILES, mtime: MTIME, compression: 'gz' })));
    assert.deepEqual(readAr(gz).map((m) => m.name), ['debian-binary', 'control.tar.gz', 'data.tar.gz']);
    const file = join(work, 'gz.deb');
    writeFileSync(file, gz);
    const dir = join(work, 'extract-gz');
    run('dpkg-deb', ['-x', file, dir]);
    assert.ok(readFileSync(join(dir, LONG_PATH)).equals(FILES[2]!.data));
    assert.equal((await readDeb(gz)).files.size, FILES.length);
  });

  it('refuses a control text that is not exactly one stanza', async () => {
    await assert.rejects(buildDeb({ control: `${CONTROL}\nPackage: other\n`, files: [], mtime: MTIME }), code('MALFORMED'));
    await assert.rejects(buildDeb({ control: `\n${CONTROL}`, files: [], mtime: MTIME }), code('MALFORMED'));
    await assert.rejects(buildDeb({ control: 'not a control file\n', files: [], mtime: MTIME }), code('MALFORMED'));
  });

  it('refuses unsafe file paths', async () => {
    for (const path of ['../etc/passwd', '/etc/passwd', 'usr//x', 'usr/./x']) {
      await assert.rejects(buildDeb({ control: CONTROL, files: [{ path, data: Buffer.from('x') }], mtime: MTIME }), code('UNSAFE_PATH'), path);
    }
  });
});

describe('packages dpkg-deb --build makes from the same tree', () => {
  const tree = join(work, 'tree');
  let ours: Buffer;
  before(async () => {
    ours = await buildDeb({ control: CONTROL, files: FILES, mtime: MTIME });
    const ourMd5sums = readTar(zstd.decompress(readAr(ours)[1]!.data)).find((e) => e.path === 'md5sums')!.data;
    mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
    writeFileSync(join(tree, 'DEBIAN/control'), CONTROL);
    writeFileSync(join(tree, 'DEBIAN/md5sums'), ourMd5sums);
    const dirs = new Set<string>(['.', 'DEBIAN']);
    for (const f of FILES) {
      mkdirSync(join(tree, dirname(f.path)), { recursive: true });
      writeFileSync(join(tree, f.path), f.data);
      chmodSync(join(tree, f.path), f.mode ?? 0o644);
      utimesSync(join(tree, f.path), MTIME, MTIME);
      for (let d = dirname(f.path); d !== '.'; d = dirname(d)) dirs.add(d);
    }
    for (const f of ['DEBIAN/control', 'DEBIAN/md5sums']) utimesSync(join(tree, f), MTIME, MTIME);
    // Whatever the umask and the clock, the tree says what buildDeb says.
    for (const d of dirs) {
      chmodSync(join(tree, d), 0o755);
      utimesSync(join(tree, d), MTIME, MTIME);
    }
  });

  it('has the same control.tar and data.tar bytes as ours (up to GNU tar record padding)', () => {
    const file = join(work, 'built-reference.deb');
    run('dpkg-deb', ['--root-owner-group', '-Znone', '--build', tree, file]);
    const theirs = readAr(readFileSync(file));
    assert.deepEqual(theirs.map((m) => m.name), ['debian-binary', 'control.tar', 'data.tar']);
    const mine = readAr(ours);
    for (const i of [1, 2]) {
      const t = theirs[i]!.data;
      const o = zstd.decompress(mine[i]!.data);
      assert.ok(t.length >= o.length, theirs[i]!.name);
      assert.ok(t.subarray(0, o.length).equals(o), `${theirs[i]!.name} differs`);
      assert.ok(t.subarray(o.length).every((b) => b === 0), `${theirs[i]!.name} has more entries`);
    }
  });

  for (const z of ['zstd', 'gzip', 'xz', 'none']) {
    it(`reads a -Z${z} package`, async () => {
      const file = join(work, `built-${z}.deb`);
      run('dpkg-deb', ['--root-owner-group', `-Z${z}`, '--build', tree, file]);
      const got = await readDeb(readFileSync(file));
      assert.equal(got.control, CONTROL);
      assert.equal(got.files.size, FILES.length);
      for (const f of FILES) assert.ok(got.files.get(f.path)?.equals(f.data), f.path);
    });
  }

  it('calls damaged packages MALFORMED', async () => {
    const file = join(work, 'built-damaged.deb');
    run('dpkg-deb', ['--root-owner-group', '-Zzstd', '--build', tree, file]);
    const good = readFileSync(file);
    await assert.rejects(readDeb(Buffer.from('not a package')), code('MALFORMED'));
    await assert.rejects(readDeb(good.subarray(0, good.length - 100)), code('MALFORMED'));
    const members = readAr(good);
    await assert.rejects(readDeb(writeAr(members.slice(0, 2), MTIME)), code('MALFORMED')); // no data.tar
    await assert.rejects(readDeb(writeAr([members[1]!, members[0]!, members[2]!], MTIME)), code('MALFORMED')); // debian-binary not first
    const corrupt = members.map((m) => (m.name.startsWith('data.tar') ? { name: m.name, data: Buffer.concat([m.data.subarray(0, 20), Buffer.alloc(m.data.length - 20, 0x55)]) } : m));
    await assert.rejects(readDeb(writeAr(corrupt, MTIME)), code('MALFORMED'));
  });
});
