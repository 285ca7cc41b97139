// The team performance dashboard in headless Chromium (run by scripts/dashboard-check, which
// starts the server with the demo people and passes BASE_URL, CHROMIUM, PLAYWRIGHT_HOME and
// SCREENSHOTS).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.PLAYWRIGHT_HOME}/package.json`);
const { chromium } = require('playwright-core');

const base = process.env.BASE_URL;
const shots = process.env.SCREENSHOTS;
const PAGE = `${base}/reports/performance.html`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const urls = [];
  const problems = [];
  page.on('request', (request) => urls.push(request.url()));
  page.on('framenavigated', (frame) => urls.push(frame.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));

  // Signed out: the sign-in form, answered 200, not a redirect.
  const first = await page.goto(PAGE);
  assert.equal(first.status(), 200);
  assert.equal(page.url(), PAGE);
  assert.equal(await page.locator('form[action="/reports/sign-in"][method="post"]').count(), 1);
  assert.equal(await page.locator('input[name="password"][type="password"]').count(), 1);
  assert.equal(await page.locator('svg').count(), 0);
  await page.screenshot({ path: `${shots}/signed-out.png`, fullPage: true });
  console.log('   signed out: the sign-in form');

  // Signing in as the demo practitioner.
  await page.fill('#username', 'priya');
  await page.fill('#password', 'livingwell-demo');
  await Promise.all([page.waitForLoadState('load'), page.click('form.signin button[type="submit"]')]);
  await page.waitForSelector('svg[role="img"]');
  assert.equal(page.url(), PAGE, 'back on the page, nothing in its URL');

  const charts = page.locator('svg[role="img"]');
  const count = await charts.count();
  assert.ok(count >= 7, `${count} charts`);
  assert.equal(await page.locator('figure table').count(), count, 'a table under every chart');
  for (let i = 0; i < count; i += 1) {
    const chart = charts.nth(i);
    const ids = (await chart.getAttribute('aria-labelledby')).split(' ');
    assert.equal(ids.length, 2);
    for (const id of ids) {
      const words = (await page.locator(`[id="${id}"]`).textContent()).trim();
      assert.ok(words.length > 0, `text alternative ${id}`);
    }
    const figure = chart.locator('xpath=ancestor::figure[1]');
    assert.ok((await figure.locator('table tbody tr').count()) > 0, 'its table has rows');
  }
  // A figure under five is "< 5" in its table, never a number drawn as a bar.
  const hidden = await page.locator('td.hidden').count();
  if (hidden > 0) {
    assert.ok((await page.locator('p.note').count()) > 0, 'the "< 5" note is shown');
    for (const text of await page.locator('td.hidden').allTextContents()) assert.equal(text, '< 5');
  }
  // The demo's quarter of West hub history (server/src/demo/history.rs) rests on enough people
  // for every chart to draw: each draws at least one bar.
  let drawn = 0;
  for (let i = 0; i < count; i += 1) {
    const bars = await charts.nth(i).locator('.bar').count();
    assert.ok(bars > 0, `chart ${i + 1} of ${count} draws a bar from the demo's history`);
    drawn += bars;
  }
  console.log(`   signed in: ${count} charts, each with its words and table; ${drawn} bars drawn; ${hidden} figures "< 5"`);

  // The cookie: HttpOnly, SameSite=Strict, Path=/reports, and out of reach of scripts.
  const cookies = await context.cookies();
  const cookie = cookies.find((c) => c.name === 'lw_reports');
  assert.ok(cookie, 'the session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/reports');
  assert.equal(await page.evaluate(() => document.cookie.includes('lw_reports')), false);

  await page.screenshot({ path: `${shots}/performance.png`, fullPage: true });

  // Another period through the form: a GET with the period and team, no token.
  await page.fill('input[name="from"]', '2026-01-01');
  await page.fill('input[name="to"]', '2026-06-30');
  await Promise.all([page.waitForLoadState('load'), page.click('form.period button[type="submit"]')]);
  await page.waitForSelector('svg[role="img"]');
  assert.ok(page.url().includes('from=2026-01-01'), page.url());

  for (const url of urls) {
    assert.ok(!/token|lwb_|password|livingwell-demo/i.test(url), `a secret in a URL: ${url}`);
  }

  // Signing out: the form again, and the cookie gone.
  await Promise.all([page.waitForLoadState('load'), page.click('header form button[type="submit"]')]);
  await page.waitForSelector('form.signin');
  assert.equal(await page.locator('svg').count(), 0);
  assert.equal((await context.cookies()).some((c) => c.name === 'lw_reports'), false);
  console.log('   signed out again: the form, and no cookie');

  assert.deepEqual(problems, [], 'no errors in the console (a CSP violation would be one)');
} finally {
  await browser.close();
}
