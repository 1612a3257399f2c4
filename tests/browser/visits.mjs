// Browser test of Seen's front desk: the real `seen demo --serve` driven by Debian's chromium through
// playwright-core. A visitor checks in at the kiosk on a 390 px phone and watches their own page; staff call,
// serve and finish them on the board; the visitor's page and the waiting-room display follow live (Server-Sent
// Events, no reload); a manager opens the figures. axe-core checks the kiosk, the visitor's page, the display
// and the board. Run by `cargo test --test it browser` (tests/it/browser.rs), which passes SEEN_BIN and
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
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/// How long a live page may take to follow a change (the streams also re-render every 5 s).
const LIVE = 10_000;

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

// Start the demo and read its address and logins from stdout.
const dir = mkdtempSync(join(tmpdir(), 'seen-visits-'));
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
    if (address && logins.length === 3) {
      clearTimeout(timer);
      resolve({ base: address[1], logins: Object.fromEntries(logins.map((m) => [m[1], { email: m[2], password: m[3] }])) });
    }
  });
  server.on('exit', (code) => reject(new Error(`the demo exited (${code}):\n${out}`)));
});

let browser;
try {
  const { base, logins } = await started;
  browser = await chromium.launch({
    executablePath: browserPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });

  // Anything the Content-Security-Policy blocks (an inline style or script, a foreign resource) fails the test;
  // so does a script error on a live page.
  const blocked = [];
  const errors = [];
  function watch(page, what) {
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) blocked.push(`${what}: ${msg.text()}`);
    });
    page.on('pageerror', (error) => errors.push(`${what}: ${error.message}`));
    return page;
  }

  // axe-core (WCAG 2 A/AA and best practices) on a page as it is; serious and critical violations fail the
  // test, lesser ones are listed. Injecting axe needs CSP bypassed, in a context of its own (with a session's
  // cookies when given).
  async function accessible(url, what, { width = 1280, storageState } = {}) {
    const context = await browser.newContext({ viewport: { width, height: 900 }, bypassCSP: true, storageState });
    const page = await context.newPage();
    await page.goto(url);
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () => await globalThis.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice'] } }));
    const describe = (v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`;
    const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    const minor = result.violations.filter((v) => !serious.includes(v));
    if (minor.length) console.log(`note - axe-core on ${what}: ${minor.map(describe).join('; ')}`);
    check(serious.length === 0, `axe-core finds no serious or critical violation on ${what} at ${width} px${serious.length ? `: ${serious.map(describe).join('; ')}` : ''}`);
    await context.close();
  }

  // Counts the main frame's navigations after `mark()`: a live page must change without one.
  function navigations(page) {
    let count = 0;
    page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) count += 1; });
    return { mark: () => { count = 0; }, get count() { return count; } };
  }

  // The live element has its stream open once it got the first `update` (sent as soon as it connects).
  async function live(page, what) {
    await page.locator('[data-live][data-updated]').waitFor({ timeout: LIVE });
    check(true, `${what}: the live stream is connected`);
  }

  // 1. The visitor checks in on a phone.
  const name = `Zora${Math.floor(100000 + Math.random() * 900000)}`;
  const phoneContext = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const phone = watch(await phoneContext.newPage(), 'the visitor');
  const kiosk = await phone.goto(`${base}/visit/main`);
  check(kiosk.status() === 200, 'the kiosk opens without a login');
  check((await phone.locator('h1').innerText()).includes('Check in at'), 'the kiosk asks the visitor to check in');
  await phone.locator('input[name=visit_type][value=collection]').check();
  await phone.fill('input[name=first_name]', name);
  const overflowKiosk = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflowKiosk <= 0, `nothing on the kiosk overflows the 390 px screen (${overflowKiosk} px)`);
  const joinButton = phone.locator('button[type=submit]', { hasText: 'Join the queue' });
  const box = await joinButton.boundingBox();
  check(box && box.height >= 44, `"Join the queue" is a comfortable tap target (${box && box.height} px high)`);
  await phone.screenshot({ path: join(shots, 'visit-checkin.png'), fullPage: true });
  await Promise.all([phone.waitForURL(/\/v\/[0-9a-f.]+$/), joinButton.click()]);
  const visitUrl = phone.url();
  // The visit link binds HEX(customer).HEX(ref).…: the ref is its second part.
  const reference = Buffer.from(visitUrl.split('/').pop().split('.')[1], 'hex').toString('utf8');
  check(/^V-/.test(reference), `checked in: the visitor's own page is /v/… for visit ${reference}`);
  check((await phone.locator('a', { hasText: 'Everything we promised you' }).count()) === 0, 'a kiosk link shows this visit only');
  check((await phone.locator('h1').innerText()).includes(`Hello ${name}, you're in the queue`), 'the page greets the visitor by name');
  const position = await phone.locator('#position').innerText();
  check(/^(You're next|1 person ahead of you|\d+ people ahead of you)$/.test(position.trim()), `#position shows their place: "${position}"`);
  if ((await phone.locator('#estimate').count()) === 1) console.log(`note - ${await phone.locator('#estimate').innerText()}`);
  check((await phone.locator('.detail').innerText()).includes(reference), `the page shows the reference ${reference}`);
  const overflowVisit = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflowVisit <= 0, `nothing on the visitor's page overflows the 390 px screen (${overflowVisit} px)`);
  await live(phone, 'the visitor\'s page');
  await phone.screenshot({ path: join(shots, 'visit-waiting.png'), fullPage: true });
  await accessible(`${base}/visit/main`, 'the kiosk', { width: 390 });
  await accessible(visitUrl, 'the visitor\'s page (waiting)', { width: 390 });
  await phone.evaluate(() => { window.__marker = 1; });
  const phoneNavigations = navigations(phone);

  // 4 (opened before the call). The waiting-room display, on a wide screen.
  const displayContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const display = watch(await displayContext.newPage(), 'the display');
  check((await display.goto(`${base}/visit/main/display`)).status() === 200, 'the waiting-room display opens without a login');
  await live(display, 'the display');
  const nextUp = display.locator('section[aria-labelledby=next-title]');
  // "Next up" lists the first 8 waiting, longest first.
  const ahead = position.startsWith('You\'re next') ? 0 : Number(position.match(/\d+/)[0]);
  if (ahead < 8) {
    await nextUp.getByText(name).waitFor({ timeout: LIVE });
    check(true, 'the display lists the visitor under "Next up"');
  }
  const nowServing = display.locator('section[aria-labelledby=called-title]');
  check((await nowServing.getByText(name).count()) === 0, 'the visitor is not under "Now serving" yet');
  await display.evaluate(() => { window.__marker = 1; });
  const displayNavigations = navigations(display);

  // 2. Staff log in and open the board for desk-1.
  async function session(role) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = watch(await context.newPage(), role);
    await page.goto(`${base}/login`);
    await page.fill('input[name=email]', logins[role].email);
    await page.fill('input[name=password]', logins[role].password);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    check(!page.url().includes('/login'), `${role}: logged in (${page.url()})`);
    return page;
  }
  const staff = await session('agent');
  const boardUrl = `${base}/board/main?counter=desk-1`;
  check((await staff.goto(boardUrl)).status() === 200, 'the agent opens the board for desk-1');
  await live(staff, 'the board');
  const waiting = staff.locator('section[aria-labelledby=waiting-title] tbody tr', { hasText: name });
  const serving = staff.locator('section[aria-labelledby=serving-title] tbody tr', { hasText: name });
  check((await waiting.count()) === 1, 'the board lists the visitor once among those waiting');
  check((await waiting.locator('th').innerText()).includes(reference), 'their row shows their reference');
  check((await staff.locator('button', { hasText: 'Call next to desk-1' }).count()) === 1, 'the board offers "Call next to desk-1"');
  await staff.screenshot({ path: join(shots, 'board.png'), fullPage: true });
  await accessible(boardUrl, 'the board (a visitor waiting)', { storageState: await staff.context().storageState() });

  // Each button posts its form and comes back to the board.
  async function act(row, label) {
    await Promise.all([staff.waitForNavigation(), row.locator('button', { hasText: label }).click()]);
    check(staff.url() === boardUrl, `"${label}" comes back to the board for desk-1`);
  }

  // 3. Call: the visitor's page says it's their turn, without a reload.
  await act(waiting, 'Call');
  check((await waiting.count()) === 0 && (await serving.count()) === 1, 'the visitor moved from "Waiting" to "Called and being served"');
  check((await serving.locator('td').nth(1).innerText()) === 'called', 'their row says "called"');
  check((await serving.locator('td').nth(3).innerText()).startsWith('desk-1'), 'at desk-1');
  await phone.locator('h1', { hasText: `${name}, it's your turn` }).waitFor({ timeout: LIVE });
  check((await phone.locator('#position').innerText()).trim() === 'Please go to desk-1.', 'the visitor\'s page says "Please go to desk-1." without a reload');
  await phone.screenshot({ path: join(shots, 'visit-called.png'), fullPage: true });

  // 4. The display shows them under "Now serving", without a reload.
  await nowServing.locator('li', { hasText: name }).waitFor({ timeout: LIVE });
  check((await nowServing.locator('li', { hasText: name }).innerText()).includes('desk-1'), 'the display shows the visitor\'s first name → desk-1 under "Now serving"');
  check((await nextUp.getByText(name).count()) === 0, 'and no longer under "Next up"');
  await display.screenshot({ path: join(shots, 'display.png'), fullPage: true });
  await staff.screenshot({ path: join(shots, 'board-called.png'), fullPage: true });
  await accessible(boardUrl, 'the board (a visitor called)', { storageState: await staff.context().storageState() });

  // 5. Serve, then finish.
  await act(serving, 'Serve');
  check((await serving.locator('td').nth(1).innerText()) === 'serving', 'their row says "serving"');
  await phone.locator('h1', { hasText: 'You\'re being served' }).waitFor({ timeout: LIVE });
  check((await phone.locator('#position').innerText()).trim() === 'At desk-1.', 'the visitor\'s page says "You\'re being served" at desk-1 without a reload');
  await phone.screenshot({ path: join(shots, 'visit-serving.png'), fullPage: true });
  await act(serving, 'Finish');
  check((await serving.count()) === 0 && (await waiting.count()) === 0, 'the finished visitor left the board');
  await phone.locator('h1', { hasText: 'Thank you for your visit' }).waitFor({ timeout: LIVE });
  check(true, 'the visitor\'s page says "Thank you for your visit" without a reload');
  await phone.screenshot({ path: join(shots, 'visit-finished.png'), fullPage: true });
  await nowServing.getByText(name).waitFor({ state: 'detached', timeout: LIVE });
  check(true, 'the display no longer shows the visitor');

  check(phoneNavigations.count === 0 && (await phone.evaluate(() => window.__marker)) === 1, `the visitor's page was never reloaded (${phoneNavigations.count} navigations)`);
  check(displayNavigations.count === 0 && (await display.evaluate(() => window.__marker)) === 1, `the display was never reloaded (${displayNavigations.count} navigations)`);

  // 6. A manager's figures, with the heatmap.
  const manager = await session('manager');
  check((await manager.goto(`${base}/visits`)).status() === 200, 'the manager opens /visits');
  check((await manager.locator('h1').innerText()) === 'Front desk figures', '/visits shows the front desk figures');
  check((await manager.locator('svg.heatmap').count()) === 1, '/visits has the weekday × hour heatmap');
  const total = await manager.locator('tfoot td').first().innerText();
  check(Number(total) > 0, `/visits counts the demo's visits (${total})`);
  await manager.screenshot({ path: join(shots, 'visits-figures.png'), fullPage: true });
  const agentVisits = await staff.goto(`${base}/visits`);
  check(agentVisits.status() === 403, 'an agent gets 403 on /visits');

  // 7. Accessibility (the kiosk, the visitor's page and the board were checked above): the display.
  await accessible(`${base}/visit/main/display`, 'the display');

  check(blocked.length === 0, `the Content-Security-Policy blocked nothing${blocked.length ? `: ${blocked.join('; ')}` : ''}`);
  check(errors.length === 0, `no script error${errors.length ? `: ${errors.join('; ')}` : ''}`);
  console.log('all front desk checks passed');
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
