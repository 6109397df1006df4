// The API reference page at /docs: Parley's own title, everything served by this server (no
// CDN, no fonts or telemetry from elsewhere), and GET / leading a browser there. The browser
// part runs headless Chromium and is skipped where /usr/bin/chromium is not installed.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const CHROMIUM = '/usr/bin/chromium';

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t.close());

describe('the docs page', () => {
  test('GET / sends a browser to the API reference', async () => {
    const response = await t.request({ method: 'GET', url: '/', key: null });
    assert.equal(response.status, 302);
    assert.equal(response.headers.location, '/docs/');
  });

  test('is titled Parley and loads its script and document from this server only', async () => {
    const page = await t.request({ method: 'GET', url: '/docs/', key: null });
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.text, /<title>Parley API reference<\/title>/);
    // Every src/href of the page is relative or a data: URL.
    for (const [, url] of page.text.matchAll(/(?:src|href)="([^"]*)"/g)) assert.ok(!/^(https?:)?\/\//.test(url!), `the page loads ${url}`);
    assert.ok(!/jsdelivr|unpkg|cdn\./i.test(page.text), 'the page names a CDN');
    const script = await t.request({ method: 'GET', url: '/docs/js/scalar.js', key: null });
    assert.equal(script.status, 200);
    assert.ok(script.text.length > 100_000);
    const spec = await t.request({ method: 'GET', url: '/docs/openapi.json', key: null });
    assert.equal(spec.status, 200);
    assert.equal(spec.body.info.title, 'Parley Platform API');
  });

  test(
    'renders in a browser without a request to any other host',
    // CI installs Chromium and sets PARLEY_REQUIRE_BROWSER=1, so there a missing browser fails the test.
    { skip: existsSync(CHROMIUM) || process.env.PARLEY_REQUIRE_BROWSER === '1' ? false : `needs ${CHROMIUM} (apt-get install chromium)`, timeout: 120_000 },
    async () => {
      const { chromium } = await import('playwright-core');
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const origin = new URL(address).origin;
      const profile = mkdtempSync(path.join(os.tmpdir(), 'parley-chromium-'));
      // A fresh profile each run: nothing cached from an earlier page, nothing kept afterwards.
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1400, height: 900 },
      });
      try {
        const page = await browser.newPage();
        const elsewhere: string[] = [];
        page.on('request', (request) => {
          const url = request.url();
          if (!url.startsWith(`${origin}/`) && !url.startsWith('data:') && !url.startsWith('blob:')) elsewhere.push(url);
        });
        const errors: string[] = [];
        page.on('pageerror', (error) => errors.push(error.message));
        await page.goto(`${origin}/`, { waitUntil: 'networkidle' });
        assert.equal(new URL(page.url()).pathname, '/docs/');
        await page.getByRole('heading', { name: 'Parley Platform API' }).first().waitFor({ timeout: 30_000 });
        if (process.env.PARLEY_DOCS_SCREENSHOT) await page.screenshot({ path: process.env.PARLEY_DOCS_SCREENSHOT });
        assert.equal(await page.title(), 'Parley API reference');
        const text = await page.locator('body').innerText();
        for (const tag of ['Customers', 'Phone Numbers', 'Contacts', 'Webhooks', 'Server']) assert.ok(text.includes(tag), `the page does not show ${tag}`);
        assert.ok(!text.includes('Ask AI'), 'the page offers a chat run by another service');
        assert.deepEqual(elsewhere, [], 'the page reached other hosts');
        assert.deepEqual(errors, [], 'the page threw');
      } finally {
        await browser.close();
        rmSync(profile, { recursive: true, force: true });
      }
    },
  );
});
