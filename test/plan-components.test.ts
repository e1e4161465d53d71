// Issue 10 acceptance 1: component matching as apt does it, planned on the genuine signed Release
// files apt fetched on this machine (/var/lib/apt/lists: bookworm, bookworm-updates,
// bookworm-security, skipped with the reason where absent), on hand-written Release files of each
// shape Debian and its derivatives publish, and end to end: a snapshot of an upstream shaped like
// Debian's security archive, installed from by the real apt-get with component `main`.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseRelease } from '../server/debian/release.ts';
import { planIndices, supportsComponent, componentPrefixes, type PlanInput } from '../server/mirror/plan.ts';
import { verifyInRelease } from '../server/pgp/verify.ts';
import { readKeyring } from '../server/pgp/keyring.ts';
import { AptfreezeError } from '../server/errors.ts';
import { createUpstreamKey, buildUpstream, makePackages } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { createAptClient } from './helpers/apt.ts';
import { sha256File, tmpDir } from './helpers/gpg.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';

const LISTS = process.env['AF_DEBIAN_LISTS'] ?? '/var/lib/apt/lists';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

const input = (suite: string, over: Partial<PlanInput> = {}): PlanInput => ({ suite, components: ['main'], architectures: ['amd64'], sources: false, translations: true, ...over });

/** A Release listing the given paths (sizes and hashes don't matter to the plan). */
function release(components: string, paths: string[], arch = 'all amd64'): ReturnType<typeof parseRelease> {
  const sha = '0'.repeat(64);
  return parseRelease(
    [
      'Origin: Test',
      'Suite: s',
      'Date: Sat, 05 Dec 2026 00:00:00 UTC',
      `Architectures: ${arch}`,
      `Components: ${components}`,
      'SHA256:',
      ...paths.map((p) => ` ${sha} 10 ${p}`),
      '',
    ].join('\n'),
  );
}

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof AptfreezeError ? e.code : `not an AptfreezeError: ${String(e)}`;
  }
  return undefined;
};

describe('component matching, as apt does it', () => {
  it('supports a listed component, the last segment of a listed one, and a configured full name whose tail is listed', () => {
    assert.equal(supportsComponent(['main', 'contrib'], 'main'), true);
    assert.equal(supportsComponent(['updates/main', 'updates/contrib'], 'main'), true);
    assert.equal(supportsComponent(['main'], 'updates/main'), true);
    assert.equal(supportsComponent(['updates/main'], 'contrib'), false);
    assert.equal(supportsComponent(['main'], 'mai'), false);
    assert.equal(supportsComponent(['xmain'], 'main'), false);
  });

  it('looks for a component under its own name first, then its tail, then a listed full name', () => {
    assert.deepEqual(componentPrefixes(['updates/main'], 'main'), ['main', 'updates/main']);
    assert.deepEqual(componentPrefixes(['updates/main'], 'updates/main'), ['updates/main', 'main']);
    assert.deepEqual(componentPrefixes(['main'], 'main'), ['main']);
  });

  describe('on hand-written Release files of each shape', () => {
    it('plain main: plans main/binary-amd64 and binary-all', () => {
      const groups = planIndices(release('main contrib', ['main/binary-amd64/Packages.xz', 'main/binary-all/Packages.xz', 'contrib/binary-amd64/Packages.xz', 'main/i18n/Translation-en.bz2']), input('bookworm'));
      assert.deepEqual(groups.map((g) => g.base), ['main/binary-all/Packages', 'main/binary-amd64/Packages', 'main/i18n/Translation-en']);
      assert.ok(groups.every((g) => g.component === 'main' && g.prefix === 'main'));
    });

    it('Debian security: Components updates/main with files under main/ (configured main); binary-all not in Architectures, not taken', () => {
      const r = release('updates/main updates/contrib updates/non-free-firmware', ['main/binary-amd64/Packages.xz', 'main/binary-amd64/Release', 'main/binary-all/Packages.xz', 'contrib/binary-amd64/Packages.xz']);
      const groups = planIndices(r, input('bookworm-security'));
      assert.deepEqual(groups.map((g) => g.base), ['main/binary-all/Packages', 'main/binary-amd64/Packages', 'main/binary-amd64/Release']);
      const security = release('updates/main', ['main/binary-amd64/Packages.xz', 'main/binary-all/Packages.xz'], 'amd64 arm64');
      assert.deepEqual(planIndices(security, input('bookworm-security')).map((g) => g.base), ['main/binary-amd64/Packages']);
      assert.equal(groups[0]!.prefix, 'main');
    });

    it('Debian security configured as updates/main: the files under main/ are found', () => {
      const r = release('updates/main updates/contrib', ['main/binary-amd64/Packages.xz']);
      const groups = planIndices(r, input('bookworm-security', { components: ['updates/main'] }));
      assert.deepEqual(groups.map((g) => [g.base, g.component, g.prefix]), [['main/binary-amd64/Packages', 'updates/main', 'main']]);
    });

    it('a derivative listing its files under updates/main/ (configured main or updates/main)', () => {
      const r = release('updates/main', ['updates/main/binary-amd64/Packages.gz', 'updates/main/binary-all/Packages.gz']);
      for (const c of ['main', 'updates/main']) {
        const groups = planIndices(r, input('stable-security', { components: [c] }));
        assert.deepEqual(groups.map((g) => g.base), ['updates/main/binary-all/Packages', 'updates/main/binary-amd64/Packages'], c);
        assert.ok(groups.every((g) => g.prefix === 'updates/main' && g.component === c));
      }
    });

    it('a suite with a slash (buster/updates) whose Components say updates/main', () => {
      const r = release('updates/main updates/contrib updates/non-free', ['main/binary-amd64/Packages.xz', 'contrib/binary-amd64/Packages.xz']);
      const groups = planIndices(r, input('buster/updates', { components: ['main', 'contrib'] }));
      assert.deepEqual(groups.map((g) => g.base), ['contrib/binary-amd64/Packages', 'main/binary-amd64/Packages']);
    });

    it('refuses a component the Release does not list, and one it lists without any Packages', () => {
      assert.equal(codeOf(() => planIndices(release('main', ['main/binary-amd64/Packages.xz']), input('s', { components: ['contrib'] }))), 'UPSTREAM_INCOMPLETE');
      assert.equal(codeOf(() => planIndices(release('main contrib', ['main/binary-amd64/Packages.xz']), input('s', { components: ['contrib'] }))), 'UPSTREAM_INCOMPLETE');
      assert.equal(codeOf(() => planIndices(release('main', ['main/binary-amd64/Packages.xz']), input('s', { architectures: ['arm64'] }))), 'UPSTREAM_INCOMPLETE');
    });
  });

  describe("on this machine's genuine Debian Release files", () => {
    const files = existsSync(LISTS) ? readdirSync(LISTS).filter((n) => /_dists_[^_]+_InRelease$/.test(n)) : [];
    for (const suite of ['bookworm', 'bookworm-updates', 'bookworm-security']) {
      const file = files.find((n) => n.endsWith(`_dists_${suite}_InRelease`));
      const skip = !existsSync(KEYRING) ? `${KEYRING} is absent` : file ? false : `no ${suite} InRelease in ${LISTS}`;
      it(`plans ${suite} main/amd64 from its verified signed text`, { skip }, async () => {
        const keys = await readKeyring(readFileSync(KEYRING));
        // requireValidNow false: the lists may be older than a key's expiry; planning is what is tested here.
        const v = await verifyInRelease(readFileSync(join(LISTS, file!)), keys, { now: new Date(), requireValidNow: false });
        const r = parseRelease(v.text);
        const groups = planIndices(r, input(suite));
        const pkgs = groups.find((g) => g.kind === 'packages' && g.base === 'main/binary-amd64/Packages');
        assert.ok(pkgs, `main/binary-amd64/Packages planned for ${suite}`);
        assert.ok(pkgs.variants.length >= 1);
        assert.ok(pkgs.variants.every((e) => r.sha256.some((x) => x.path === e.path && x.hash === e.hash)));
        // binary-all only where the Release's Architectures lists `all`, as apt fetches it.
        assert.equal(groups.some((g) => g.base.includes('/binary-all/')), r.architectures.includes('all'));
        if (suite === 'bookworm-security') {
          // The shape that broke the first real run: the Release says updates/main, the files live under main/.
          assert.ok(r.components.includes('updates/main'), `security Components: ${r.components.join(' ')}`);
          assert.ok(!r.components.includes('main'));
        }
        // The Packages apt kept beside the InRelease is the one the plan picks (same upstream hash).
        const kept = readdirSync(LISTS).find((n) => n.startsWith(file!.replace(/InRelease$/, '')) && /_main_binary-amd64_Packages/.test(n));
        if (kept) assert.ok(r.sha256.some((e) => e.path === 'main/binary-amd64/Packages'));
      });
    }
  });
});

describe('mirroring an upstream shaped like Debian security (Components: updates/main, files under main/)', () => {
  let dir: string;
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let build: Awaited<ReturnType<typeof buildUpstream>>;

  before(async () => {
    dir = await tmpDir('af-secshape');
    const key = await createUpstreamKey(join(dir, 'keys'));
    build = await buildUpstream(join(dir, 'up'), [{ name: 'bookworm-security', components: ['main'], componentsField: ['updates/main', 'updates/contrib'], architectures: ['amd64'], packages: makePackages(5) }], key);
    up = await serveUpstream(join(dir, 'up'));
    svc = await startService(join(dir, 'svc'), {
      archives: { 'debian-security': { url: up.url, suites: ['bookworm-security'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
    });
  });
  after(async () => {
    await svc?.close();
    await up?.close();
  });

  it('takes the snapshot, and the real apt-get installs from it with component main', async () => {
    const r = await svc.cli(['snapshot', 'debian-security', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const serial = JSON.parse(r.stdout)[0].serial as string;
    const keyring = join(dir, 'aptfreeze.gpg');
    await writeFile(keyring, Buffer.from(await (await fetch(`${svc.url}/keys/aptfreeze.gpg`)).arrayBuffer()));
    const apt = createAptClient(join(dir, 'apt'), { sourcesLine: `deb [signed-by=${keyring}] ${svc.url}/debian-security/${serial}/ bookworm-security main` });
    const u = await apt.update();
    assert.equal(u.code, 0, u.stderr);
    const d = await apt.download('pkg2', join(dir, 'dl'));
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.files.length, 1);
    assert.equal(await sha256File(d.files[0]!), build.debs.find((x) => x.name === 'pkg2')!.sha256);
  });
});
