// Signed uploads for the custom-repository tests: a small package built with the real
// dpkg-deb and dpkg-source, a .buildinfo, a .changes, signed by an uploader key (openpgp in
// process, or the real gpg with a home of its own for dput), and a repository configuration.
import { mkdirSync, readFileSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { tmpDirSync } from './gpg.ts';
import { md5, sha256 } from './hash.ts';
import { runOkSync } from './run.ts';

export interface UploaderKey {
  fingerprint: string;
  /** Signs a text as a clearsigned message (like gpg --clearsign). */
  clearsign(text: string, date?: Date): Promise<string>;
  publicKey: Uint8Array;
}

/** An ed25519 uploader key made in process (apt and gpgv accept ed25519Legacy). */
export async function makeUploaderKey(name: string, opts: { date?: Date; expiresInSeconds?: number } = {}): Promise<UploaderKey> {
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name, email: `${name}@example.org` }],
    format: 'object',
    ...(opts.date ? { date: opts.date } : {}),
    ...(opts.expiresInSeconds ? { keyExpirationTime: opts.expiresInSeconds } : {}),
  });
  return {
    fingerprint: privateKey.getFingerprint().toUpperCase(),
    publicKey: privateKey.toPublic().write() as Uint8Array,
    async clearsign(text: string, date?: Date) {
      const message = await openpgp.createCleartextMessage({ text: text.replace(/\n$/, '') });
      const out = await openpgp.sign({ message, signingKeys: privateKey, ...(date ? { date } : {}), config: { nonDeterministicSignaturesViaNotation: false } });
      return (out as string).replace(/\r\n/g, '\n');
    },
  };
}

/** A key of the real gpg in a home of its own (for dput, which checks signatures with gpgme). */
export function makeGpgUploader(name: string): UploaderKey & { home: string } {
  const home = tmpDirSync('af-gnupg');
  const env = { ...process.env, GNUPGHOME: home };
  runOkSync('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', `${name} <${name}@example.org>`, 'ed25519', 'sign', 'never'], { env });
  const colons = runOkSync('gpg', ['--batch', '--with-colons', '--list-keys'], { env }).toString('utf8');
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1]!;
  return {
    home,
    fingerprint,
    publicKey: runOkSync('gpg', ['--batch', '--export', fingerprint], { env }),
    async clearsign(text: string) {
      return runOkSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--local-user', fingerprint, '--clearsign'], { env, input: text }).toString('utf8');
    },
  };
}

export function keyring(dir: string, keys: UploaderKey[], name = 'uploaders.gpg'): string {
  const p = join(dir, name);
  writeFileSync(p, Buffer.concat(keys.map((k) => Buffer.from(k.publicKey))));
  return p;
}

export interface BuiltUpload {
  dir: string;
  changes: string;
  /** Every file of the upload, the .changes last (dput's order). */
  files: string[];
  deb: string;
  dsc: string | null;
  buildinfo: string | null;
}

export interface UploadSpec {
  source: string;
  version: string;
  arch?: string;
  suite?: string;
  /** Text put in the package's README: another text makes other bytes for the same version. */
  content?: string;
  withSource?: boolean;
  withBuildinfo?: boolean;
  buildDepends?: Array<{ name: string; version: string }>;
  taintedBy?: string[];
  /** Edits the .changes text before it is signed. */
  editChanges?: (text: string) => string;
  /** Edits the .buildinfo text. */
  editBuildinfo?: (text: string) => string;
  /** Edits the DEBIAN/control text of the binary package. */
  editControl?: (text: string) => string;
  /** Signs the .dsc with this key instead of the .changes signer. */
  dscSigner?: UploaderKey;
  signDate?: Date;
  /** No signature on the .changes. */
  unsigned?: boolean;
}

/** Builds a source + binary upload in a fresh directory, signed by `key`. */
export async function buildUpload(key: UploaderKey, spec: UploadSpec): Promise<BuiltUpload> {
  const { source, version } = spec;
  const arch = spec.arch ?? 'amd64';
  const suite = spec.suite ?? 'stable';
  const dir = tmpDirSync(`af-upload-${source}`);
  const env = { ...process.env, LC_ALL: 'C', SOURCE_DATE_EPOCH: '1764892800' };
  const files: string[] = [];
  let dsc: string | null = null;
  if (spec.withSource !== false) {
    const tree = join(dir, 'src', `${source}-${version}`);
    mkdirSync(join(tree, 'debian', 'source'), { recursive: true });
    writeFileSync(join(tree, 'debian', 'source', 'format'), '3.0 (native)\n');
    writeFileSync(join(tree, 'debian', 'control'), `Source: ${source}\nMaintainer: Tester <tester@example.org>\nSection: misc\nPriority: optional\nStandards-Version: 4.6.2\n\nPackage: ${source}\nArchitecture: ${arch}\nDescription: test package ${source}\n a package built by the aptfreeze tests\n`);
    writeFileSync(join(tree, 'debian', 'changelog'), `${source} (${version}) ${suite}; urgency=medium\n\n  * Test upload.\n\n -- Tester <tester@example.org>  Fri, 05 Dec 2025 00:00:00 +0000\n`);
    writeFileSync(join(tree, 'debian', 'rules'), '#!/usr/bin/make -f\n%:\n\tdh $@\n', { mode: 0o755 });
    writeFileSync(join(tree, 'README'), spec.content ?? `${source} ${version}\n`);
    runOkSync('dpkg-source', ['-b', `${source}-${version}`], { cwd: join(dir, 'src'), env });
    for (const f of readdirSync(join(dir, 'src'))) if (statSync(join(dir, 'src', f)).isFile()) writeFileSync(join(dir, f), readFileSync(join(dir, 'src', f)));
    dsc = join(dir, `${source}_${version}.dsc`);
    const signer = spec.dscSigner ?? key;
    writeFileSync(dsc, await signer.clearsign(readFileSync(dsc, 'utf8'), spec.signDate));
    files.push(join(dir, `${source}_${version}.tar.xz`), dsc);
  }
  const root = join(dir, 'pkg');
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  mkdirSync(join(root, 'usr', 'share', 'doc', source), { recursive: true });
  writeFileSync(join(root, 'usr', 'share', 'doc', source, 'README'), spec.content ?? `${source} ${version}\n`);
  let control = `Package: ${source}\nVersion: ${version}\nArchitecture: ${arch}\nMaintainer: Tester <tester@example.org>\nSection: misc\nPriority: optional\nDescription: test package ${source}\n a package built by the aptfreeze tests\n`;
  if (spec.editControl) control = spec.editControl(control);
  writeFileSync(join(root, 'DEBIAN', 'control'), control);
  const deb = join(dir, `${source}_${version}_${arch}.deb`);
  runOkSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, deb], { env });
  files.push(deb);
  let buildinfo: string | null = null;
  if (spec.withBuildinfo !== false) {
    buildinfo = join(dir, `${source}_${version}_${arch}.buildinfo`);
    const built = files.filter((f) => !f.endsWith('.tar.xz') || true).map((f) => ({ name: f.split('/').pop()!, data: readFileSync(f) }));
    let text = [
      'Format: 1.0',
      `Source: ${source}`,
      `Binary: ${source}`,
      `Architecture: ${spec.withSource === false ? arch : `source ${arch}`}`,
      `Version: ${version}`,
      'Checksums-Sha256:',
      ...built.map((f) => ` ${sha256(f.data)} ${f.data.length} ${f.name}`),
      `Build-Origin: Debian`,
      `Build-Architecture: ${arch}`,
      `Build-Date: Fri, 05 Dec 2025 00:00:00 +0000`,
      ...(spec.taintedBy?.length ? [`Build-Tainted-By:`, ...spec.taintedBy.map((t) => ` ${t}`)] : []),
      'Installed-Build-Depends:',
      (spec.buildDepends ?? [{ name: 'base-files', version: '12.4+deb12u5' }]).map((d) => ` ${d.name} (= ${d.version})`).join(',\n'),
      '',
    ].join('\n');
    if (spec.editBuildinfo) text = spec.editBuildinfo(text);
    writeFileSync(buildinfo, text);
    files.push(buildinfo);
  }
  const listed = files.map((f) => ({ name: f.split('/').pop()!, data: readFileSync(f) }));
  let changes = [
    'Format: 1.8',
    'Date: Fri, 05 Dec 2025 00:00:00 +0000',
    `Source: ${source}`,
    `Binary: ${source}`,
    `Architecture: ${spec.withSource === false ? arch : `source ${arch}`}`,
    `Version: ${version}`,
    `Distribution: ${suite}`,
    'Urgency: medium',
    'Maintainer: Tester <tester@example.org>',
    'Changed-By: Tester <tester@example.org>',
    'Description:',
    ` ${source} - test package ${source}`,
    'Changes:',
    ` ${source} (${version}) ${suite}; urgency=medium`,
    ' .',
    '   * Test upload.',
    'Checksums-Sha256:',
    ...listed.map((f) => ` ${sha256(f.data)} ${f.data.length} ${f.name}`),
    'Files:',
    ...listed.map((f) => ` ${md5(f.data)} ${f.data.length} misc optional ${f.name}`),
    '',
  ].join('\n');
  if (spec.editChanges) changes = spec.editChanges(changes);
  const changesPath = join(dir, `${source}_${version}_${arch}.changes`);
  writeFileSync(changesPath, spec.unsigned ? changes : await key.clearsign(changes, spec.signDate));
  return { dir, changes: changesPath, files: [...files, changesPath], deb, dsc, buildinfo };
}

/** A repository's configuration for the tests. */
export function repositoryConfig(keyringPath: string, rules: unknown[], extra: Record<string, unknown> = {}) {
  return { suites: ['stable', 'testing'], components: ['main'], architectures: ['amd64'], uploaders: { keyring: keyringPath, rules }, ...extra };
}

/** PUTs every file of an upload (the .changes last), as dput's http method does; returns the last answer. */
export async function putUpload(baseUrl: string, path: string, token: string, files: string[]): Promise<{ status: number; body: any }> {
  let last = { status: 0, body: null as any };
  for (const f of files) {
    const res = await fetch(`${baseUrl}${path}/${encodeURIComponent(f.split('/').pop()!)}`, { method: 'PUT', body: readFileSync(f), headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    last = { status: res.status, body: text ? JSON.parse(text) : null };
    if (res.status >= 300) return last;
  }
  return last;
}
