// The web page reads tables other features add (operations, tags) only where they exist and by the
// columns they have: absent, or of an unexpected shape, their sections are empty, never an error.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { WebQueries } from '../server/catalog/web.ts';
import { chartSvg } from '../server/web/chart.ts';
import { html, raw } from '../server/web/html.ts';

describe('the web page queries', () => {
  it('show nothing when the operations and tags tables do not exist', () => {
    const q = new WebQueries(new Database(':memory:'));
    assert.deepEqual(q.runningOperations(), []);
    assert.deepEqual(q.tags(), []);
  });

  it('list running operations and tags newest first when they exist', () => {
    const db = new Database(':memory:');
    db.exec("CREATE TABLE operations (id TEXT PRIMARY KEY, kind TEXT, archive TEXT, actor TEXT, state TEXT, progress TEXT, created_at TEXT) WITHOUT ROWID");
    db.exec("INSERT INTO operations VALUES ('a', 'snapshot', 'debian', 'ci', 'running', '{\"files\":3}', '2026-12-01'), ('b', 'gc', NULL, 'ci', 'succeeded', NULL, '2026-12-02'), ('c', 'freeze', 'debian', 'rm', 'pending', NULL, '2026-12-03')");
    db.exec('CREATE TABLE tags (name TEXT PRIMARY KEY, created_at TEXT) WITHOUT ROWID');
    db.exec("INSERT INTO tags VALUES ('4.2', '2026-12-01'), ('4.3', '2026-12-05')");
    const q = new WebQueries(db);
    assert.deepEqual(q.runningOperations().map((o) => o['id']), ['c', 'a']);
    assert.deepEqual(q.tags().map((t) => t['name']), ['4.3', '4.2']);
  });

  it('show nothing for an operations table without a state column', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE operations (id INTEGER PRIMARY KEY, what TEXT)');
    assert.deepEqual(new WebQueries(db).runningOperations(), []);
  });
});

describe('the page helpers', () => {
  it('escape every interpolated value, except raw HTML', () => {
    const reason = '<script>alert(1)</script> & "q"';
    assert.equal(html`<p title="${reason}">${reason}${raw('<br>')}</p>`.html, '<p title="&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;">&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;<br></p>');
  });

  it('draw one point and one bar per serial, labelled for screen readers', () => {
    const svg = chartSvg([{ label: '2026120101', pool: 10, changed: 3 }, { label: '2026120102', pool: 12, changed: 5 }], 'debian <x>');
    assert.equal(svg.match(/<circle /g)?.length, 2);
    assert.equal(svg.match(/<rect /g)?.length, 2);
    assert.match(svg, /role="img" aria-labelledby="chart-title chart-desc"/);
    assert.match(svg, /<title id="chart-title">debian &lt;x&gt;<\/title>/);
    assert.equal(chartSvg([], 'empty').includes('<path'), false);
  });
});
