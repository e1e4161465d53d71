// Pure parts of the people's side: snapshot.debian.org's time ids and the request kinds /metrics counts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStamp, parseArchiveId, serialAt } from '../server/snapmr/stamps.ts';
import { routeKind } from '../server/metrics/route-kind.ts';
import { isPeoplePath } from '../server/web/mount.ts';

const now = new Date('2026-12-05T10:00:00.500Z');

describe('archive ids', () => {
  it('read a serial, a day (its start), a stamp and now', () => {
    assert.deepEqual(parseArchiveId('2026120501', now), { kind: 'serial', serial: '2026120501' });
    assert.deepEqual(parseArchiveId('20261205', now), { kind: 'time', at: new Date('2026-12-05T00:00:00Z') });
    assert.deepEqual(parseArchiveId('20261205T093000Z', now), { kind: 'time', at: new Date('2026-12-05T09:30:00Z') });
    assert.deepEqual(parseArchiveId('now', now), { kind: 'time', at: now });
  });

  it('refuse anything else, impossible dates included', () => {
    for (const id of ['latest', '2026-12-05', '20261305', '20260230', '20261205T250000Z', '20261205T093000', '202612051', '']) assert.equal(parseArchiveId(id, now), null, id);
  });

  it('format a time as YYYYMMDDTHHMMSSZ, seconds truncated', () => {
    assert.equal(formatStamp(new Date('2026-12-05T09:03:07.999Z')), '20261205T090307Z');
  });

  it('resolve to the newest serial published at or before the time, at the second', () => {
    const serials = [
      { serial: '2026120503', published_at: '2026-12-05T12:00:00.900Z' },
      { serial: '2026120502', published_at: '2026-12-05T09:00:00.700Z' },
      { serial: '2026120501', published_at: '2026-12-05T06:00:00.000Z' },
      { serial: '2026120499', published_at: null },
    ];
    assert.equal(serialAt(serials, new Date('2026-12-05T09:00:00Z'))?.serial, '2026120502', 'its own stamp names it');
    assert.equal(serialAt(serials, new Date('2026-12-05T08:59:59Z'))?.serial, '2026120501');
    assert.equal(serialAt(serials, new Date('2027-01-01T00:00:00Z'))?.serial, '2026120503');
    assert.equal(serialAt(serials, new Date('2026-12-05T05:59:59Z')), undefined);
  });
});

describe('request kinds', () => {
  it('tell serial, latest, pool, api and the rest apart', () => {
    assert.equal(routeKind('/debian/2026120501/dists/bookworm/InRelease'), 'serial');
    assert.equal(routeKind('/debian/20261205T090000Z/dists/bookworm/InRelease'), 'serial');
    assert.equal(routeKind('/debian/latest/dists/bookworm/Release?x=1'), 'latest');
    assert.equal(routeKind('/debian/latest/pool/main/h/hello/hello_1_amd64.deb'), 'pool');
    assert.equal(routeKind('/debian/2026120501/pool/main/h/hello/hello_1_amd64.deb'), 'pool');
    assert.equal(routeKind('/api/archives'), 'api');
    assert.equal(routeKind('/mr/package/'), 'mr');
    assert.equal(routeKind('/file/' + 'a'.repeat(40)), 'mr');
    assert.equal(routeKind('/archive/debian/now/'), 'archive');
    assert.equal(routeKind('/'), 'web');
    assert.equal(routeKind('/debian/project/trace/debian'), 'other');
  });

  it("send the people's paths to express and the published tree to the file server", () => {
    for (const p of ['/', '/?x', '/metrics', '/mr/package/', '/file/x', '/archive/debian/now/', '/web/audit', '/debian/20261205T090000Z/', '/debian/20261205T090000Z']) assert.equal(isPeoplePath(p), true, p);
    for (const p of ['/debian/latest/dists/x/Release', '/debian/2026120501/pool/a', '/keys/aptfreeze.asc', '/metricsx', '/webby/2026120501/x']) assert.equal(isPeoplePath(p), false, p);
  });
});
