// Acceptance 7: `aptfreeze diff` reports the exact added, removed and changed packages between
// two fixture serials, as text and JSON, per suite (a suite name with a slash included).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from './helpers/gpg.ts';
import type { FixturePackage } from './helpers/upstream.ts';
import { api, setUp, snapshot, suite, token, type Fixture } from './helpers/release.ts';

const base: FixturePackage[] = [
  { name: 'hello', version: '2.10-3', arch: 'amd64' },
  { name: 'hello-doc', version: '2.10-3', arch: 'all', source: 'hello' },
  { name: 'libfoo1', version: '1:1.2-1', arch: 'amd64', source: 'foo' },
  { name: 'bar', version: '0.9-2', arch: 'amd64' },
  { name: 'oldtool', version: '1.0-1', arch: 'amd64' },
];
const next: FixturePackage[] = [
  { name: 'hello', version: '2.10-4', arch: 'amd64' },
  { name: 'hello-doc', version: '2.10-4', arch: 'all', source: 'hello' },
  { name: 'libfoo1', version: '1:1.2-1', arch: 'amd64', source: 'foo' },
  { name: 'newtool', version: '0.1-1', arch: 'amd64' },
  { name: 'zzz-data', version: '3', arch: 'all' },
];
const updates1: FixturePackage[] = [{ name: 'hello', version: '2.10-3+deb12u1', arch: 'amd64' }];
const updates2: FixturePackage[] = [
  { name: 'hello', version: '2.10-3+deb12u2', arch: 'amd64' },
  { name: 'libfoo1', version: '1:1.2-1+deb12u1', arch: 'amd64', source: 'foo' },
];
const suites = (main: FixturePackage[], upd: FixturePackage[]) => [suite(main), suite(upd, { name: 'bookworm/updates', codename: 'bookworm' })];

let f: Fixture;
let a: string;
let b: string;

before(async () => {
  const work = await tmpDir('af-diff');
  f = await setUp(work, suites(base, updates1));
  const rm = token(f.h, 'release-manager');
  a = await snapshot(f.h, rm);
  await f.publish(suites(next, updates2));
  b = await snapshot(f.h, rm);
});

after(async () => {
  await f?.close();
});

describe('aptfreeze diff between two serials', () => {
  it('lists added, removed and changed packages per suite as text', async () => {
    const r = await f.h.cli(['diff', 'debian', a, b]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        `debian ${a} -> ${b}`,
        'bookworm:',
        '  + newtool 0.1-1 amd64',
        '  + zzz-data 3 all',
        '  - bar 0.9-2 amd64',
        '  - oldtool 1.0-1 amd64',
        '  ~ hello 2.10-3 -> 2.10-4 amd64',
        '  ~ hello-doc 2.10-3 -> 2.10-4 all',
        'bookworm/updates:',
        '  + libfoo1 1:1.2-1+deb12u1 amd64',
        '  ~ hello 2.10-3+deb12u1 -> 2.10-3+deb12u2 amd64',
        '3 added, 2 removed, 3 changed',
        '',
      ].join('\n'),
    );
  });

  it('gives the same as JSON, with name, old and new version and architecture', async () => {
    const r = await f.h.cli(['diff', 'debian', a, b, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      archive: 'debian',
      from: a,
      to: b,
      suites: [
        {
          suite: 'bookworm',
          added: [
            { name: 'newtool', version: '0.1-1', arch: 'amd64' },
            { name: 'zzz-data', version: '3', arch: 'all' },
          ],
          removed: [
            { name: 'bar', version: '0.9-2', arch: 'amd64' },
            { name: 'oldtool', version: '1.0-1', arch: 'amd64' },
          ],
          changed: [
            { name: 'hello', arch: 'amd64', from: '2.10-3', to: '2.10-4' },
            { name: 'hello-doc', arch: 'all', from: '2.10-3', to: '2.10-4' },
          ],
        },
        {
          suite: 'bookworm/updates',
          added: [{ name: 'libfoo1', version: '1:1.2-1+deb12u1', arch: 'amd64' }],
          removed: [],
          changed: [{ name: 'hello', arch: 'amd64', from: '2.10-3+deb12u1', to: '2.10-3+deb12u2' }],
        },
      ],
      summary: { added: 3, removed: 2, changed: 3 },
    });
  });

  it('reads the other way round as the inverse, and a serial against itself as no change', async () => {
    const back = await api(f.h, 'GET', `/archives/debian/diff?from=${b}&to=${a}`);
    assert.equal(back.status, 200);
    assert.deepEqual(back.body.summary, { added: 2, removed: 3, changed: 3 });
    assert.deepEqual(back.body.suites[0].changed[0], { name: 'hello', arch: 'amd64', from: '2.10-4', to: '2.10-3' });
    const same = await f.h.cli(['diff', 'debian', a, a]);
    assert.equal(same.stdout, `debian ${a} -> ${a}\nbookworm: no changes\nbookworm/updates: no changes\n0 added, 0 removed, 0 changed\n`);
  });

  it('fails with NOT_FOUND for an unknown serial or archive', async () => {
    assert.match((await f.h.cli(['diff', 'debian', a, '2001010101'])).stderr, /^aptfreeze: NOT_FOUND: /);
    assert.match((await f.h.cli(['diff', 'nosuch', a, b])).stderr, /^aptfreeze: NOT_FOUND: /);
    assert.equal((await api(f.h, 'GET', `/archives/debian/diff?from=${a}`)).status, 400);
  });
});
