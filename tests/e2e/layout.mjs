// The page as a new visitor meets it, on a phone (390 x 844) and a desktop (1280 x 800), in the
// light and the dark theme: on every view (the GAN, VAE and diffusion tabs, the GPT, the chat model and the image GPT) the model's output
// lies within the first screen and nothing overflows sideways, and axe-core finds no violation
// of impact "serious" or "critical". Then the address: a link opens a view with its settings,
// back and forward step through the views visited, and with less motion asked for the GPT waits
// to be asked. Last, the keyboard: Tab reaches the GAN's samples and Enter picks one, the GAN's
// training part takes a step, the arrow keys move the VAE map's handle, and "Pick an image"
// stands in for the drawing pad.
// Screenshots: /tmp/layout-<view>-<phone|desktop>-<light|dark>.png.
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/static-server.mjs';

const server = await serve('www', 0);
const url = `http://127.0.0.1:${server.address().port}/`;
const axeSource = await readFile('node_modules/axe-core/axe.min.js', 'utf8');
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures.push(what); };
const LONG = { timeout: 300_000 };

// Each view, what shows its model working, and when that is there.
const VIEWS = {
  gan: { output: '#gan-grid .gan-sample', ready: () => Number(document.getElementById('gan-grid').dataset.generation) > 0 },
  vae: { output: '#vae-samples canvas', ready: () => Number(document.getElementById('vae-samples').dataset.generation) > 0 },
  // Two steps (by the address), for speed on a software adapter.
  diffusion: { link: 'diffusion?steps=2', output: '#diff-grid .diff-sample', ready: () => Number(document.getElementById('diff-grid').dataset.runs) > 0 },
  gpt: { output: '#gpt-output', ready: () => document.getElementById('gpt-generated').textContent.length >= 5 },
  chat: { output: '#chat-load', ready: () => !document.getElementById('chat-lab').hidden },
  imagegpt: { link: 'imagegpt?class=3&seed=2', output: '#igpt-image', ready: () => Number(document.getElementById('igpt-image').dataset.runs) > 0 },
};
const SIZES = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 800 } };

// Where the view's output lies on the first screen (at least 80 pixels of it, or all of a smaller
// one, above the fold), and whether the page is wider than the window.
const measure = (page, output) => page.evaluate((selector) => {
  scrollTo(0, 0);
  const box = document.querySelector(selector).getBoundingClientRect();
  const visible = Math.min(box.height, 80);
  return {
    top: Math.round(box.top),
    inFirstScreen: box.height > 0 && box.top >= 0 && box.top + visible <= innerHeight,
    wider: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  };
}, output);

// axe-core's serious and critical violations on the page as it is now, one line each.
async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => (await window.axe.run(document)).violations);
  return violations.filter((v) => ['serious', 'critical'].includes(v.impact))
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

async function checkLayout(size) {
  const context = await browser.newContext({ viewport: SIZES[size] });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  for (const view of Object.keys(VIEWS)) {
    await page.goto(`${url}#${VIEWS[view].link ?? view}`);
    await page.waitForFunction(VIEWS[view].ready, null, LONG);
    for (const theme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: theme });
      const where = `${view}, ${size}, ${theme}`;
      const { top, inFirstScreen, wider } = await measure(page, VIEWS[view].output);
      check(inFirstScreen, `${where}: the model's output is on the first screen (top at ${top} px)`);
      check(wider <= 0, `${where}: nothing overflows sideways (${wider} px too wide)`);
      const found = await axeViolations(page);
      check(found.length === 0, `${where}: axe finds no serious or critical violation${found.length ? `:\n  ${found.join('\n  ')}` : ''}`);
      await page.screenshot({ path: `/tmp/layout-${view}-${size}-${theme}.png` });
    }
  }
  check(errors.length === 0, `${size}: no console errors (${errors.join(' | ')})`);
  await context.close();
}

// A link opens its view with its settings; back and forward step through the views visited.
async function checkAddress() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${url}#gan?dataset=mnist&class=3&seed=9`);
  await page.waitForFunction(VIEWS.gan.ready, null, LONG);
  const gan = await page.evaluate(() => ({
    dataset: document.getElementById('gan-dataset').value,
    class: document.getElementById('gan-class').value,
    drawn: document.getElementById('gan-grid').dataset.dataset,
    status: document.getElementById('gan-status').textContent,
  }));
  check(gan.dataset === 'mnist' && gan.class === '3' && gan.drawn === 'mnist' && /seed 9/.test(gan.status),
    `a link opens the GAN with its data set, class and seed (${JSON.stringify(gan)})`);
  await page.click('#tab-vae');
  await page.waitForFunction(VIEWS.vae.ready, null, LONG);
  check(/^#vae\?dataset=\w+&seed=\d+$/.test(await page.evaluate(() => location.hash)),
    `showing the VAE tab puts it in the address (${await page.evaluate(() => location.hash)})`);
  await page.fill('#vae-seed', '5');
  await page.locator('#vae-seed').dispatchEvent('change');
  await page.waitForFunction(() => document.getElementById('vae-samples').dataset.seed === '5', null, LONG);
  const selected = () => page.evaluate(() => document.querySelector('[role="tab"][aria-selected="true"]').id);
  await page.goBack();
  await page.waitForFunction(() => document.getElementById('vae-samples').dataset.seed !== '5', null, LONG);
  check(await selected() === 'tab-vae', 'back returns to the seed before');
  await page.goBack();
  await page.waitForFunction(() => !document.getElementById('panel-gan').hidden, null, LONG);
  check(await selected() === 'tab-gan', 'back again returns to the GAN tab');
  await page.goForward();
  await page.waitForFunction(() => !document.getElementById('panel-vae').hidden, null, LONG);
  check(await selected() === 'tab-vae', 'forward shows the VAE tab again');
  await context.close();

  // Less motion: the GPT loads but writes only when asked.
  const still = await browser.newContext({ reducedMotion: 'reduce' });
  const calm = await still.newPage();
  await calm.goto(`${url}#gpt?seed=4&length=40`);
  await calm.waitForFunction(() => document.getElementById('gpt-status').dataset.state === 'ready', null, LONG);
  await calm.waitForTimeout(1000);
  const run = await calm.evaluate(() => document.getElementById('gpt-output').dataset.run);
  const fields = await calm.evaluate(() => [document.getElementById('gpt-seed').value, document.getElementById('gpt-length').value]);
  check(run === undefined && fields.join() === '4,40',
    `with less motion asked for the GPT waits, and the link's settings are in its fields (run ${run}, ${fields})`);
  await still.close();
}

// The keyboard reaches and works the controls: Tab comes to the GAN's samples and Enter selects
// one; the VAE map's handle moves with the arrow keys; "Pick an image" stands in for drawing.
async function checkKeyboard() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${url}#gan`);
  await page.waitForFunction(VIEWS.gan.ready, null, LONG);
  await page.focus('#tab-gan');
  let presses = 0;
  const onSample = () => page.evaluate(() => document.activeElement?.classList.contains('gan-sample'));
  while (presses < 40 && !(await onSample())) {
    await page.keyboard.press('Tab');
    presses++;
  }
  check(await onSample(), `Tab reaches the GAN's samples (${presses} presses from the tabs)`);
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  const selected = await page.evaluate(() => [...document.querySelectorAll('#gan-grid .gan-sample')]
    .findIndex((b) => b.getAttribute('aria-pressed') === 'true'));
  check(selected === 1, `Enter selects the sample with the focus (sample ${selected + 1})`);
  // "Train it yourself": a batch size typed, then Step from the keyboard takes a step.
  await page.fill('#gan-train-batch', '4');
  await page.focus('#gan-train-step'); // leaving the field changes it
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('gan-train').dataset.steps === '1', null, LONG);
  const seen = await page.evaluate(() => document.getElementById('gan-train').dataset.imagesSeen);
  check(seen === '4', `Step, from the keyboard, takes a training step of the batch typed (${seen} images seen)`);

  await page.goto(`${url}#vae`);
  await page.waitForFunction(() => !document.getElementById('vae-pick').disabled, null, LONG); // loaded
  await page.focus('#vae-point');
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Shift+ArrowUp');
  const [x, y] = await page.evaluate(() => ['x', 'y'].map((a) => Number(document.getElementById('vae-point').dataset[a])));
  check(Math.abs(x - 0.3) < 1e-6 && Math.abs(y - 0.5) < 1e-6, `the arrow keys move the map's handle (to ${x}, ${y})`);
  await page.focus('#vae-pick');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /^training image #/.test(document.getElementById('vae-draw-caption').textContent), null, LONG);
  check(true, '"Pick an image", from the keyboard, puts a training image on the pad');
  await context.close();
}

try {
  for (const size of Object.keys(SIZES)) await checkLayout(size);
  await checkAddress();
  await checkKeyboard();
} finally {
  await browser.close();
  server.close();
}
if (failures.length) {
  console.error(`${failures.length} layout check(s) failed:\n${failures.join('\n')}`);
  process.exit(1);
}
console.log('every layout check passed');
