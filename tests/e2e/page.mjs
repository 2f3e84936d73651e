// Serves www/, opens it in Debian's Chromium with WebGPU on, and checks that the page names its
// adapter, that our kernels verified on it, that the tabs switch, that the GAN tab draws, scores
// and steers its samples, that "Is it a copy?" finds a training image near a sample, and that
// nothing hit the console. Leaves screenshots of the GAN tab in /tmp/gan_tab.png and, with the
// copy answer shown, /tmp/gan_copy.png. Then checks the VAE tab: samples from the prior, the
// 2-D latent map, drawing and encoding an image, dragging the map's handle, the GAN beside the
// VAE; its screenshot is /tmp/vae_tab.png.
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

// Every grid canvas as a string of its grey levels, with whether it is blank (no pixel above 40,
// or all pixels equal).
const gridImages = (page) => page.locator('#gan-grid .gan-sample canvas').evaluateAll((canvases) =>
  canvases.map((c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const grey = data.filter((_, i) => i % 4 === 0);
    const blank = !grey.some((v) => v > 40) || grey.every((v) => v === grey[0]);
    return { key: grey.join(','), blank };
  }));
const gridScores = (page) => page.locator('#gan-grid .gan-sample .gan-score').evaluateAll(
  (els) => els.map((el) => Number.parseFloat(el.dataset.score)));
const generation = (page) => page.locator('#gan-grid').evaluate((g) => Number(g.dataset.generation ?? 0));
const waitForGeneration = (page, after, timeout = 120_000) => page.waitForFunction(
  (n) => Number(document.getElementById('gan-grid').dataset.generation ?? 0) > n, after, { timeout });

// Whether a canvas is blank: no pixel above 40, or all pixels equal.
const canvasBlank = (page, selector) => page.locator(selector).evaluate((c) => {
  const grey = c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0);
  return !grey.some((v) => v > 40) || grey.every((v) => v === grey[0]);
});

// Asks "Is it a copy?" for one sample: a distance in (0, 28), a drawn neighbour and a caption
// that names it; choosing another sample clears the answer.
async function checkCopy(page) {
  await page.locator('#gan-grid .gan-sample').nth(2).click();
  await page.click('#gan-copy');
  await page.waitForFunction(() => document.getElementById('gan-copy-distance').dataset.distance !== undefined,
    null, { timeout: 120_000 });
  const distance = Number.parseFloat(await page.locator('#gan-copy-distance').getAttribute('data-distance'));
  check(Number.isFinite(distance) && distance > 0 && distance < 28,
    `the nearest training image is at a distance in (0, 28) (${distance})`);
  check(await page.locator('#gan-copy-result').isVisible() && !(await canvasBlank(page, '#gan-copy-canvas')),
    'the nearest training image is drawn');
  const neighbour = await page.locator('#gan-copy-neighbour').textContent();
  check(/^training image #\d+, an? \S/.test(neighbour), `the caption names the training image ("${neighbour}")`);
  await page.screenshot({ path: '/tmp/gan_copy.png', fullPage: true });
  await page.locator('#gan-grid .gan-sample').nth(3).click();
  check(await page.locator('#gan-copy-result').isHidden() &&
    await page.locator('#gan-copy-distance').getAttribute('data-distance') === null,
    'choosing another sample clears the answer');
}

// Draws 16 samples, asks whether one is a copy, redraws them, switches to MNIST, steers one and
// interpolates.
async function checkGanTab(page) {
  await page.click('#tab-gan');
  await waitForGeneration(page, 0);
  const first = await gridImages(page);
  const scores = await gridScores(page);
  check(first.length === 16, `the GAN grid holds 16 samples (${first.length})`);
  const drawn = first.filter((c) => !c.blank).length;
  check(drawn >= 12, `at least 12 of the 16 samples are drawn (${drawn})`);
  check(scores.length === 16 && scores.every((s) => s >= 0 && s <= 1),
    `every discriminator score is a probability (${scores.map((s) => s.toFixed(2)).join(' ')})`);
  const timing = await page.locator('#gan-timing').textContent();
  check(/last batch: 16 images in \d+ ms/.test(timing), `the page times the batch ("${timing}")`);
  await page.screenshot({ path: '/tmp/gan_tab_fashion.png', fullPage: true });
  await checkCopy(page);

  let seen = await generation(page);
  await page.click('#gan-new');
  await waitForGeneration(page, seen);
  const second = await gridImages(page);
  const changed = second.filter((c, i) => c.key !== first[i].key).length;
  check(changed >= 12, `"New samples" draws new images (${changed} of 16 changed)`);

  seen = await generation(page);
  await page.selectOption('#gan-dataset', 'mnist');
  await waitForGeneration(page, seen);
  const digits = await gridImages(page);
  const classes = await page.locator('#gan-class option').allTextContents();
  check(await page.locator('#gan-grid').getAttribute('data-dataset') === 'mnist' &&
    digits.filter((c, i) => !c.blank && c.key !== second[i].key).length >= 12,
    'switching to MNIST redraws the grid');
  check(classes.slice(1).join('') === '0123456789', `the class picker lists the digits (${classes.slice(1)})`);

  const sample = page.locator('#gan-grid .gan-sample').nth(5);
  await sample.click();
  check(await sample.getAttribute('aria-pressed') === 'true', 'a clicked sample is selected');
  const before = (await gridImages(page))[5].key;
  const version = Number(await sample.getAttribute('data-version'));
  await page.locator('#gan-sliders input[type=range]').first().fill('2.5');
  await page.waitForFunction((v) => Number(document.querySelectorAll('#gan-grid .gan-sample')[5]
    .dataset.version) > v, version, { timeout: 60_000 });
  check((await gridImages(page))[5].key !== before, 'moving a slider redraws the selected sample');

  await page.click('#gan-interpolate');
  await page.waitForFunction(() => Number(document.getElementById('gan-interp-canvas').dataset.frame) > 5,
    null, { timeout: 120_000 });
  const caption = await page.locator('#gan-interp-caption').textContent();
  check(/frame \d+ \/ 60/.test(caption), `the interpolation animates ("${caption}")`);
  await page.screenshot({ path: '/tmp/gan_tab.png', fullPage: true });
  await page.click('#gan-interpolate');
  check(await page.locator('#gan-interpolate').textContent() === 'Interpolate', '"Stop" stops the interpolation');
}

// Every canvas under `selector` as a string of its grey levels, with whether it is blank.
const canvasImages = (page, selector) => page.locator(selector).evaluateAll((canvases) =>
  canvases.map((c) => {
    const grey = c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0);
    return { key: grey.join(','), blank: !grey.some((v) => v > 40) || grey.every((v) => v === grey[0]) };
  }));
const dataNumber = (page, selector, name) => page.locator(selector).evaluate(
  (el, key) => Number(el.dataset[key] ?? 0), name);
const waitForData = (page, selector, name, after, timeout = 120_000) => page.waitForFunction(
  ([sel, key, n]) => Number(document.querySelector(sel).dataset[key] ?? 0) > n,
  [selector, name, after], { timeout });
// Waits until the handle's preview shows the handle's current point.
const waitForPoint = (page) => page.waitForFunction(() => {
  const [point, shown] = ['vae-point', 'vae-point-canvas'].map((id) => document.getElementById(id).dataset);
  return point.x === shown.x && point.y === shown.y;
}, null, { timeout: 60_000 });

// Samples the prior, draws the latent map, switches to MNIST, draws a stroke and encodes it,
// drags the map's handle and compares the GAN with the VAE.
async function checkVaeTab(page) {
  await page.click('#tab-vae');
  await waitForData(page, '#vae-samples', 'generation', 0);
  await waitForData(page, '#vae-map', 'generation', 0);
  const samples = await canvasImages(page, '#vae-samples canvas');
  check(samples.length === 16 && samples.filter((c) => !c.blank).length >= 12,
    `the VAE draws 16 samples from its prior (${samples.filter((c) => !c.blank).length} drawn)`);
  check(!(await canvasBlank(page, '#vae-map')), 'the VAE latent map is drawn');
  const legend = await page.locator('#vae-legend li').allTextContents();
  check(legend.length === 10 && legend.includes('Sneaker'), `the map's legend names the classes (${legend})`);

  let seen = await dataNumber(page, '#vae-samples', 'generation');
  await page.click('#vae-sample');
  await waitForData(page, '#vae-samples', 'generation', seen);
  const resampled = await canvasImages(page, '#vae-samples canvas');
  check(await page.inputValue('#vae-seed') === '2' &&
    resampled.filter((c, i) => c.key !== samples[i].key).length >= 12, '"Sample" draws the next seed');

  seen = await dataNumber(page, '#vae-map', 'generation');
  await page.selectOption('#vae-dataset', 'mnist');
  await waitForData(page, '#vae-map', 'generation', seen);
  check(await page.locator('#vae-map').getAttribute('data-dataset') === 'mnist' &&
    !(await canvasBlank(page, '#vae-map')), 'switching the VAE to MNIST redraws the map');

  // A stroke like a 7, drawn with the mouse (which works in the viewport's coordinates).
  await page.locator('#vae-draw').scrollIntoViewIfNeeded();
  const pad = await page.locator('#vae-draw').boundingBox();
  const at = (fx, fy) => [pad.x + fx * pad.width, pad.y + fy * pad.height];
  await page.mouse.move(...at(0.3, 0.25));
  await page.mouse.down();
  await page.mouse.move(...at(0.7, 0.25), { steps: 6 });
  await page.mouse.move(...at(0.45, 0.8), { steps: 8 });
  await page.mouse.up();
  check(!(await canvasBlank(page, '#vae-draw')), 'the mouse draws on the pad');

  const initial = await page.locator('#vae-marker').evaluate((el) => [el.dataset.x, el.dataset.y]);
  await page.click('#vae-encode');
  await waitForData(page, '#vae-recon', 'version', 0);
  check(!(await canvasBlank(page, '#vae-recon')), 'Encode draws the reconstruction');
  const marker = await page.locator('#vae-marker').evaluate((el) => [el.dataset.x, el.dataset.y]);
  check(marker.every((v, i) => v !== initial[i] && Number.isFinite(Number.parseFloat(v))) &&
    await page.locator('#vae-marker').isVisible(), `the map marks the encoded mean (${marker})`);
  await waitForData(page, '#vae-interp', 'version', 0);
  const strip = await canvasImages(page, '#vae-interp canvas');
  check(strip.length === 12 && strip.filter((c) => !c.blank).length >= 10,
    `the interpolation shows 10 steps between the two images (${strip.filter((c) => !c.blank).length} of 12 drawn)`);

  await waitForPoint(page);
  const point = await page.locator('#vae-point').evaluate((el) => [el.dataset.x, el.dataset.y]);
  check(point[0] === marker[0] && point[1] === marker[1], 'Encode moves the handle to the mean');
  const before = (await canvasImages(page, '#vae-point-canvas'))[0].key;
  await page.locator('#vae-point').scrollIntoViewIfNeeded();
  const handle = await page.locator('#vae-point').boundingBox();
  await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
  await page.mouse.down();
  await page.mouse.move(handle.x + handle.width / 2 + 50, handle.y + handle.height / 2 - 40, { steps: 5 });
  await page.mouse.up();
  await waitForPoint(page);
  const moved = await page.locator('#vae-point').evaluate((el) => [el.dataset.x, el.dataset.y]);
  check(moved[0] !== point[0] && (await canvasImages(page, '#vae-point-canvas'))[0].key !== before,
    `dragging the handle decodes its new point (${moved})`);

  await page.waitForFunction(() => document.getElementById('vae-vs-gan-row').dataset.label !== undefined,
    null, { timeout: 120_000 });
  const gan = await canvasImages(page, '#vae-vs-gan-row canvas');
  const vae = await canvasImages(page, '#vae-vs-vae-row canvas');
  check(gan.length === 8 && vae.length === 8 && [...gan, ...vae].filter((c) => !c.blank).length >= 14,
    'GAN samples and VAE reconstructions of one class stand side by side');
  await page.screenshot({ path: '/tmp/vae_tab.png', fullPage: true });
}

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

  await checkGanTab(page);
  check(consoleErrors.length === 0, `no console errors after the GAN tab ${JSON.stringify(consoleErrors)}`);

  await checkVaeTab(page);
  check(consoleErrors.length === 0, `no console errors after the VAE tab ${JSON.stringify(consoleErrors)}`);

  // A browser without WebGPU gets an explanation, not a broken page.
  const bare = await browser.newPage();
  await bare.addInitScript(() => { delete Navigator.prototype.gpu; });
  await bare.goto(url);
  await bare.waitForFunction(() => document.getElementById('adapter').dataset.state !== 'pending');
  const reason = await bare.locator('#no-webgpu-reason').textContent();
  check(await bare.locator('#no-webgpu').isVisible() && /WebGPU/.test(reason),
    `without WebGPU the page explains why ("${reason}")`);
  await bare.click('#tab-gan');
  check(await bare.locator('#panel-gan .explain').isVisible() && await bare.locator('#gan-lab').isHidden(),
    'without WebGPU the GAN tab shows its explanation and no controls');
  await bare.click('#tab-vae');
  check(await bare.locator('#panel-vae .explain').isVisible() && await bare.locator('#vae-lab').isHidden(),
    'without WebGPU the VAE tab shows its explanation and no controls');
} finally {
  await browser.close();
  server.close();
}
if (failures.length) {
  console.error(`${failures.length} page check(s) failed`);
  process.exit(1);
}
console.log('page test passed');
