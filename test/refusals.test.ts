// Issue 2 acceptance 4: each refusal fails the snapshot with one clear line and a non-zero exit,
// publishes no serial, keeps latest and every earlier serial, and leaves no stray files.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createUpstreamKey, buildUpstream, makePackages, churn, type UpstreamKey, type FixturePackage, type FixtureSuite } from './helpers/upstream.ts';
import { serveUpstream, type UpstreamServer } from './helpers/http-upstream.ts';
import { tmpDir } from './helpers/gpg.ts';
import { treeState } from './helpers/hostile.ts';
import { startService, type ServiceHarness } from './helpers/service.ts';

describe('refusing a bad upstream', () => {
  let dir: string;
  let key: UpstreamKey;
  let other: UpstreamKey;
  let up: UpstreamServer;
  let svc: ServiceHarness;
  let pkgs: FixturePackage[];
  let baseline: { tree: Map<string, string>; serials: string; latest: string };
  const suite = (p: FixturePackage[], extra: Partial<FixtureSuite> = {}): FixtureSuite[] => [{ name: 'bookworm', components: ['main'], architectures: ['amd64'], packages: p, ...extra }];
  const upRoot = () => join(dir, 'up');

  const state = async () => ({
    tree: await treeState(join(svc.dataDir, 'public')),
    serials: (await svc.cli(['serials', 'debian', '--json'])).stdout,
    latest: (await readFile(join(svc.dataDir, 'public', 'debian', 'project', 'trace', 'debian'), 'utf8')).match(/Archive serial: (\d+)/)![1]!,
  });

  /** Runs a snapshot that must fail with `code`, then checks that nothing moved. */
  async function expectRefusal(code: string) {
    const r = await svc.cli(['snapshot', 'debian']);
    assert.notEqual(r.code, 0, 'non-zero exit');
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('aptfreeze:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^aptfreeze: ${code}: `));
    const now = await state();
    assert.deepEqual(now.tree, baseline.tree, 'published tree unchanged');
    assert.equal(now.serials, baseline.serials, 'serials unchanged');
    assert.equal(now.latest, baseline.latest, 'latest unchanged');
    assert.deepEqual(await readdir(join(svc.dataDir, 'store', 'tmp')), [], 'no partial downloads left');
  }

  before(async () => {
    dir = await tmpDir('af-refuse');
    key = await createUpstreamKey(join(dir, 'keys'));
    other = await createUpstreamKey(join(dir, 'keys'), { name: 'Some Other Key' });
    pkgs = makePackages(12);
    await buildUpstream(upRoot(), suite(pkgs), key);
    up = await serveUpstream(upRoot());
    svc = await startService(join(dir, 'svc'), {
      archives: { debian: { url: up.url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keyring: key.keyringPath } },
      fetch: { retries: 1, backoffMs: 10, idleTimeout: '2s', connectTimeout: '2s' },
    });
    const r = await svc.cli(['snapshot', 'debian']);
    assert.equal(r.code, 0, r.stderr);
    baseline = await state();
  });
  after(async () => {
    await svc?.close();
    await up?.close();
  });

  it('refuses an InRelease whose signed text was altered (UPSTREAM_BAD_SIGNATURE)', async () => {
    const p = join(upRoot(), 'dists', 'bookworm', 'InRelease');
    const good = await readFile(p, 'utf8');
    await writeFile(p, good.replace(/^Label: .*$/m, 'Label: Tampered'));
    try {
      await expectRefusal('UPSTREAM_BAD_SIGNATURE');
    } finally {
      await writeFile(p, good);
    }
  });

  it('refuses an unsigned upstream (UPSTREAM_UNSIGNED)', async () => {
    await buildUpstream(upRoot(), suite(pkgs, { signing: 'unsigned' }), key);
    await expectRefusal('UPSTREAM_UNSIGNED');
  });

  it('refuses a Release signed by a key outside the keyring (UPSTREAM_UNKNOWN_KEY)', async () => {
    await buildUpstream(upRoot(), suite(pkgs, { signWith: other }), key);
    await expectRefusal('UPSTREAM_UNKNOWN_KEY');
  });

  it('refuses a Release whose Valid-Until has passed (UPSTREAM_EXPIRED)', async () => {
    await buildUpstream(upRoot(), suite(pkgs, { date: new Date(Date.now() - 3 * 86_400_000), validUntil: new Date(Date.now() - 86_400_000) }), key);
    await expectRefusal('UPSTREAM_EXPIRED');
  });

  it('refuses a Release whose Date is older than the last accepted one (UPSTREAM_ROLLBACK)', async () => {
    await buildUpstream(upRoot(), suite(pkgs, { date: new Date(Date.now() - 86_400_000) }), key);
    await expectRefusal('UPSTREAM_ROLLBACK');
  });

  it('refuses a Release that lacks a configured architecture (UPSTREAM_INCOMPLETE)', async () => {
    await buildUpstream(upRoot(), [{ name: 'bookworm', components: ['main'], architectures: ['arm64'], packages: pkgs.map((p) => ({ ...p, arch: 'arm64' })) }], key);
    await expectRefusal('UPSTREAM_INCOMPLETE');
  });

  describe('with a churned upstream whose new files are tampered in transit', () => {
    let changedDeb: string;
    before(async () => {
      const next = churn(pkgs, 0.1, 3);
      const b = await buildUpstream(upRoot(), suite(next), key);
      const changed = next.find((p, i) => p.version !== pkgs[i]!.version)!;
      changedDeb = `/${b.debs.find((d) => d.name === changed.name && d.version === changed.version)!.filename}`;
    });
    after(() => {
      up.fault = null;
    });

    it('refuses a pool file with a wrong hash (HASH_MISMATCH)', async () => {
      up.fault = async (req, res) => {
        if (decodeURIComponent(req.url ?? '') !== changedDeb) return false;
        const body = await readFile(join(upRoot(), changedDeb));
        body[body.length - 1] ^= 0xff;
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
        return true;
      };
      await expectRefusal('HASH_MISMATCH');
    });

    it('refuses a truncated pool file after its retries (UPSTREAM_HTTP)', async () => {
      up.fault = async (req, res) => {
        if (decodeURIComponent(req.url ?? '') !== changedDeb) return false;
        const body = await readFile(join(upRoot(), changedDeb));
        res.writeHead(200, { 'Content-Length': body.length });
        res.write(body.subarray(0, body.length >> 1));
        setTimeout(() => res.socket?.destroy(), 20);
        return true;
      };
      await expectRefusal('UPSTREAM_HTTP');
    });

    it('refuses an index of the wrong size (SIZE_MISMATCH)', async () => {
      // New index files (the previous cases stored the churned ones before failing on the pool).
      await buildUpstream(upRoot(), suite(churn(pkgs, 0.2, 11)), key);
      up.fault = async (req, res) => {
        const path = decodeURIComponent(req.url ?? '');
        if (!/binary-amd64\/(by-hash\/SHA256\/[0-9a-f]+|Packages\.(gz|xz))$/.test(path)) return false;
        let body: Buffer;
        try {
          body = await readFile(join(upRoot(), path));
        } catch {
          return false;
        }
        body = Buffer.concat([body, Buffer.from('trailing garbage')]);
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
        return true;
      };
      await expectRefusal('SIZE_MISMATCH');
    });
  });
});
