// The pure parts of tags: build manifests (Tails format), tag names, a chroot's dpkg status.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emitBuildManifest, parseBuildManifest } from '../server/tags/build-manifest.ts';
import { checkTagName, isTagName, tagProofVersion } from '../server/tags/name.ts';
import { installedPackages, parseSourceField } from '../server/tags/dpkg-status.ts';
import { compareVersions } from '../server/debian/version.ts';
import { AptfreezeError } from '../server/errors.ts';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AptfreezeError, String(e));
    return e.code;
  }
  return 'none';
};

describe('a build manifest', () => {
  it('keeps every scalar as written: versions that look like numbers, an unquoted serial', () => {
    const m = parseBuildManifest('origin_references:\n  debian:\n    reference: 2026112701\npackages:\n  binary:\n  - {package: foo, version: 1.10, arch: all}\n  - {package: bar, version: 2.0, arch: amd64}\n');
    assert.equal(m.origins.get('debian'), '2026112701');
    assert.deepEqual(m.binary.map((b) => b.version), ['1.10', '2.0']);
    assert.deepEqual(m.source, []);
  });

  it('ignores keys it does not define, and a package listed twice counts once', () => {
    const m = parseBuildManifest({ build: 'x', origin_references: { debian: { reference: '2026112701', note: 'y' } }, packages: { binary: [{ package: 'a', version: '1', arch: 'all', extra: 1 }, { package: 'a', version: '1', arch: 'all' }] } });
    assert.equal(m.binary.length, 1);
  });

  it('refuses what is not one, naming the problem with one code', () => {
    for (const bad of [
      '',
      'just text',
      'origin_references: {}\npackages: {binary: [{package: a, version: "1", arch: all}]}',
      'origin_references: {debian: {reference: "2026"}}\npackages: {binary: [{package: a, version: "1", arch: all}]}',
      'origin_references: {debian: {reference: "2026112701"}}\npackages: {binary: []}',
      'origin_references: {debian: {reference: "2026112701"}}\npackages: {binary: [{package: "A B", version: "1", arch: all}]}',
      'origin_references: {debian: {reference: "2026112701"}}\npackages: {binary: [{package: a, version: "1", arch: all}]}\npackages: {}',
      'a: &x [1]\nb: *x',
    ]) {
      assert.equal(code(() => parseBuildManifest(bad)), 'BAD_REQUEST', bad);
    }
    assert.equal(code(() => parseBuildManifest('x'.repeat(9 * 1024 * 1024))), 'PAYLOAD_TOO_LARGE');
  });

  it('is written back sorted and quoted, and reads back the same', () => {
    const text = emitBuildManifest(parseBuildManifest({ origin_references: { b: { reference: '2026112702' }, a: { reference: '2026112701' } }, packages: { binary: [{ package: 'z', version: "1:2.0~rc1-1+b1", arch: 'amd64' }, { package: 'a', version: '1', arch: 'all' }], source: [{ package: "z", version: '1:2.0~rc1-1' }] } }));
    assert.equal(
      text,
      "origin_references:\n  a:\n    reference: '2026112701'\n  b:\n    reference: '2026112702'\npackages:\n  binary:\n  - package: 'a'\n    version: '1'\n    arch: 'all'\n  - package: 'z'\n    version: '1:2.0~rc1-1+b1'\n    arch: 'amd64'\n  source:\n  - package: 'z'\n    version: '1:2.0~rc1-1'\n",
    );
    assert.equal(emitBuildManifest(parseBuildManifest(text)), text);
  });
});

describe('a tag name', () => {
  it('takes the documented characters and never ten digits', () => {
    for (const ok of ['6.0', 'tails-6.0~rc1', 'Release_2', 'a+b', '20261127011']) assert.equal(isTagName(ok), true, ok);
    for (const bad of ['2026112701', '-a', '.a', '_a', 'a/b', 'a b', '', 'é', 'a'.repeat(101)]) assert.equal(code(() => checkTagName(bad)), 'BAD_REQUEST', bad);
  });

  it('gives its proof package a valid Debian version after the serial\'s', () => {
    const v = tagProofVersion('2026112701', 'Tails_6.0-rc1');
    assert.match(v, /^[0-9][A-Za-z0-9.+~]*$/);
    assert.ok(compareVersions(v, '2026112701') > 0);
  });
});

describe("a chroot's dpkg status", () => {
  const status = [
    'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc (2.36-9+deb12u4)\nVersion: 2.36-9+deb12u4+b1\n',
    'Package: hello\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 2.10-3\n',
    'Package: hello-doc\nStatus: install ok installed\nArchitecture: all\nSource: hello\nVersion: 2.10-3\n',
    'Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n',
  ].join('\n');

  it('lists the installed packages, and the sources with the version in parentheses when there is one', () => {
    const i = installedPackages(status);
    assert.deepEqual(i.binary.map((b) => `${b.package} ${b.version} ${b.arch}`), ['libc6 2.36-9+deb12u4+b1 amd64', 'hello 2.10-3 amd64', 'hello-doc 2.10-3 all']);
    assert.deepEqual(i.source.map((s) => `${s.package} ${s.version}`), ['glibc 2.36-9+deb12u4', 'hello 2.10-3']);
  });

  it('refuses a malformed Source field or an incomplete stanza', () => {
    assert.equal(code(() => parseSourceField('a (1) b', 'x', '1')), 'MALFORMED');
    assert.equal(code(() => installedPackages('Package: x\nStatus: install ok installed\n')), 'MALFORMED');
  });
});
