// Issue 14, acceptance 5: every Release we publish has Origin and Label (apt >= 2.7 finds a
// snapshot server only through one of them), upstream's own kept, the archive's name where the
// upstream has none (here a filtered archive of an upstream whose Release lacks both).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages } from './helpers/upstream.ts';
import { setUp, snapshot, suite, token, api, type Fixture } from './helpers/release.ts';
import { parseRelease } from '../server/debian/release.ts';

let f: Fixture;

before(async () => {
  const work = await tmpDir('af-origin');
  const pk = makePackages(4);
  f = await setUp(work, [suite(pk), suite(pk, { name: 'plain', originLabel: false })], { archives: { debian: ['bookworm'], custom: ['plain'] } });
  await f.h.reconfigure((c) => {
    const archives = c['archives'] as Record<string, Record<string, unknown>>;
    archives['custom']!['packages'] = [pk[0]!.name, pk[1]!.name];
  });
  const rm = token(f.h, 'release-manager');
  await snapshot(f.h, rm, 'debian');
  const s = await snapshot(f.h, rm, 'custom');
  const fr = await api(f.h, 'POST', `/archives/custom/serials/${s}/freeze`, { token: rm, body: { until: '2099-01-01', reason: 'label test' } });
  assert.equal(fr.status, 200, JSON.stringify(fr.body));
});

after(async () => {
  await f?.close();
});

/** Every Release and InRelease under the published tree (serial directories only). */
async function releaseFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.') || e.name === 'latest' || e.name === 'pool') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name === 'Release' || e.name === 'InRelease') out.push(p);
    }
  };
  await walk(root);
  return out;
}

function signedText(text: string): string {
  const m = /-----BEGIN PGP SIGNED MESSAGE-----\n(?:[^\n]+\n)*\n([\s\S]*?)\n-----BEGIN PGP SIGNATURE-----/.exec(text);
  return m ? `${m[1]!.replace(/^- /gm, '')}\n` : text;
}

describe('the Release files we publish', () => {
  it('all carry Origin and Label: upstream values kept, the archive name where upstream has none, through a freeze', async () => {
    const files = await releaseFiles(f.h.services.publisher.root);
    assert.equal(files.length, 4, files.join('\n'));
    for (const p of files) {
      const r = parseRelease(signedText(await readFile(p, 'utf8')));
      const want = p.includes('/custom/') ? 'custom' : 'Fixture';
      assert.equal(r.get('Origin'), want, `${p}: Origin`);
      assert.equal(r.get('Label'), want, `${p}: Label`);
    }
  });

  it('the upstream of the filtered archive has neither', async () => {
    const up = await (await fetch(`${f.up.url}/dists/plain/Release`)).text();
    assert.ok(!/^(Origin|Label):/m.test(up));
    const ours = await (await fetch(`${f.h.url}/custom/latest/dists/plain/Release`)).text();
    assert.match(ours, /^Origin: custom$/m);
    assert.match(ours, /^Snapshots: /m);
  });
});
