// Browser test of Seen's dashboard: the real `seen demo --serve` driven by Debian's chromium through
// playwright-core. Run by `cargo test --test it browser` (tests/it/browser.rs), which passes SEEN_BIN and
// SCREENSHOTS. Exits non-zero on the first failed check.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const bin = process.env.SEEN_BIN;
const shots = process.env.SCREENSHOTS;
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!bin || !shots) throw new Error('SEEN_BIN and SCREENSHOTS must be set');
mkdirSync(shots, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

// Start the demo and read its address and logins from stdout.
const dir = mkdtempSync(join(tmpdir(), 'seen-browser-'));
const server = spawn(bin, ['--db', join(dir, 'demo.db'), 'demo', '--customers', '400', '--serve', '--listen', '127.0.0.1:0', '--no-live-desk'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const started = new Promise((resolve, reject) => {
  let out = '';
  const timer = setTimeout(() => reject(new Error(`the demo did not start:\n${out}`)), 120_000);
  server.stdout.on('data', (chunk) => {
    out += chunk;
    const address = out.match(/Dashboard: (http:\/\/[^/\s]+)\/login/);
    const logins = [...out.matchAll(/^\s+(admin|manager|agent)\s+(\S+)\s+password (\S+)$/gm)];
    const status = out.match(/own page \(the link in every message\): (http:\/\/\S+)/);
    if (address && logins.length === 3 && status) {
      clearTimeout(timer);
      resolve({ base: address[1], status: status[1], logins: Object.fromEntries(logins.map((m) => [m[1], { email: m[2], password: m[3] }])) });
    }
  });
  server.on('exit', (code) => reject(new Error(`the demo exited (${code}):\n${out}`)));
});

let browser;
try {
  const { base, status, logins } = await started;
  browser = await chromium.launch({
    executablePath: browserPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });

  // Anything the Content-Security-Policy blocks (an inline style or script, a foreign resource) fails the test.
  const blocked = [];
  async function session(role) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) blocked.push(`${role}: ${msg.text()}`);
    });
    await page.goto(`${base}/invisible`);
    check(page.url().includes('/login'), `${role}: a page without login sends to the login form`);
    if (role === 'agent') await page.screenshot({ path: join(shots, 'login.png'), fullPage: true });
    await page.fill('input[name=email]', logins[role].email);
    await page.fill('input[name=password]', logins[role].password);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    check(page.url().endsWith('/invisible'), `${role}: logged in, back at the queue (${page.url()})`);
    const headerColour = await page.evaluate(() => getComputedStyle(document.querySelector('header')).backgroundColor);
    check(headerColour === 'rgb(31, 59, 51)', `${role}: the stylesheet applies under the CSP (header ${headerColour})`);
    return page;
  }

  // The agent sees the demo's invisible customers and acknowledges one.
  const agent = await session('agent');
  const rows = agent.locator('#queue tbody tr[data-customer]');
  const before = await rows.count();
  check(before > 0, `the agent sees the demo's invisible customers (${before} rows)`);
  await agent.screenshot({ path: join(shots, 'invisible.png'), fullPage: true });
  const first = rows.first();
  const customer = await first.getAttribute('data-customer');
  const policy = await first.getAttribute('data-policy');
  const sameRow = `#queue tbody tr[data-customer="${customer}"][data-policy="${policy}"]`;
  const copies = await agent.locator(sameRow).count();
  await Promise.all([agent.waitForNavigation(), first.locator('button[value=acknowledged]').click()]);
  check((await agent.locator(sameRow).count()) === copies - 1, `the acknowledged row (${customer}, ${policy}) left the agent's queue`);
  check((await agent.locator('main').innerText()).includes('acknowledged'), 'the queue says how many are acknowledged');

  // An agent cannot open admin or management pages.
  for (const path of ['/admin/users', '/admin/keys', '/admin/policies', '/promises']) {
    const response = await agent.goto(`${base}${path}`);
    check(response.status() === 403, `an agent gets 403 on ${path}`);
  }
  await agent.screenshot({ path: join(shots, 'forbidden.png'), fullPage: true });
  await agent.goto(`${base}/customers/${encodeURIComponent(customer)}`);
  check((await agent.locator('h2', { hasText: 'Timeline' }).count()) === 1, 'the customer page has a timeline');
  await agent.screenshot({ path: join(shots, 'customer.png'), fullPage: true });

  // A manager sees the acknowledgement, with who did it.
  const manager = await session('manager');
  await manager.goto(`${base}/invisible?show=all`);
  const acked = manager.locator(sameRow).filter({ hasText: `acknowledged by ${logins.agent.email}` });
  check((await acked.count()) >= 1, 'the manager sees the row acknowledged by the agent');
  await manager.screenshot({ path: join(shots, 'invisible-manager.png'), fullPage: true });
  for (const [path, name, charts] of [['/overview', 'overview', 8], ['/promises', 'promises', 1], ['/outbox', 'outbox', 0], ['/surveys', 'surveys', 0]]) {
    const response = await manager.goto(`${base}${path}`);
    check(response.status() === 200, `the manager opens ${path}`);
    const n = await manager.locator('svg.chart').count();
    check(n >= charts, `${path} shows ${n} charts (at least ${charts})`);
    await manager.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  }
  // Retention cohorts: a heatmap whose every cell shows its number; axe-core (WCAG 2 A/AA) finds no
  // violation there (injecting axe needs CSP bypassed, in a context of its own with the manager's session).
  check((await manager.goto(`${base}/retention`)).status() === 200, 'the manager opens /retention');
  const cells = await manager.locator('table.retention td.heat').allInnerTexts();
  const unnumbered = cells.filter((t) => !/^(\d+%\*?|—\*?)$/.test(t.trim()));
  check(cells.length > 0 && unnumbered.length === 0, `/retention shows ${cells.length} heatmap cells, each with its number${unnumbered.length ? `: not ${JSON.stringify(unnumbered.slice(0, 5))}` : ''}`);
  await manager.screenshot({ path: join(shots, 'retention.png'), fullPage: true });
  {
    const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true, storageState: await manager.context().storageState() });
    const page = await context.newPage();
    await page.goto(`${base}/retention`);
    await page.addScriptTag({ content: axe });
    const result = await page.evaluate(async () => await globalThis.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice'] } }));
    const problems = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    check(problems.length === 0, `axe-core finds no violation on /retention${problems.length ? `: ${problems.join('; ')}` : ''}`);
    await context.close();
  }
  // Journey maps: every journey of the demo draws a map with both lanes, its steps' figures, the weekly
  // times and the stuck list; axe-core finds no violation on the order journey's page.
  check((await manager.goto(`${base}/journeys`)).status() === 200, 'the manager opens /journeys');
  const journeyLinks = await manager.locator('table a[href^="/journeys/"]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  check(journeyLinks.length === 3, `/journeys lists the demo's 3 journeys (${journeyLinks.join(', ')})`);
  await manager.screenshot({ path: join(shots, 'journeys.png'), fullPage: true });
  for (const href of journeyLinks) {
    const name = decodeURIComponent(href.split('/').pop());
    check((await manager.goto(`${base}${href}`)).status() === 200, `the manager opens ${href}`);
    const map = manager.locator('svg.journey-map');
    check((await map.count()) === 1, `${name}: a journey map`);
    const mapText = await map.textContent();
    check(mapText.includes('What the customer sees') && mapText.includes('Behind the scenes'), `${name}: the map has both lanes`);
    const reached = await manager.locator('table.steps tbody tr td:nth-child(3)').allInnerTexts();
    const counts = reached.map((t) => Number(t.replace(/\D/g, '')));
    check(counts.length >= 3 && counts[0] > 100 && counts.every((c, i) => i === 0 || c <= counts[i - 1]), `${name}: steps reached ${counts.join(' ≥ ')} (each at most the one before)`);
    check(/%/.test(mapText) && /p50 \d/.test(mapText), `${name}: edges labelled with conversion and p50/p90 times`);
    check((await manager.locator('table.weekly tbody tr').count()) >= 12, `${name}: a weekly row per week of the period`);
    await manager.screenshot({ path: join(shots, `journey-${name}.png`), fullPage: true });
  }
  {
    const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true, storageState: await manager.context().storageState() });
    const page = await context.newPage();
    await page.goto(`${base}/journeys/order`);
    await page.addScriptTag({ content: axe });
    const result = await page.evaluate(async () => await globalThis.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice'] } }));
    const problems = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    check(problems.length === 0, `axe-core finds no violation on /journeys/order${problems.length ? `: ${problems.join('; ')}` : ''}`);
    await context.close();
  }
  // A stuck customer's own page says where they are in the journey.
  await manager.goto(`${base}/journeys/order`);
  const stuckLink = manager.locator('table.stuck a').first();
  if ((await stuckLink.count()) === 1) {
    await stuckLink.click();
    const row = await manager.locator('table.customer-journeys').innerText();
    check(/stuck/.test(row), 'a stuck customer\'s page shows the journey they are stuck in');
    await manager.screenshot({ path: join(shots, 'customer-journeys.png'), fullPage: true });
  } else {
    check(false, 'the demo has someone stuck in the order journey');
  }
  const csv = await manager.request.get(`${base}/promises?format=csv`);
  check(csv.status() === 200 && (await csv.text()).startsWith('period_start,policy,'), 'the promises CSV downloads');

  // The admin manages users and keys and views the policies.
  const admin = await session('admin');
  for (const [path, name] of [['/admin/users', 'users'], ['/admin/keys', 'keys'], ['/admin/policies', 'policies']]) {
    const response = await admin.goto(`${base}${path}`);
    check(response.status() === 200, `the admin opens ${path}`);
    await admin.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  }
  await admin.goto(`${base}/admin/keys`);
  await admin.fill('form[action="/admin/keys"] input[name=name]', 'browser-test');
  await Promise.all([admin.waitForNavigation(), admin.click('button[value=create]')]);
  check((await admin.locator('#new-key').count()) === 1, 'a new API key is shown once');
  // The demo prints one customer's own page: it opens without a login.
  const visitor = await (await browser.newContext({ viewport: { width: 390, height: 900 } })).newPage();
  const opened = await visitor.goto(status);
  check(opened.status() === 200 && (await visitor.locator('h1').innerText()).includes('what we promised you'), 'the demo customer\'s printed link opens their page');
  await visitor.screenshot({ path: join(shots, 'demo-status.png'), fullPage: true });
  check(blocked.length === 0, `the Content-Security-Policy blocked nothing${blocked.length ? `: ${blocked.join('; ')}` : ''}`);
  console.log('all browser checks passed');
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
