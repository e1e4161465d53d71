// Acceptance 6 of the provenance issue: across six snapshots with additions, removals, a version
// change and a package that disappears and comes back, `aptfreeze provenance` and
// GET /api/provenance give the exact serial ranges; an unchanged snapshot costs no parsing and no
// rows; after gc collects serials, the ranges are right for the serials that remain.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { proofFixture, fixtureSuites, UPDATES, type ProofFixture } from './helpers/proof-fixture.ts';
import type { FixturePackage } from './helpers/upstream.ts';
import { prepareProvenance } from '../server/provenance/record.ts';
import { freezeSerial } from '../server/release/service.ts';
import { runGc } from '../server/release/gc.ts';
import type { ProvenanceEntry } from '../server/provenance/query.ts';

const p = (name: string, version: string, arch = 'amd64'): FixturePackage => ({ name, version, arch });
const hello = p('hello', '1.0-1');
const bar1 = p('bar', '1.0-1');
const bar2 = p('bar', '1.0-2');
const cat = p('cat', '1.0-1');
const dog = p('dog', '1.0-1');
const doc = p('hello-doc', '1.0-1', 'all');
const fox = p('fox', '1.0-1');

// S1..S6, as upstream's bookworm lists them:
//   hello, hello-doc: every serial      bar: 1.0-1 in S1, 1.0-2 from S2 on (a version change)
//   cat: S1-S2, gone in S3-S4, back in S5-S6 (same file)      dog: S1-S4 (removed)      fox: from S2 (added)
//   S4 is S3 again (an unchanged upstream index)
const sequence: FixturePackage[][] = [
  [hello, bar1, cat, dog, doc],
  [hello, bar2, cat, dog, doc, fox],
  [hello, bar2, dog, doc, fox],
  [hello, bar2, dog, doc, fox],
  [hello, bar2, cat, doc, fox],
  [hello, bar2, cat, doc, fox],
];

type Runs = Array<[string, string, number]>;

describe('provenance', () => {
  let f: ProofFixture;
  let clock = Date.now();
  const S: string[] = [];

  const api = async (q: string): Promise<{ status: number; body: { results: ProvenanceEntry[]; error?: { code: string } } }> => {
    const res = await fetch(`${f.h.url}/api/provenance?${q}`);
    return { status: res.status, body: (await res.json()) as never };
  };
  /** The runs of one archive/suite for a package version, from the API. */
  const runsOf = async (pkg: FixturePackage, where = { archive: 'debian', suite: 'bookworm' }): Promise<Runs> => {
    const { status, body } = await api(new URLSearchParams({ package: pkg.name, version: pkg.version, arch: pkg.arch }).toString());
    assert.equal(status, 200);
    const e = body.results.filter((x) => x.archive === where.archive && x.suite === where.suite);
    assert.ok(e.length <= 1, 'one entry per archive, suite, component, architecture and file');
    return e[0]?.runs.map((r) => [r.first, r.last, r.serials]) ?? [];
  };
  const presenceRows = () => f.h.services.db.prepare('SELECT COUNT(*) FROM package_presence').pluck().get() as number;

  before(async () => {
    f = await proofFixture('af-prov', { now: () => new Date(clock), config: { lifetime: '1d', keep: 2 }, suites: fixtureSuites(sequence[0]) });
    for (const [i, pkgs] of sequence.entries()) {
      if (i > 0) await f.rebuild(fixtureSuites(pkgs, UPDATES));
      const rowsBefore = presenceRows();
      S.push((await f.snapshot('debian')).serial);
      if (i === 3) assert.equal(presenceRows(), rowsBefore, 'S4 (unchanged) adds no presence row');
      if (i === 0) await f.snapshot('filt');
    }
  });
  after(() => f?.close());

  it('gives the exact runs of serials across additions, removals, a version change and a comeback', async () => {
    assert.deepEqual(await runsOf(hello), [[S[0], S[5], 6]]);
    assert.deepEqual(await runsOf(bar1), [[S[0], S[0], 1]]);
    assert.deepEqual(await runsOf(bar2), [[S[1], S[5], 5]]);
    assert.deepEqual(await runsOf(cat), [[S[0], S[1], 2], [S[4], S[5], 2]]);
    assert.deepEqual(await runsOf(dog), [[S[0], S[3], 4]]);
    assert.deepEqual(await runsOf(fox), [[S[1], S[5], 5]]);
    // An arch-all package is one entry, served through binary-amd64 and binary-all.
    assert.deepEqual(await runsOf(doc), [[S[0], S[5], 6]]);
    const { body } = await api('package=hello-doc&version=1.0-1');
    assert.deepEqual(body.results.find((e) => e.archive === 'debian' && e.suite === 'bookworm')!.indexArchitectures, ['all', 'amd64']);
    // The other suite, and the filtered archive (one snapshot, of its kept packages only).
    assert.deepEqual(await runsOf(UPDATES[0]!, { archive: 'debian', suite: 'bookworm/updates' }), [[S[0], S[5], 6]]);
    assert.equal((await runsOf(hello, { archive: 'filt', suite: 'bookworm' })).length, 1);
    assert.deepEqual(await runsOf(dog, { archive: 'filt', suite: 'bookworm' }), []);
  });

  it('answers with the sha256 and pool path of each file', async () => {
    const { body } = await api('package=bar&version=1.0-2&arch=amd64');
    const e = body.results.find((x) => x.archive === 'debian')!;
    const deb = f.build.debs.find((d) => d.name === 'bar' && d.version === '1.0-2')!;
    assert.deepEqual([e.sha256, e.size, e.filename, e.component, e.architecture], [deb.sha256, deb.size, deb.filename, 'main', 'amd64']);
  });

  it('is the same from the command line, and says when nothing served a version', async () => {
    const r = await f.h.cli(['provenance', 'cat', '1.0-1', '--arch', 'amd64', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const e = (JSON.parse(r.stdout) as { results: ProvenanceEntry[] }).results.find((x) => x.archive === 'debian')!;
    assert.deepEqual(e.runs, [{ first: S[0], last: S[1], serials: 2 }, { first: S[4], last: S[5], serials: 2 }]);
    const text = await f.h.cli(['provenance', 'cat', '1.0-1']);
    assert.match(text.stdout, new RegExp(`^debian +bookworm +main +amd64 +${S[4]} +${S[5]} +2 +[0-9a-f]{64} +pool/main/c/cat/cat_1\\.0-1_amd64\\.deb$`, 'm'));
    const none = await f.h.cli(['provenance', 'cat', '9.9-9']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^aptfreeze: NOT_FOUND: /);
  });

  it('refuses a malformed query', async () => {
    for (const q of ['package=hello', 'version=1', 'package=../x&version=1', 'package=hello&version=1&arch=a/b']) {
      const { status, body } = await api(q);
      assert.equal(status, 400, q);
      assert.equal(body.error?.code, 'BAD_REQUEST');
    }
  });

  it('records an unchanged snapshot with no parsing: one index row moved per index', async () => {
    const repo = f.h.services.repo;
    const indices = repo.provenanceIndices('debian');
    assert.ok(indices.every((i) => i.last_serial === S[5]));
    const step = await prepareProvenance(f.h.services.store, {
      repo,
      archive: 'debian',
      serial: String(Number(S[5]) + 1),
      previousSerial: S[5]!,
      indices: indices.map((i) => ({ suite: i.suite, component: i.component, archDir: i.arch_dir, parsedPath: i.parsed_path, parsedSha256: i.parsed_sha256, filter: null })),
    });
    assert.deepEqual(step.stats, { indices: indices.length, unchanged: indices.length, parsed: 0, opened: 0, closed: 0 });
  });

  it('after gc collects serials, gives runs of the serials that remain', async () => {
    const s = f.h.services;
    await freezeSerial(s, 'debian', S[1]!, { until: new Date(clock + 30 * 86_400_000).toISOString().slice(0, 10), reason: 'release 1', actor: 'test' });
    clock += 2 * 86_400_000;
    const report = await runGc(s, { actor: 'test' });
    assert.deepEqual(report.collected.filter((c) => c.archive === 'debian').map((c) => c.serial).sort(), [S[0], S[2], S[3]]);
    // Remaining: S2 (frozen), S5, S6.
    assert.deepEqual(await runsOf(hello), [[S[1], S[5], 3]]);
    assert.deepEqual(await runsOf(bar1), []);
    assert.deepEqual(await runsOf(bar2), [[S[1], S[5], 3]]);
    // Absent from S3 and S4: still two runs, though those serials are gone.
    assert.deepEqual(await runsOf(cat), [[S[1], S[1], 1], [S[4], S[5], 2]]);
    assert.deepEqual(await runsOf(dog), [[S[1], S[1], 1]]);
    assert.deepEqual(await runsOf(doc), [[S[1], S[5], 3]]);
    // The filtered archive's only serial (its latest, never collected) still has it.
    const cli = await f.h.cli(['provenance', 'bar', '1.0-1', '--json']);
    assert.deepEqual((JSON.parse(cli.stdout) as { results: ProvenanceEntry[] }).results.map((e) => e.archive), ['filt']);
    // And a new snapshot after gc extends the open runs.
    await f.rebuild(fixtureSuites(sequence[5]!.filter((x) => x !== cat), UPDATES));
    const s7 = (await f.snapshot('debian')).serial;
    assert.deepEqual(await runsOf(hello), [[S[1], s7, 4]]);
    assert.deepEqual(await runsOf(cat), [[S[1], S[1], 1], [S[4], S[5], 2]]);
  });
});
