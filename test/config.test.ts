// Issue 2 acceptance 7 and 9: a bad configuration is reported with file, key and what was expected,
// and the daemon does not start; with no aptfreeze.yaml the default comes from the host's APT sources.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdir, stat } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import YAML from 'yaml';
import { loadConfigFile, configFromHost, loadConfig, defaultPackageFilter } from '../server/config/load.ts';
import { AptfreezeError } from '../server/errors.ts';
import { tmpDir } from './helpers/gpg.ts';
import { runCli, binPath } from './helpers/service.ts';

function catchError(fn: () => unknown): AptfreezeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AptfreezeError, String(e));
    return e;
  }
  assert.fail('expected an error');
}

describe('configuration', () => {
  let dir: string;
  let keyring: string;
  const good = () => ({ archives: { debian: { url: 'http://127.0.0.1:9/debian', suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring } } });
  const write = async (name: string, doc: unknown) => {
    const p = join(dir, name);
    await writeFile(p, typeof doc === 'string' ? doc : YAML.stringify(doc));
    return p;
  };

  before(async () => {
    dir = await tmpDir('af-config');
    keyring = join(dir, 'upstream.gpg');
    await writeFile(keyring, 'placeholder');
  });

  it('accepts a valid file and fills the documented defaults', async () => {
    const c = loadConfigFile(await write('ok.yaml', good()));
    assert.equal(c.keep, 3);
    assert.equal(c.lifetimeMs, 10 * 86_400_000);
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8080 });
    assert.equal(c.archives[0]!.name, 'debian');
    assert.equal(c.serve.cacheBytes, 128 * 1024 * 1024);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.archives));
  });

  const cases: Array<[string, (c: any) => void, string]> = [
    ['an unknown key', (c) => (c.archives.debian.frobnicate = true), 'archives.debian'],
    ['a missing keyring file', (c) => (c.archives.debian.keyring = '/nonexistent/keyring.gpg'), 'archives.debian.keyring'],
    ['a bad cron expression', (c) => (c.archives.debian.schedule = 'every tuesday'), 'archives.debian.schedule'],
    ['a bad URL', (c) => (c.archives.debian.url = 'ftp//nowhere'), 'archives.debian.url'],
    ['a bad lifetime', (c) => (c.lifetime = 'ten days'), 'lifetime'],
    ['a reserved archive name', (c) => (c.archives.api = c.archives.debian), 'archives.api'],
    ['a negative serving cache', (c) => (c.serve = { cacheBytes: -1 }), 'serve.cacheBytes'],
  ];
  for (const [what, mutate, key] of cases) {
    it(`reports ${what} with the file and the key (CONFIG_INVALID)`, async () => {
      const doc = good();
      mutate(doc);
      const file = await write(`bad-${key}.yaml`, doc);
      const e = catchError(() => loadConfigFile(file));
      assert.equal(e.code, 'CONFIG_INVALID');
      assert.ok(e.message.startsWith(file), 'names the file');
      const problems = e.details?.['problems'] as string[];
      assert.ok(problems.some((p) => p.startsWith(`${key}`)), `names ${key}: ${problems.join(' | ')}`);
    });
  }

  it('reports every problem at once', async () => {
    const doc: any = good();
    doc.archives.debian.keyring = '/nonexistent';
    doc.archives.debian.schedule = 'nope';
    doc.archives.debian.url = 'nope';
    doc.keep = 0;
    const e2 = catchError(() => loadConfig({ explicitPath: join(dir, 'missing.yaml') }));
    assert.equal(e2.code, 'CONFIG_INVALID');
    const file = await write('many.yaml', doc);
    const e3 = catchError(() => loadConfigFile(file));
    const problems = e3.details?.['problems'] as string[];
    for (const k of ['archives.debian.schedule', 'archives.debian.url', 'keep']) assert.ok(problems.some((p) => p.startsWith(k)), k);
  });

  it('reports YAML that does not parse', async () => {
    const e = catchError(() => loadConfigFile(join(dir, 'nofile')));
    assert.equal(e.code, 'CONFIG_INVALID');
  });

  it('does not start the daemon on a bad configuration', async () => {
    const doc: any = good();
    doc.archives.debian.schedule = 'not a cron';
    const file = await write('bad-serve.yaml', doc);
    const r = await runCli(['--config', file, '--data', join(dir, 'data-bad'), 'serve', '--listen', '127.0.0.1:0'], { timeoutMs: 20_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^aptfreeze: CONFIG_INVALID: .*archives\.debian\.schedule/m);
    assert.doesNotMatch(r.stdout, /listening/);
  });

  it('refuses an unknown archive in a command (NOT_FOUND)', async () => {
    const file = await write('ok2.yaml', good());
    const r = await runCli(['--config', file, '--data', join(dir, 'data-ok'), 'snapshot', 'nosuch']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^aptfreeze: NOT_FOUND: /m);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  });

  describe('with no aptfreeze.yaml', () => {
    let etc: string;
    before(async () => {
      etc = join(dir, 'etc-apt');
      await mkdir(join(etc, 'sources.list.d'), { recursive: true });
      await writeFile(join(etc, 'sources.list'), `# a comment\ndeb [signed-by=${keyring}] http://127.0.0.1:9/debian bookworm main\ndeb-src http://127.0.0.1:9/debian bookworm main\ndeb [signed-by=${keyring}] http://127.0.0.1:9/debian bookworm-updates main\n`);
      await writeFile(
        join(etc, 'sources.list.d', 'security.sources'),
        `Types: deb\nURIs: http://127.0.0.1:9/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: ${keyring}\n\nTypes: deb\nURIs: http://127.0.0.1:9/disabled\nSuites: x\nComponents: main\nEnabled: no\n`,
      );
    });

    it("builds the default from the host's APT sources, limited by a package filter", () => {
      const c = configFromHost(etc);
      assert.equal(c.file, null);
      const byName = Object.fromEntries(c.archives.map((a) => [a.name, a]));
      assert.deepEqual(Object.keys(byName).sort(), ['debian', 'debian-security']);
      assert.deepEqual(byName['debian']!.suites, ['bookworm', 'bookworm-updates']);
      assert.equal(byName['debian']!.keyring, keyring);
      assert.deepEqual(byName['debian-security']!.packages, defaultPackageFilter);
      assert.ok(c.notes.some((n) => n.includes('aptfreeze.yaml')));
    });

    it('says how to write a configuration when the host has no APT sources', async () => {
      const empty = join(dir, 'etc-empty');
      await mkdir(empty, { recursive: true });
      const c = configFromHost(empty);
      assert.equal(c.archives.length, 0);
      assert.match(c.notes[0]!, /aptfreeze\.yaml/);
    });

    it('starts the daemon with that default (the README run command)', async () => {
      const cwd = await tmpDir('af-fresh');
      const child = spawn(process.execPath, [binPath, 'serve', '--listen', '127.0.0.1:0'], {
        cwd,
        env: { ...process.env, APTFREEZE_APT_ETC: etc, APTFREEZE_LOG: 'info', APTFREEZE_CONFIG: '', APTFREEZE_DATA: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      try {
        const url = await new Promise<string>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no listening line: ${err}`)), 30_000);
          child.stdout.on('data', (d) => {
            out += d;
            const m = /listening on (http:\/\/\S+)/.exec(out);
            if (m) {
              clearTimeout(t);
              resolve(m[1]!);
            }
          });
          child.on('exit', () => reject(new Error(`exited: ${err}`)));
        });
        const archives = (await (await fetch(`${url}/api/archives`)).json()) as { archives: Array<{ name: string }> };
        assert.deepEqual(archives.archives.map((a) => a.name), ['debian', 'debian-security']);
        assert.match(err, /mirroring the host's APT sources/);
        const key = await stat(join(cwd, 'data', 'keys', 'private.asc'));
        assert.equal(key.mode & 0o777, 0o600, 'private key is 0600');
        assert.equal((await fetch(`${url}/keys/aptfreeze.gpg`)).status, 200);
      } finally {
        child.kill('SIGTERM');
      }
    });
  });
});
