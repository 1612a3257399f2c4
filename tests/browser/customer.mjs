// Browser test of the customer's status page: the link from a real email (STATUS_URL, on the test server) in
// Debian's chromium through playwright-core, on a 390 px phone and a 1280 px screen; axe-core finds no
// accessibility violation; "Nobody got back to me" is tapped once; then the manager's dashboard shows the
// customer as urgent. Run by `cargo test --test it browser` (tests/it/browser.rs). Exits non-zero on the
// first failed check.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { STATUS_URL: statusUrl, BASE: base, EMAIL: email, PASSWORD: password, DUE: due, SCREENSHOTS: shots } = process.env;
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!statusUrl || !base || !email || !password || !due || !shots) throw new Error('STATUS_URL, BASE, EMAIL, PASSWORD, DUE and SCREENSHOTS must be set');
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

// axe-core (WCAG 2 A and AA rules) on the page as it is; injecting the script needs CSP bypassed in this
// separate context only: the page itself runs no script.
async function accessible(browser, url, width, what) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  await page.goto(url);
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => await globalThis.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice'] } }));
  const problems = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  check(problems.length === 0, `axe-core finds no violation on ${what} at ${width} px${problems.length ? `: ${problems.join('; ')}` : ''}`);
  await context.close();
}

let browser;
try {
  browser = await chromium.launch({
    executablePath: browserPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const blocked = [];
  const scripts = [];
  async function open(width) {
    const context = await browser.newContext({ viewport: { width, height: 900 }, javaScriptEnabled: false });
    const page = await context.newPage();
    page.on('console', (msg) => { if (/Content Security Policy/i.test(msg.text())) blocked.push(msg.text()); });
    page.on('request', (request) => { if (request.resourceType() === 'script') scripts.push(request.url()); });
    return page;
  }

  // The phone: the customer opens the emailed link and sees the open request with its promised time, in
  // their zone, with no script at all.
  const phone = await open(390);
  const response = await phone.goto(statusUrl);
  check(response.status() === 200, 'the emailed link opens the status page');
  const text = await phone.locator('main').innerText();
  check(text.includes(`You will hear from us by ${due}`), `the open request says when the answer comes (${due})`);
  check((await phone.locator('footer').innerText()).includes('Europe/Lisbon'), 'times are in the customer\'s zone');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `nothing overflows the 390 px screen (${overflow} px)`);
  const button = phone.locator('button', { hasText: 'Nobody got back to me' });
  const box = await button.boundingBox();
  check(box && box.height >= 44, `the button is a comfortable tap target (${box && box.height} px high)`);
  await phone.screenshot({ path: join(shots, 'status-390.png'), fullPage: true });
  await accessible(browser, statusUrl, 390, 'the status page');

  const wide = await open(1280);
  await wide.goto(statusUrl);
  await wide.screenshot({ path: join(shots, 'status-1280.png'), fullPage: true });
  await accessible(browser, statusUrl, 1280, 'the status page');

  // The tap: a POST, then a thank-you page with an optional comment.
  await Promise.all([phone.waitForNavigation(), button.click()]);
  check((await phone.locator('h1').innerText()).includes('Thank you for telling us'), 'one tap records it');
  await phone.screenshot({ path: join(shots, 'status-told-390.png'), fullPage: true });
  await accessible(browser, phone.url(), 390, 'the thank-you page');
  await phone.fill('textarea[name=comment]', 'I wrote three times and nobody answered.');
  await Promise.all([phone.waitForNavigation(), phone.click('button[type=submit]')]);
  check((await phone.locator('h1').innerText()).includes('Thank you'), 'the comment is sent');
  await phone.goto(statusUrl);
  check((await phone.locator('main').innerText()).includes('You told us nobody got back to you'), 'the page now says so');
  await phone.screenshot({ path: join(shots, 'status-after-390.png'), fullPage: true });
  await wide.goto(statusUrl);
  await wide.screenshot({ path: join(shots, 'status-after-1280.png'), fullPage: true });

  // The manager's queue: the customer first, marked urgent.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const manager = await context.newPage();
  await manager.goto(`${base}/login`);
  await manager.fill('input[name=email]', email);
  await manager.fill('input[name=password]', password);
  await Promise.all([manager.waitForNavigation(), manager.click('button[type=submit]')]);
  await manager.goto(`${base}/invisible`);
  const first = manager.locator('#queue tbody tr[data-customer]').first();
  check((await first.getAttribute('data-customer')) === 'ana', 'the customer is first in the queue');
  check((await first.innerText()).includes('urgent'), 'marked urgent');
  await manager.screenshot({ path: join(shots, 'invisible-urgent.png'), fullPage: true });
  await manager.goto(`${base}/customers/ana`);
  check((await manager.locator('main').innerText()).includes('Told us nobody got back to them'), 'the customer page in the dashboard says so');
  await manager.screenshot({ path: join(shots, 'customer-urgent.png'), fullPage: true });

  check(scripts.length === 0, `the status page loads no script${scripts.length ? `: ${scripts.join(', ')}` : ''}`);
  check(blocked.length === 0, `the Content-Security-Policy blocked nothing${blocked.length ? `: ${blocked.join('; ')}` : ''}`);
  console.log('all customer page checks passed');
} finally {
  if (browser) await browser.close();
}
