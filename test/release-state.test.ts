// The pure state transition of release management (server/release/state.ts): which serials gc
// takes, freeze and thaw plans, and the date and reason a freeze accepts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isExpired, parseReason, parseUntil, planFreeze, planThaw, selectCollectable } from '../server/release/state.ts';
import type { SerialRow, SerialState } from '../server/catalog/repo.ts';
import { AptfreezeError } from '../server/errors.ts';

const NOW = new Date('2026-11-27T12:00:00Z');

function row(serial: string, state: SerialState, validUntil: Date | null): SerialRow {
  return {
    archive: 'debian',
    serial,
    state,
    created_at: NOW.toISOString(),
    published_at: NOW.toISOString(),
    valid_until: validUntil?.toISOString() ?? null,
    frozen_until: state === 'frozen' ? (validUntil?.toISOString() ?? null) : null,
    freeze_reason: state === 'frozen' ? 'r' : null,
    frozen_by: state === 'frozen' ? 'x' : null,
    frozen_at: state === 'frozen' ? NOW.toISOString() : null,
    collected_at: null,
    manifest_sha256: 'a'.repeat(64),
    stats: null,
    error: null,
  };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof AptfreezeError) return e.code;
    throw e;
  }
  return 'none';
}

const rowsArb = fc
  .uniqueArray(fc.integer({ min: 1, max: 99 }), { minLength: 0, maxLength: 25 })
  .chain((ns) =>
    fc.tuple(
      fc.constant(ns),
      fc.array(fc.constantFrom<SerialState>('live', 'live', 'frozen', 'collected', 'failed', 'pending'), { minLength: ns.length, maxLength: ns.length }),
      fc.array(fc.integer({ min: -20, max: 20 }), { minLength: ns.length, maxLength: ns.length }),
    ),
  )
  .map(([ns, states, days]) => ns.map((n, i) => row(`20261127${String(n).padStart(2, '0')}`, states[i]!, new Date(NOW.getTime() + days[i]! * 86_400_000))));

describe('which serials gc collects', () => {
  it('never the latest, a frozen one, one among the newest `keep`, or one still valid; and every other expired live one', () => {
    fc.assert(
      fc.property(rowsArb, fc.integer({ min: 1, max: 5 }), (rows, keep) => {
        const plan = selectCollectable(rows, { now: NOW, keep });
        const published = rows.filter((r) => r.state === 'live' || r.state === 'frozen').sort((a, b) => b.serial.localeCompare(a.serial));
        const newest = new Set(published.slice(0, keep).map((r) => r.serial));
        const collected = new Set(plan.collect.map((r) => r.serial));
        for (const r of plan.collect) {
          assert.equal(r.state, 'live');
          assert.ok(isExpired(r, NOW));
          assert.ok(!newest.has(r.serial));
          assert.notEqual(r.serial, published[0]?.serial);
        }
        for (const r of published) if (r.state === 'live' && isExpired(r, NOW) && !newest.has(r.serial)) assert.ok(collected.has(r.serial), `${r.serial} is due`);
        // Every published serial is either collected or kept, once.
        assert.equal(plan.collect.length + plan.keep.length, published.length);
        assert.deepEqual(new Set([...plan.collect.map((r) => r.serial), ...plan.keep.map((k) => k.row.serial)]).size, published.length);
      }),
      { numRuns: 500 },
    );
  });

  it('names why each serial stays', () => {
    const rows = [
      row('2026112705', 'live', new Date(0)),
      row('2026112704', 'live', new Date(0)),
      row('2026112703', 'frozen', new Date(0)),
      row('2026112702', 'live', new Date(NOW.getTime() + 1000)),
      row('2026112701', 'live', new Date(0)),
    ];
    const plan = selectCollectable(rows, { now: NOW, keep: 2 });
    assert.deepEqual(
      plan.keep.map((k) => [k.row.serial, k.reason]),
      [
        ['2026112705', 'latest'],
        ['2026112704', 'newest'],
        ['2026112703', 'frozen'],
        ['2026112702', 'valid'],
      ],
    );
    assert.deepEqual(plan.collect.map((r) => r.serial), ['2026112701']);
  });
});

describe('a freeze date', () => {
  it('accepts an ISO date (midnight UTC), a date-time with a zone, and in the CLI a duration', () => {
    assert.equal(parseUntil('2027-03-01', NOW).toISOString(), '2027-03-01T00:00:00.000Z');
    assert.equal(parseUntil('2027-03-01T12:30:45.999Z', NOW).toISOString(), '2027-03-01T12:30:45.000Z');
    assert.equal(parseUntil('2027-03-01T12:30+02:00', NOW).toISOString(), '2027-03-01T10:30:00.000Z');
    assert.equal(parseUntil('30d', NOW, { allowDuration: true }).toISOString(), '2026-12-27T12:00:00.000Z');
  });

  it('refuses anything else with BAD_REQUEST', () => {
    for (const t of ['30d', '2027-02-29', '2027-3-1', '2027-03-01T12:00', '2027-03-01 12:00Z', 'March 1', '', '  ', null, 20270301, '2027-03-01T24:00:00Z']) {
      assert.equal(code(() => parseUntil(t, NOW)), 'BAD_REQUEST', String(t));
    }
  });

  it('must be in the future for a freeze', () => {
    assert.equal(code(() => planFreeze(row('2026112701', 'live', NOW), { until: NOW, reason: 'r', actor: 'a', now: NOW })), 'BAD_REQUEST');
  });
});

describe('a freeze reason', () => {
  it('is one non-empty line of at most 500 characters', () => {
    assert.equal(parseReason('  release 1.0 '), 'release 1.0');
    for (const r of ['', ' ', 'a\nb', 'x'.repeat(501), undefined]) assert.equal(code(() => parseReason(r)), 'BAD_REQUEST');
  });
});

describe('freeze and thaw plans', () => {
  const until = new Date('2027-01-01T00:00:00Z');

  it('freeze: live or frozen becomes frozen until the date; NOT_FOUND for unpublished, GONE for collected', () => {
    for (const st of ['live', 'frozen'] as const) {
      const t = planFreeze(row('2026112701', st, NOW), { until, reason: 'r', actor: 'rm', now: NOW });
      assert.deepEqual(t.after, { state: 'frozen', valid_until: until.toISOString(), frozen_until: until.toISOString(), freeze_reason: 'r', frozen_by: 'rm', frozen_at: NOW.toISOString() });
      assert.equal(t.before.state, st);
    }
    assert.equal(code(() => planFreeze(row('2026112701', 'pending', null), { until, reason: 'r', actor: 'rm', now: NOW })), 'NOT_FOUND');
    assert.equal(code(() => planFreeze(row('2026112701', 'failed', null), { until, reason: 'r', actor: 'rm', now: NOW })), 'NOT_FOUND');
    assert.equal(code(() => planFreeze(row('2026112701', 'collected', null), { until, reason: 'r', actor: 'rm', now: NOW })), 'GONE');
  });

  it('thaw: frozen becomes live for one lifetime from now; CONFLICT when not frozen', () => {
    const t = planThaw(row('2026112701', 'frozen', until), { lifetimeMs: 86_400_000, now: NOW });
    assert.deepEqual(t.after, { state: 'live', valid_until: '2026-11-28T12:00:00.000Z', frozen_until: null, freeze_reason: null, frozen_by: null, frozen_at: null });
    assert.equal(code(() => planThaw(row('2026112701', 'live', until), { lifetimeMs: 1, now: NOW })), 'CONFLICT');
    assert.equal(code(() => planThaw(row('2026112701', 'collected', until), { lifetimeMs: 1, now: NOW })), 'GONE');
  });
});

describe("the one lock implementation (Repo.tryLock): all or none, never re-entrant", () => {
  it('counts a live holder as busy (this process included), takes over a dead one, and sees snapshot locks of archives it does not know', async () => {
    const { openDb } = await import('../server/catalog/open.ts');
    const { Repo } = await import('../server/catalog/repo.ts');
    const { spawnSync } = await import('node:child_process');
    const db = openDb(':memory:');
    try {
      const repo = new Repo(db);
      const put = (name: string, pid: number) => db.prepare('INSERT OR REPLACE INTO locks (name, pid, acquired_at) VALUES (?, ?, ?)').run(name, pid, NOW.toISOString());
      const names = ['archive:a', 'archive:b'];
      // What gc's sweep asks for: its archives, and no lock of any other archive (the prefix).
      const sweep = [...names, 'archive:'];
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;

      // A snapshot of this very process holds a lock: busy, although the pid is ours.
      put('archive:a', process.pid);
      const r1 = repo.tryLock(names, process.pid, NOW);
      assert.equal(r1.ok, false);
      assert.deepEqual(!r1.ok && r1.busy.map((b) => b.name), ['archive:a']);
      assert.deepEqual(db.prepare('SELECT name FROM locks').pluck().all(), ['archive:a'], 'none taken');

      // A dead holder is taken over; all names are then held by us.
      put('archive:a', dead);
      assert.equal(repo.tryLock(names, process.pid, NOW).ok, true);
      assert.deepEqual(db.prepare('SELECT name, pid FROM locks ORDER BY name').all(), names.map((name) => ({ name, pid: process.pid })));
      repo.unlock(names, process.pid);
      assert.deepEqual(db.prepare('SELECT name FROM locks').all(), []);

      // A snapshot of an archive only another configuration has.
      put('archive:zzz', process.ppid);
      const r2 = repo.tryLock(sweep, process.pid, NOW);
      assert.deepEqual(!r2.ok && r2.busy.map((b) => b.name), ['archive:zzz']);
      put('fsck', process.ppid);
      db.prepare("DELETE FROM locks WHERE name = 'archive:zzz'").run();
      assert.equal(repo.tryLock(sweep, process.pid, NOW).ok, true, 'a lock of another kind is not in the way');
    } finally {
      db.close();
    }
  });
});
