// Runs www/bench.html in headless Chromium (WebGPU on) and prints its table; with --json FILE
// writes the run's JSON. Serves the repository's root, since the page reads tests/fixtures/.
//   node scripts/bench-web.mjs [--quick] [--only matmul/,gpt.] [--json FILE]
// after scripts/build-web.sh --bench; scripts/bench-web.sh does both.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { serve } from './static-server.mjs';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean' }, only: { type: 'string' }, json: { type: 'string' } },
});
const server = await serve('.', 0);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  // Developer features give timestamps at full resolution rather than rounded to 100 us.
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-webgpu-developer-features',
    '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error(`console: ${m.text()}`); });
  const query = new URLSearchParams({ run: '' });
  if (args.quick) query.set('quick', '');
  if (args.only) query.set('only', args.only);
  await page.goto(`http://127.0.0.1:${server.address().port}/www/bench.html?${query}`);
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null,
    { timeout: 0 });
  console.log(await page.locator('#adapter').textContent());
  const table = await page.locator('#bench-table tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  for (const [name, ...cells] of table) {
    console.log(`${name.padEnd(32)} ${cells.map((c) => c.padStart(16)).join(' ')}`);
  }
  const status = await page.locator('#bench-status').textContent();
  console.log(status);
  if (await page.evaluate(() => document.body.dataset.state) !== 'done') process.exitCode = 1;
  else if (args.json) {
    await writeFile(args.json, await page.locator('#bench-json').textContent());
    console.log(`wrote ${args.json}`);
  }
} finally {
  await browser.close();
  server.close();
}
