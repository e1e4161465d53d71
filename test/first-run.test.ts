// Issue 10 acceptance 2: `serve` with no configuration file, against fixture "host sources"
// (APTFREEZE_APT_ETC), takes the first snapshot of each archive by itself, prints the lines to give
// apt, and the real apt-get installs through them. The fixture host has a Debian-security-shaped
// source (Components: updates/main, files under main/), the shape that failed on real Debian.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createUpstreamKey, buildUpstream, type FixturePackage, type UpstreamBuild } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { createAptClient } from './helpers/apt.ts';
import { sha256File, tmpDir } from './helpers/gpg.ts';
import { binPath } from './helpers/service.ts';
import { sourcesHint } from '../server/first-run.ts';
import { defaultSchedule } from '../server/config/load.ts';

const pkg = (name: string, version = '1.0-1'): FixturePackage => ({ name, version, arch: 'amd64' });

describe('serve with no configuration (the README run command, first run)', () => {
  let dir: string;
  let up: UpstreamServer;
  let build: UpstreamBuild;
  let security: UpstreamBuild;
  let child: ChildProcess;
  let out = '';
  let err = '';
  let url = '';
  const ready = new Map<string, string>();

  before(async () => {
    dir = await tmpDir('af-firstrun');
    const key = await createUpstreamKey(join(dir, 'keys'));
    build = await buildUpstream(
      join(dir, 'up', 'debian'),
      [
        { name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: [pkg('hello', '2.10-3'), pkg('base-files', '12.4'), pkg('unrelated')] },
        { name: 'bookworm-updates', components: ['main'], architectures: ['amd64'], packages: [pkg('base-files', '12.4+deb12u1')] },
      ],
      key,
    );
    security = await buildUpstream(join(dir, 'up', 'debian-security'), [{ name: 'bookworm-security', components: ['main'], componentsField: ['updates/main'], architectures: ['amd64'], packages: [pkg('apt', '2.6.1')] }], key);
    up = await serveUpstream(join(dir, 'up'));
    const etc = join(dir, 'etc-apt');
    await mkdir(join(etc, 'sources.list.d'), { recursive: true });
    await writeFile(
      join(etc, 'sources.list.d', 'debian.sources'),
      `Types: deb\nURIs: ${up.url}/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: ${key.keyringPath}\n\n` +
        `Types: deb\nURIs: ${up.url}/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: ${key.keyringPath}\n`,
    );
    const cwd = join(dir, 'cwd');
    await mkdir(cwd);
    child = spawn(process.execPath, [binPath, 'serve', '--workers', '1', '--listen', '127.0.0.1:0'], {
      cwd,
      env: { ...process.env, APTFREEZE_APT_ETC: etc, APTFREEZE_LOG: 'info', APTFREEZE_CONFIG: '', APTFREEZE_DATA: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.on('data', (d) => (err += d));
    // Waits for the announcements, not for time: a guard ends the wait if the daemon never says them.
    await new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`no first serials announced; stdout: ${out}\nstderr: ${err.slice(-4000)}`)), 120_000);
      child.stdout!.on('data', (d) => {
        out += d;
        url ||= /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? '';
        for (const m of out.matchAll(/^(\S+) (\d{10}) is ready/gm)) ready.set(m[1]!, m[2]!);
        if (url && ready.size === 2) {
          clearTimeout(guard);
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${err.slice(-4000)}`)));
    });
  });
  after(async () => {
    child?.kill('SIGTERM');
    await up?.close();
  });

  it('takes a first serial of every archive without any other command', async () => {
    assert.deepEqual([...ready.keys()].sort(), ['debian', 'debian-security']);
    const body = (await (await fetch(`${url}/api/archives`)).json()) as { archives: Array<{ name: string; serials: number; latest: string | null }> };
    for (const a of body.archives) {
      assert.ok(a.serials >= 1, `${a.name} has a serial`);
      assert.equal(a.latest, ready.get(a.name));
    }
  });

  it('schedules the default archives every 6 hours', () => {
    assert.equal(defaultSchedule, '0 */6 * * *');
    assert.match(err, /a snapshot every 6 hours/);
  });

  it('prints the lines to give apt, and they work with the real apt-get', async () => {
    const serial = ready.get('debian')!;
    const hint = sourcesHint(url, 'debian', serial, ['bookworm', 'bookworm-updates'], ['main']);
    assert.ok(out.includes(hint), `hint printed as built:\n${out}`);
    const keyring = join(dir, 'aptfreeze.gpg');
    await writeFile(keyring, Buffer.from(await (await fetch(`${url}/keys/aptfreeze.gpg`)).arrayBuffer()));
    const lines = [...out.matchAll(/^ {2}deb \[signed-by=\S+\] (\S+) (\S+) (.+)$/gm)].map((m) => `deb [signed-by=${keyring}] ${m[1]} ${m[2]} ${m[3]}`);
    assert.equal(lines.length, 3, 'one line per suite: bookworm, bookworm-updates, bookworm-security');
    const apt = createAptClient(join(dir, 'apt'), { sourcesLine: lines.join('\n') });
    const u = await apt.update();
    assert.equal(u.code, 0, u.stderr);
    for (const [name, suite] of [['hello', 'bookworm'], ['apt', 'bookworm-security']] as const) {
      const d = await apt.download(name, join(dir, `dl-${name}`));
      assert.equal(d.code, 0, d.stderr);
      assert.equal(await sha256File(d.files[0]!), (suite === 'bookworm' ? build : security).debs.find((x) => x.name === name && x.suite === suite)!.sha256);
    }
  });
});
