// Issue 14, acceptance 1: the web page in a real browser (Debian's chromium driven by
// playwright-core): every page of the site at 1280 and 390 px wide (screenshots written under the
// test's temp dir, their paths printed), no console errors, every link on every page answers 200,
// and the search form finds a fixture package with its sha256.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { tmpDir } from './helpers/gpg.ts';
import { makePackages, bumpVersion } from './helpers/upstream.ts';
import { setUp, snapshot, suite, token, api, fakeClock, type Fixture } from './helpers/release.ts';

const HOUR = 3_600_000;
let f: Fixture;
let work: string;
let browser: Browser;
let serials: string[] = [];
const clock = fakeClock(new Date(Date.now() + 60_000));

before(async () => {
  work = await tmpDir('af-web');
  const pk = makePackages(6);
  f = await setUp(work, [suite(pk)], { now: clock.now });
  const rm = token(f.h, 'release-manager');
  serials.push(await snapshot(f.h, rm));
  for (let i = 0; i < 3; i++) {
    clock.advance(6 * HOUR);
    pk[i]!.version = bumpVersion(pk[i]!.version);
    if (i === 1) pk.push({ name: 'newcomer', version: '0.1-1', arch: 'amd64' });
    await f.publish([suite(pk)]);
    serials.push(await snapshot(f.h, rm));
  }
  const fr = await api(f.h, 'POST', `/archives/debian/serials/${serials[1]}/freeze`, { token: rm, body: { until: '2099-01-31', reason: 'release <4.2> & "friends"' } });
  assert.equal(fr.status, 200, JSON.stringify(fr.body));
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await f?.close();
});

describe('the web page', () => {
  it('renders every page at 1280 and 390 px without console errors, and every link answers 200', async (t) => {
    const base = f.h.url;
    const errors: string[] = [];
    const pages = new Set<string>(['/']);
    const links = new Set<string>();
    const shots: string[] = [];
    for (const width of [1280, 390]) {
      const ctx = await browser.newContext({ viewport: { width, height: width === 390 ? 844 : 900 }, javaScriptEnabled: false });
      const page = await ctx.newPage();
      page.on('console', (m) => m.type() === 'error' && errors.push(`${page.url()}: ${m.text()}`));
      page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
      page.on('response', (r) => r.status() >= 400 && errors.push(`${r.url()}: ${r.status()}`));
      // The site from its home page, and a search's results (reached through the form, not a link).
      const queue = ['/', '/web/search?package=pkg0'];
      const seen = new Set<string>();
      while (queue.length) {
        const path = queue.shift()!;
        if (seen.has(path)) continue;
        seen.add(path);
        const res = await page.goto(`${base}${path}`);
        assert.equal(res?.status(), 200, path);
        assert.equal(await page.locator('h1').count(), 1, `${path}: one h1`);
        // Every input has a label; the page never scrolls sideways (tables scroll in their own box).
        assert.equal(await page.locator('input:not([id])').count(), 0, `${path}: inputs have ids`);
        for (const id of await page.locator('input').evaluateAll((els) => els.map((e) => e.id))) assert.equal(await page.locator(`label[for="${id}"]`).count(), 1, `${path}: label for ${id}`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `${path} at ${width}px: ${overflow}px wider than the screen`);
        const name = `${width}-${path.replace(/[^a-z0-9]+/gi, '_').replace(/^_|_$/g, '') || 'home'}.png`;
        const file = join(work, name);
        await page.screenshot({ path: file, fullPage: true });
        shots.push(file);
        for (const href of await page.locator('a[href]').evaluateAll((els) => els.map((e) => (e as HTMLAnchorElement).href))) {
          const u = new URL(href);
          assert.equal(u.origin, new URL(base).origin, `${path}: a link off the site: ${href}`);
          links.add(u.pathname + u.search);
          // The site's own pages are visited too; the files and listings they link to are only fetched.
          if ((u.pathname === '/' || u.pathname.startsWith('/web/')) && !seen.has(u.pathname + u.search)) queue.push(u.pathname + u.search);
        }
        pages.add(path);
      }
      await ctx.close();
    }
    for (const l of links) {
      const res = await fetch(`${base}${l}`, { redirect: 'manual' });
      await res.arrayBuffer();
      assert.equal(res.status, 200, `link ${l}`);
    }
    for (const s of shots) t.diagnostic(`screenshot: ${s}`);
    assert.deepEqual(errors, []);
    // The pages the issue names are among those visited: archives, the timeline, a serial, the audit log.
    for (const p of ['/', '/web/archives/debian', `/web/archives/debian/${serials[1]}`, '/web/audit', '/web/search']) assert.ok(pages.has(p), p);
    assert.ok(links.has(`/debian/${serials[3]}/proof.deb`), 'a proof package link');
  });

  it('shows freezes, the sources snippet and the diff on the pages', async () => {
    const page = await browser.newPage();
    await page.goto(`${f.h.url}/web/archives/debian`);
    const timeline = await page.locator('ul.timeline').innerText();
    assert.match(timeline, /frozen until 2099-01-31 00:00:00 UTC for “release <4.2> & "friends"” by release-manager-test/);
    assert.equal(await page.locator('ul.timeline > li').count(), 4);
    assert.equal(await page.locator('svg.chart circle').count(), 4, 'one point per serial in the chart');
    await page.goto(`${f.h.url}/web/archives/debian/${serials[2]}`);
    const pre = await page.locator('pre').innerText();
    assert.match(pre, new RegExp(`^URIs: ${f.h.url}/debian/${serials[2]}/$`, 'm'));
    assert.match(pre, /-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    const diff = await page.locator('#diff + p').innerText();
    assert.equal(diff, '1 added, 0 removed, 1 changed.');
    await page.close();
  });

  it('answers an unknown archive or serial with an HTML 404 page', async () => {
    for (const p of ['/web/archives/nosuch', '/web/archives/debian/2000010101']) {
      const res = await fetch(`${f.h.url}${p}`);
      assert.equal(res.status, 404, p);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(await res.text(), /<h1>Not found<\/h1>/);
    }
  });

  it('finds a fixture package with the search form, with its sha256', async () => {
    const page = await browser.newPage();
    await page.goto(`${f.h.url}/`);
    await page.getByLabel('Package name').fill('pkg0');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/\/web\/search\?package=pkg0/);
    const text = await page.locator('table').innerText();
    for (const version of ['1.0-1', '1.0-2']) {
      const deb = await readFile(join(work, 'upstream', 'pool', 'main', 'p', 'pkg0', `pkg0_${version}_amd64.deb`));
      assert.ok(text.includes(createHash('sha256').update(deb).digest('hex')), `the sha256 of pkg0 ${version}`);
    }
    await page.getByLabel('Version (optional)').fill('1.0-1');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/version=1.0-1/);
    assert.equal(await page.locator('tbody tr').count(), 1);
    assert.match(await page.locator('tbody tr').innerText(), new RegExp(`${serials[0]}`));
    await page.close();
  });
});
