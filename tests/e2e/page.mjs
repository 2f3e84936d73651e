// Serves www/, opens it in Debian's Chromium with WebGPU on, and checks that the page names its
// adapter, that our kernels verified on it, that the tabs switch, and that nothing hit the console.
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/static-server.mjs';

const server = await serve('www', 0);
const url = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures.push(what); };

try {
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  await page.goto(url);

  const adapter = page.locator('#adapter');
  await page.waitForFunction(() => document.getElementById('adapter').dataset.state !== 'pending',
    null, { timeout: 60_000 });
  const state = await adapter.getAttribute('data-state');
  const text = await adapter.textContent();
  console.log(`adapter line: ${text}`);
  check(state === 'ready', `the page found a WebGPU adapter and its kernels verified (state ${state})`);
  const name = await adapter.getAttribute('data-adapter');
  check(Boolean(name) && name !== 'an unnamed adapter', `the page names the adapter (${name})`);
  check(await page.locator('#no-webgpu').isHidden(), 'no "no WebGPU" notice');

  for (const name of ['vae', 'transformer', 'gan']) {
    await page.click(`#tab-${name}`);
    const shown = await page.locator(`#panel-${name}`).isVisible();
    const others = await page.locator(`[role="tabpanel"]:not(#panel-${name})`).evaluateAll(
      (panels) => panels.every((p) => p.hidden));
    check(shown && others, `tab ${name} shows its panel alone`);
  }
  check(consoleErrors.length === 0, `no console errors ${JSON.stringify(consoleErrors)}`);

  // A browser without WebGPU gets an explanation, not a broken page.
  const bare = await browser.newPage();
  await bare.addInitScript(() => { delete Navigator.prototype.gpu; });
  await bare.goto(url);
  await bare.waitForFunction(() => document.getElementById('adapter').dataset.state !== 'pending');
  const reason = await bare.locator('#no-webgpu-reason').textContent();
  check(await bare.locator('#no-webgpu').isVisible() && /WebGPU/.test(reason),
    `without WebGPU the page explains why ("${reason}")`);
} finally {
  await browser.close();
  server.close();
}
if (failures.length) {
  console.error(`${failures.length} page check(s) failed`);
  process.exit(1);
}
console.log('page test passed');
