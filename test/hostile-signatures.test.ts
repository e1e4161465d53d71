// Issue 6, hostile upstreams (1/3): attacks on the signed metadata, after TUF's list and
// Debian's secure APT: arbitrary metadata, an unknown key, rollback, indefinite freeze,
// mix-and-match. Each is refused with one `aptfreeze: CODE:` line, in bounded time and memory,
// and leaves the published state byte-identical.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildUpstream, churn, makePackages } from './helpers/upstream.ts';
import { hostileEnv, onPath, timingLines, type HostileEnv } from './helpers/hostile.ts';

const indexPath = /\/dists\/bookworm\/main\/binary-amd64\/(Packages(\.gz|\.xz)?|by-hash\/SHA256\/[0-9a-f]{64})$/;

describe('a hostile upstream attacking the signed metadata', () => {
  let env: HostileEnv;
  let seed = 100;

  before(async () => {
    env = await hostileEnv('hostile-sig');
  });
  afterEach(() => {
    if (env) env.up.fault = null;
  });
  after(async () => {
    await env?.close();
  });

  it('refuses a Release signed by a key outside the archive keyring (UPSTREAM_UNKNOWN_KEY)', async () => {
    await env.rebuild(churn(env.pkgs, 0.25, seed++), { signWith: env.other });
    await env.expectRefusal('UPSTREAM_UNKNOWN_KEY', { name: 'unknown key' });
  });

  it('refuses an InRelease whose signed text was altered (UPSTREAM_BAD_SIGNATURE)', async () => {
    await env.rebuild(churn(env.pkgs, 0.25, seed++));
    const p = join(env.upRoot, 'dists', 'bookworm', 'InRelease');
    const good = await readFile(p, 'utf8');
    // An attacker adds a package index of their own to the signed list: the signature no longer matches.
    await writeFile(p, good.replace(/^SHA256:$/m, `SHA256:\n ${'ab'.repeat(32)} 1234 main/binary-amd64/Packages.evil`));
    try {
      await env.expectRefusal('UPSTREAM_BAD_SIGNATURE', { name: 'tampered InRelease' });
    } finally {
      await writeFile(p, good);
    }
  });

  it('refuses a replayed older InRelease, byte for byte as upstream once signed it (UPSTREAM_ROLLBACK)', async () => {
    const old = await readFile(join(env.upRoot, 'dists', 'bookworm', 'InRelease'));
    env.pkgs = churn(env.pkgs, 0.25, seed++);
    await env.rebuild(env.pkgs);
    await env.expectSurvival({ name: 'a newer Release is accepted' });
    env.up.fault = onPath(
      (p) => p === '/dists/bookworm/InRelease',
      (_p, res) => {
        res.writeHead(200, { 'Content-Length': old.length });
        res.end(old);
        return true;
      },
    );
    await env.expectRefusal('UPSTREAM_ROLLBACK', { name: 'replayed older Release (rollback)' });
  });

  it('refuses a Release whose Valid-Until has passed (UPSTREAM_EXPIRED)', async () => {
    await env.rebuild(env.pkgs, { validUntil: new Date(Date.now() - 60_000) });
    await env.expectRefusal('UPSTREAM_EXPIRED', { name: 'expired Valid-Until' });
  });

  it('refuses an upstream that keeps serving the same Release after it expires (indefinite freeze, UPSTREAM_EXPIRED)', async () => {
    // Accepted while valid...
    env.pkgs = churn(env.pkgs, 0.25, seed++);
    const validUntil = new Date(Date.now() + 7000);
    await env.rebuild(env.pkgs, { validUntil });
    await env.expectSurvival({ name: 'a Release valid for a few seconds is accepted' });
    // ...then frozen: the very same signed bytes, past their Valid-Until on the service's clock.
    env.advanceClock(validUntil.getTime() + 1000 - Date.now());
    await env.expectRefusal('UPSTREAM_EXPIRED', { name: 'frozen upstream (freeze attack)' });
    await env.rebuild(env.pkgs);
  });

  it('refuses an index of an earlier time, with a valid upstream signature of its own (mix-and-match, HASH/SIZE_MISMATCH)', async () => {
    const oldIndex = await readFile(join(env.upRoot, 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages.xz'));
    const oldGz = await readFile(join(env.upRoot, 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages.gz'));
    await env.rebuild(churn(env.pkgs, 0.5, seed++));
    const want = env.build.indexFiles.find((f) => f.path === 'main/binary-amd64/Packages.xz')!;
    const wantGz = env.build.indexFiles.find((f) => f.path === 'main/binary-amd64/Packages.gz')!;
    env.up.fault = onPath(
      (p) => indexPath.test(p),
      (p, res) => {
        // The by-hash name or plain name of the new index, answered with the old (genuine, once signed) bytes.
        const body = p.endsWith('.gz') || p.endsWith(wantGz.sha256) ? oldGz : oldIndex;
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
        return true;
      },
    );
    const sameSizes = oldIndex.length === want.size && oldGz.length === wantGz.size;
    await env.expectRefusal(sameSizes ? 'HASH_MISMATCH' : 'SIZE_MISMATCH', { name: 'mix-and-match: index of an earlier time' });
  });

  it('refuses an index of another suite, with a valid upstream signature of its own (mix-and-match, HASH/SIZE_MISMATCH)', async () => {
    const other = await buildUpstream(
      join(env.dir, 'other-suite'),
      [{ name: 'bookworm-updates', components: ['main'], architectures: ['amd64'], packages: makePackages(3, { prefix: 'upd' }) }],
      env.key,
    );
    const otherIdx = (name: string) => readFile(join(other.root, 'dists', 'bookworm-updates', 'main', 'binary-amd64', name));
    const [xz, gz] = [await otherIdx('Packages.xz'), await otherIdx('Packages.gz')];
    await env.rebuild(churn(env.pkgs, 0.5, seed++));
    const wantGz = env.build.indexFiles.find((f) => f.path === 'main/binary-amd64/Packages.gz')!;
    const want = env.build.indexFiles.find((f) => f.path === 'main/binary-amd64/Packages.xz')!;
    env.up.fault = onPath(
      (p) => indexPath.test(p),
      (p, res) => {
        const body = p.endsWith('.gz') || p.endsWith(wantGz.sha256) ? gz : xz;
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
        return true;
      },
    );
    const sameSizes = xz.length === want.size && gz.length === wantGz.size;
    await env.expectRefusal(sameSizes ? 'HASH_MISMATCH' : 'SIZE_MISMATCH', { name: 'mix-and-match: index of another suite' });
  });

  it('refuses a genuine package of another version in place of the listed one (arbitrary package, HASH/SIZE_MISMATCH)', async () => {
    const published = env.pkgs;
    await env.rebuild(churn(published, 0.25, seed++));
    // A package whose listed version is not the published one: its new .deb is to be fetched.
    const changed = env.build.debs.find((d) => published.find((p) => p.name === d.name)!.version !== d.version)!;
    const olderVersion = published.find((p) => p.name === changed.name)!.version;
    const olderBytes = await readFile(join(env.upRoot, changed.filename.replace(`_${changed.version}_`, `_${olderVersion}_`)));
    env.up.fault = onPath(
      (p) => p === `/${changed.filename}`,
      (_p, res) => {
        res.writeHead(200, { 'Content-Length': olderBytes.length });
        res.end(olderBytes);
        return true;
      },
    );
    await env.expectRefusal(olderBytes.length === changed.size ? 'HASH_MISMATCH' : 'SIZE_MISMATCH', { name: 'arbitrary package (older genuine .deb)' });
  });

  it('reports the time and memory of each attack', (t) => {
    assert.ok(env.timings.length >= 8);
    for (const line of timingLines(env.timings)) t.diagnostic(line);
  });
});
