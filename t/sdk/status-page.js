// The status page in the system's Chromium, driven by playwright-core:
//   node status-page.js URL [SCREENSHOT] [SECONDS]
// loads URL, waits for the first poll, watches it for SECONDS more, and
// prints what a person would see as one JSON line.

'use strict';

const { chromium } = require('playwright-core');
const [url, shot, watch] = process.argv.slice(2);

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic',
           '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));

  await page.goto(url);
  await page.waitForSelector('#dests tr', { timeout: 10000 });

  const numbers = [];
  const end = Date.now() + (Number(watch) || 0) * 1000;
  do {
    await page.waitForTimeout(500);
    numbers.push(...await page.$$eval('td.n', (tds) => tds.map((t) => t.textContent)));
  } while (Date.now() < end);

  const rows = await page.$$eval('#dests tr', (trs) =>
    trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
  const clients = await page.$$eval('#clients tr', (trs) =>
    trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
  const problems = await page.$$eval('#problems span', (s) => s.map((x) => x.textContent));
  const updated = await page.textContent('#updated');
  const markup = await page.$$eval('#dests *, #clients *, #problems *',
    (els) => els.filter((e) => !['TR', 'TD', 'SPAN'].includes(e.tagName)).length);

  if (shot) {
    await page.screenshot({ path: shot, fullPage: true });
  }

  console.log(JSON.stringify({ errors, rows, clients, problems, updated, markup,
                               negative: numbers.filter((v) => /^-\d/.test(v)) }));
  await browser.close();
})().catch((e) => {
  console.log(JSON.stringify({ fatal: String(e) }));
  process.exit(1);
});
