// Serves www/, opens it in Debian's Chromium with WebGPU on, and checks that the page names its
// adapter, that our kernels verified on it, that the tabs switch, that the GAN tab draws, scores
// and steers its samples, that "Is it a copy?" finds a training image near a sample, and that
// nothing hit the console. Leaves screenshots of the GAN tab in /tmp/gan_tab.png and, with the
// copy answer shown, /tmp/gan_copy.png. Then trains a GAN in the page ("Train it yourself"): Step
// and Start/Pause advance the counters, the curves and the grid, the failure preset sets its
// settings, the weights download and take the tab's grid (/tmp/gan_train.png). Then checks the VAE tab: samples from the prior, the
// 2-D latent map, drawing and encoding an image, dragging the map's handle, the GAN beside the
// VAE; its screenshot is /tmp/vae_tab.png; then trains a 2-D VAE in the page (the test images
// plotted as it learns, the beta slider, a pause on leaving the tab, the weights, downloaded and in the tab's map: /tmp/vae_train.png). Then the diffusion tab: a timed grid of samples, the
// film of one, the forward process and denoising from it (a training image, then a drawing), the nearest training image, the four
// families compared (/tmp/diffusion_tab.png). Then the Transformer tab: the GPT writes seeded text
// (the same seed twice the same, another seed other text), shows its ten likeliest next
// characters, an attention heatmap and its speed, stops when told and explains bad settings;
// its screenshot is /tmp/gpt_tab.png. Then the image GPT writes an image code by code, top to
// bottom, with its bars and codebook sheet, and stops when told. Then the chat model (SmolLM2-135M-Instruct): a missing
// file is explained, the real one downloads with a progress bar, answers "What is the capital
// of France?" greedily with "Paris", shows its speed and candidates, refuses bad settings, and
// after a reload loads from the browser's cache without a download; its screenshot is
// /tmp/chat_tab.png. Then every export of the wasm package is called with bad arguments (each
// must throw a readable Error, never trap); Chromium without WebGPU runs the GAN (and a
// training step of one), the VAE, the diffusion model, the GPT and the image GPT on the CPU (each writing the same text or codes as on WebGPU) and explains the chat model; and a
// model file altered on its way is refused (its SHA-256 differs from the package's).
// Throughout, no Content-Security-Policy violation happens and no request leaves the page's
// origin. Last, with the network off (and the server stopped), a reload comes up from the
// service worker's cache and the GAN and the GPT still run. It prints the time from opening the
// page to the first GAN images, and the GPT's and the chat model's time a step.
import { readFile, readdir } from 'node:fs/promises';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/static-server.mjs';

const server = await serve('www', 0);
const url = `http://127.0.0.1:${server.address().port}/`;
// Where the genai-lab package keeps model files in the browser (its name carries the version).
const MODEL_CACHE = `genai-lab-models-${JSON.parse(await readFile('www/genai-lab/package.json', 'utf8')).version}`;
const SHELL_CACHE = `genai-lab-shell-v${(await readFile('www/sw.js', 'utf8')).match(/const VERSION = (\d+);/)[1]}`;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures.push(what); };

// Every context records CSP violations (the page's event and the console's report) and any
// request that leaves the page's origin.
const violations = [];
const foreign = [];
const deprecations = []; // such as the wasm glue's warning on an init() of the old form
async function newContext(options = {}) {
  const context = await browser.newContext(options);
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation',
    (e) => console.error(`securitypolicyviolation: ${e.violatedDirective} blocked ${e.blockedURI}`)));
  const watch = (m) => {
    // The event above, or Chromium's own report ("… violates the following Content Security Policy
    // directive …"); not any message that merely names the policy, as the package's download hint does.
    if (/^securitypolicyviolation:|violates the following Content Security Policy/i.test(m.text())) violations.push(m.text());
    if (m.type() === 'warning' && /deprecated/i.test(m.text())) deprecations.push(m.text());
  };
  context.on('page', (page) => {
    page.on('console', watch);
    page.on('worker', (worker) => worker.on('console', watch)); // the package's lab runs in one
  });
  context.on('request', (r) => {
    const to = r.url();
    if (!to.startsWith(url) && !to.startsWith('data:')) foreign.push(to);
  });
  return context;
}
const newPage = async (options) => (await newContext(options)).newPage();

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
// A stroke like a 7 on a drawing pad, with the mouse (which works in the viewport's coordinates).
async function drawSeven(page, selector) {
  await page.locator(selector).scrollIntoViewIfNeeded();
  const pad = await page.locator(selector).boundingBox();
  const at = (fx, fy) => [pad.x + fx * pad.width, pad.y + fy * pad.height];
  await page.mouse.move(...at(0.3, 0.25));
  await page.mouse.down();
  await page.mouse.move(...at(0.7, 0.25), { steps: 6 });
  await page.mouse.move(...at(0.45, 0.8), { steps: 8 });
  await page.mouse.up();
}
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

  await drawSeven(page, '#vae-draw');
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

// Waits until the training part `id` has taken `steps` steps in all and is idle again (its Step
// button on), so that what the steps draw is drawn.
const waitForSteps = (page, id, steps, timeout = 180_000) => page.waitForFunction(([sel, n]) => {
  const section = document.getElementById(sel);
  return Number(section.dataset.steps) >= n && section.dataset.state !== 'running' &&
    !document.getElementById(`${sel}-step`).disabled;
}, [id, steps], { timeout });

// Sets a number field as a reader would: types it, then leaves it (its change fires then).
async function setField(page, selector, value) {
  await page.fill(selector, String(value));
  await page.locator(selector).press('Tab');
}

// Clicks a training part's download button and returns { links, downloads, ok }: the files it
// offers, the files the browser saved, and whether each saved file parses (a card as JSON, weights
// as safetensors: an 8-byte header length, then a JSON header, then the numbers).
async function downloadWeights(page, id) {
  const saved = [];
  const saw = (d) => saved.push(d);
  page.on('download', saw);
  await page.click(`#${id}-download`);
  await page.waitForFunction((sel) => document.getElementById(sel).dataset.files !== undefined,
    `${id}-files`, { timeout: 120_000 });
  const links = (await page.locator(`#${id}-files a`).evaluateAll((as) => as.map((a) => a.download))).sort();
  for (let i = 0; i < 100 && saved.length < links.length; i++) await page.waitForTimeout(100);
  page.off('download', saw);
  const files = await Promise.all(saved.map(async (d) => {
    const bytes = await readFile(await d.path());
    const name = d.suggestedFilename();
    try {
      if (name.endsWith('.json')) return { name, ok: typeof JSON.parse(bytes.toString('utf8')) === 'object' };
      const size = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + size).toString('utf8'));
      return { name, ok: Object.keys(header).length > 1 && bytes.length > 8 + size };
    } catch {
      return { name, ok: false };
    }
  }));
  return { links, downloads: files.map((f) => f.name).sort(), ok: files.length > 0 && files.every((f) => f.ok) };
}

// The GAN tab's "Train it yourself", at batch 2 (on a software adapter a step of batch 4 takes
// seconds, and drawing the grid's 64 images as long): a Step (the counters, the curves and the
// grid advance), then with two discriminator steps per generator step Start and Pause (twice the
// real images seen a step; the grid drawn again), the failure preset, the four files of the
// weights, and Reset.
async function checkGanTraining(page) {
  const id = 'gan-train';
  const section = `#${id}`;
  const started = Date.now();
  await page.click('#tab-gan');
  await page.locator(section).scrollIntoViewIfNeeded();
  const steps = () => dataNumber(page, section, 'steps');
  const seen = () => dataNumber(page, section, 'imagesSeen');
  const points = () => dataNumber(page, '#gan-train-charts', 'points');
  const generation = () => dataNumber(page, '#gan-train-grid', 'generation');
  const grid = async () => (await canvasImages(page, '#gan-train-grid'))[0];
  check(await steps() === 0 && await points() === 0 && await generation() === 0,
    'the GAN training part trains nothing before it is asked');
  await setField(page, '#gan-train-batch', 2);
  await page.click('#gan-train-step');
  await waitForSteps(page, id, 1);
  const first = await grid();
  check(await steps() === 1 && await seen() === 2 && await points() === 1 && await generation() === 1 && !first.blank,
    `a Step: 1 step, 2 real images seen, a point a curve, the 8 x 8 grid drawn (${await steps()}, ${await seen()}, ${await points()})`);
  const legend = await page.locator('#gan-train-losses-legend').textContent();
  check(/discriminator \d/.test(legend) && /generator \d/.test(legend), `the loss chart's legend gives the values ("${legend}")`);

  await setField(page, '#gan-train-d-steps', 2);
  await page.click('#gan-train-start');
  await page.waitForFunction(() => document.getElementById('gan-train-start').textContent === 'Pause', null, { timeout: 60_000 });
  await page.waitForFunction(() => Number(document.getElementById('gan-train').dataset.steps) >= 3, null, { timeout: 180_000 });
  await page.click('#gan-train-start');
  await waitForSteps(page, id, 3);
  const n = await steps();
  const status = await page.locator('#gan-train-status').textContent();
  const speed = await page.locator('#gan-train-speed').textContent();
  check(await seen() === 2 + 4 * (n - 1) && await points() === n && /paused after/.test(status) &&
    await page.locator('#gan-train-start').textContent() === 'Start',
    `Start trains until Pause: ${n} steps, ${await seen()} real images seen (2, then 2 x 2 a step) ("${status}")`);
  const last = await grid();
  check(await generation() >= 2 && await dataNumber(page, '#gan-train-grid', 'step') === n && !last.blank &&
    last.key !== first.key, 'the grid is drawn again, changed, and shows the last step once paused');
  check(/steps\/s/.test(speed) && /real images seen/.test(speed), `it shows its speed ("${speed}")`);

  await page.selectOption('#gan-train-preset', 'd-wins');
  const fields = await Promise.all(['lr-g', 'lr-d', 'd-steps'].map((f) => page.inputValue(`#gan-train-${f}`)));
  const note = await page.locator('#gan-train-preset-note').textContent();
  check(fields.map(Number).join() === '0.00002,0.002,5' && /D\(real\)/.test(note),
    `the preset "the discriminator wins" sets its rates and steps, and says what to watch (${fields})`);
  await page.locator(section).screenshot({ path: '/tmp/gan_train.png' });

  const { links, downloads, ok } = await downloadWeights(page, id);
  const names = ['gan_discriminator_mnist.json', 'gan_discriminator_mnist.safetensors',
    'gan_generator_mnist.json', 'gan_generator_mnist.safetensors'];
  check(links.join() === names.join(), `"Download these weights" offers the four files (${links})`);
  check(downloads.join() === names.join() && ok, `and the browser saves them, each readable (${downloads})`);

  // "Use in the samples above": the tab's grid, from the same noise, with these weights; the data
  // set menu goes back to the shipped ones, which draw what they drew before.
  const shippedSet = await page.inputValue('#gan-dataset');
  const shipped = (await gridImages(page)).map((c) => c.key);
  // (`generation` here is the training grid's: the tab's grid is read by its id.)
  const tabGrid = () => dataNumber(page, '#gan-grid', 'generation');
  let drawnBefore = await tabGrid();
  await page.click('#gan-train-use');
  await waitForGeneration(page, drawnBefore);
  const used = await gridImages(page);
  const usedStatus = await page.locator('#gan-status').textContent();
  check(await page.inputValue('#gan-dataset') === 'trained' && new RegExp(`after ${n} training steps`).test(usedStatus) &&
    used.length === 16 && used.every((c, i) => c.key !== shipped[i]),
    `"Use in the samples above" draws the tab's grid with the trained weights ("${usedStatus}")`);
  drawnBefore = await tabGrid();
  await page.selectOption('#gan-dataset', shippedSet);
  await waitForGeneration(page, drawnBefore);
  check((await gridImages(page)).every((c, i) => c.key === shipped[i]),
    'and the data set menu brings the shipped weights back, drawing the same samples as before');

  await page.click('#gan-train-reset');
  await page.waitForFunction(() => document.getElementById('gan-train').dataset.steps === '0', null, { timeout: 60_000 });
  check(await steps() === 0 && await points() === 0 && await page.locator('#gan-train-files a').count() === 0,
    'Reset starts over: no steps, no curves');
  console.log(`the GAN training checks took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// The VAE tab's "Train it yourself": the beta slider sets beta; a Step plots the 500 test
// images and starts the curves; Start trains (the plane is redrawn) until the tab is left, which
// pauses it; the weights' two files.
async function checkVaeTraining(page) {
  const id = 'vae-train';
  const section = `#${id}`;
  const started = Date.now();
  await page.click('#tab-vae');
  await page.locator(section).scrollIntoViewIfNeeded();
  const steps = () => dataNumber(page, section, 'steps');
  const seen = () => dataNumber(page, section, 'imagesSeen');
  const points = () => dataNumber(page, '#vae-train-charts', 'points');
  const plane = async () => (await canvasImages(page, '#vae-train-plane'))[0];
  await setField(page, '#vae-train-batch', 8);
  await page.locator('#vae-train-beta').evaluate((el) => {
    el.value = '2';
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
  });
  check(await page.locator(section).getAttribute('data-beta') === '2' &&
    await page.locator('#vae-train-beta-value').textContent() === '2.0', 'the beta slider sets the KL weight');

  await page.click('#vae-train-step');
  await waitForSteps(page, id, 1);
  const first = await plane();
  const dots = await dataNumber(page, '#vae-train-plane', 'points');
  check(dots >= 490 && !first.blank && await points() === 1 && await seen() === 8,
    `a Step plots the encoded test images (${dots} of 500) and the curves' first point`);

  await page.click('#vae-train-start');
  await page.waitForFunction(() => Number(document.getElementById('vae-train').dataset.steps) >= 3, null, { timeout: 180_000 });
  await page.click('#tab-gan'); // leaving the tab pauses the training
  await waitForSteps(page, id, 3);
  const n = await steps();
  const status = await page.locator('#vae-train-status').textContent();
  await page.waitForTimeout(1000);
  check(await steps() === n && /left the VAE tab/.test(status), `leaving the tab pauses the training ("${status}")`);
  await page.click('#tab-vae');
  check(await seen() === 8 * n && await points() === n && await dataNumber(page, '#vae-train-plane', 'generation') >= 2 &&
    (await plane()).key !== first.key && await dataNumber(page, '#vae-train-plane', 'step') === n,
    `Start trains: ${n} steps, ${await seen()} images seen, the plane redrawn as it learns`);
  const legend = await page.locator('#vae-train-recon-legend').textContent();
  check(/reconstruction \d/.test(legend), `the curves give their values ("${legend}")`);
  await page.locator(section).screenshot({ path: '/tmp/vae_train.png' });

  const { links, downloads, ok } = await downloadWeights(page, id);
  check(links.join() === 'vae2d_mnist.json,vae2d_mnist.safetensors' && downloads.join() === links.join() && ok,
    `"Download these weights" saves the VAE's two files, each readable (${downloads})`);

  // "Use in the map above": the tab's latent map from these weights; the menu brings the shipped back.
  const shippedSet = await page.inputValue('#vae-dataset');
  const shipped = (await canvasImages(page, '#vae-map'))[0];
  await page.click('#vae-train-use');
  await page.waitForFunction(() => /your 2-D VAE draws/.test(document.getElementById('vae-status').textContent),
    null, { timeout: 120_000 });
  const used = (await canvasImages(page, '#vae-map'))[0];
  const usedStatus = await page.locator('#vae-status').textContent();
  check(await page.inputValue('#vae-dataset') === 'trained' && new RegExp(`after ${n} training steps`).test(usedStatus) &&
    !used.blank && used.key !== shipped.key, `"Use in the map above" draws the tab's map with the trained VAE ("${usedStatus}")`);
  const drawn = await dataNumber(page, '#vae-map', 'generation');
  await page.selectOption('#vae-dataset', shippedSet);
  await waitForData(page, '#vae-map', 'generation', drawn);
  check((await canvasImages(page, '#vae-map'))[0].key === shipped.key,
    'and the data set menu brings the shipped map back as it was');
  console.log(`the VAE training checks took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// The diffusion tab: 16 samples from a 10-step run, timed; the film of one sample scrubbed to
// its first step (pure noise, t = 999); the nearest training image to a sample; a training image
// dissolved to t = 50 and denoised from there; new samples; the three families compared.
async function checkDiffusionTab(page) {
  const slide = (selector, value) => page.locator(selector).evaluate((el, v) => {
    el.value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
  await page.click('#tab-diffusion');
  const runs = () => page.locator('#diff-grid').evaluate((g) => Number(g.dataset.runs ?? 0));
  await page.waitForFunction(() => Number(document.getElementById('diff-grid').dataset.runs ?? 0) > 0, null, { timeout: 300_000 });
  const samples = await canvasImages(page, '#diff-grid canvas');
  check(samples.length === 16 && samples.filter((c) => !c.blank).length >= 12,
    `the diffusion model draws 16 samples (${samples.filter((c) => !c.blank).length} drawn)`);
  const timing = await page.locator('#diff-timing').textContent();
  check(/^last run: 16 images in [\d.]+ s, \d+ ms per image \(20 steps, 1 network pass each\)$/.test(timing),
    `the page times the run ("${timing}")`);
  await page.locator('#diff-grid .diff-sample').nth(2).click();
  await slide('#diff-scrub', '0');
  const caption = await page.locator('#diff-film-caption').textContent();
  check(caption === 'sample 3, step 1 of 20: noise level t = 999' && !(await canvasBlank(page, '#diff-noisy')) &&
    !(await canvasBlank(page, '#diff-guess')), `the film scrubs back to the first step ("${caption}")`);
  await slide('#diff-scrub', '19');
  const last = await page.locator('#diff-film-caption').textContent();
  check(/step 20 of 20: noise level t = 49$/.test(last), `and to the last ("${last}")`);
  await page.click('#diff-copy');
  await page.waitForFunction(() => !document.getElementById('diff-copy-result').hidden, null, { timeout: 120_000 });
  const copy = await page.locator('#diff-copy-caption').textContent();
  const distance = Number(/distance ([\d.]+)$/.exec(copy)?.[1]);
  check(distance > 0 && distance < 28 && !(await canvasBlank(page, '#diff-copy-canvas')),
    `the nearest training image to a sample is drawn ("${copy}")`);

  await page.waitForFunction(() => /^t = 300: signal-to-noise/.test(document.getElementById('diff-snr').textContent), null, { timeout: 120_000 });
  await slide('#diff-t', '50');
  await page.waitForFunction(() => /^t = 50: signal-to-noise \d+/.test(document.getElementById('diff-snr').textContent), null, { timeout: 60_000 });
  check(!(await canvasBlank(page, '#diff-clean')) && !(await canvasBlank(page, '#diff-dissolved')),
    `the forward process dissolves a training image ("${await page.locator('#diff-snr').textContent()}")`);
  await page.click('#diff-denoise');
  await page.waitForFunction(() => document.getElementById('diff-restored').dataset.from === '50', null, { timeout: 120_000 });
  const [clean, restored] = await canvasImages(page, '#diff-clean, #diff-restored');
  const restoredGrey = restored.key.split(',').map(Number);
  const differs = clean.key.split(',').map(Number).filter((v, i) => Math.abs(v - restoredGrey[i]) > 60).length;
  check(!restored.blank && differs < 200, `denoising from t = 50 gives the image back (${differs} of 784 pixels differ by over 60)`);

  // A drawing of one's own: Clear, a stroke, then noise and denoising from it.
  const dissolvedBefore = (await canvasImages(page, '#diff-dissolved'))[0];
  await page.click('#diff-clear');
  await page.waitForFunction(() => document.getElementById('diff-restored').dataset.from === undefined, null, { timeout: 60_000 });
  check(await canvasBlank(page, '#diff-clean'), 'Clear empties the forward process\'s image');
  await drawSeven(page, '#diff-clean');
  const drawnCaption = await page.locator('#diff-clean-caption').textContent();
  await page.click('#diff-denoise');
  await page.waitForFunction(() => document.getElementById('diff-restored').dataset.from === '50', null, { timeout: 120_000 });
  const [drawnClean, drawnDissolved, drawnRestored] = await canvasImages(page, '#diff-clean, #diff-dissolved, #diff-restored');
  check(!drawnClean.blank && drawnDissolved.key !== dissolvedBefore.key && !drawnRestored.blank &&
    /^your drawing, denoised as /.test(drawnCaption), `a drawing is noised and denoised ("${drawnCaption}")`);

  // Two steps from here, for speed on a software adapter: the change samples again, and so does
  // New samples, with the next seed.
  const waitForRun = (after) => page.waitForFunction((n) => Number(document.getElementById('diff-grid').dataset.runs) > n,
    after, { timeout: 300_000 });
  const first = await runs();
  await page.locator('#diff-steps').fill('2');
  await page.locator('#diff-steps').press('Tab'); // leaving the field changes it
  await waitForRun(first);
  const twoSteps = await canvasImages(page, '#diff-grid canvas');
  const second = await runs();
  await page.click('#diff-new');
  await waitForRun(second);
  const again = await canvasImages(page, '#diff-grid canvas');
  check(again.some((c, i) => c.key !== twoSteps[i].key), 'New samples draws other samples');
  await page.click('#diff-compare');
  await page.waitForFunction(() => !document.getElementById('diff-compare-table').hidden, null, { timeout: 300_000 });
  const rows = await page.locator('#diff-compare-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.innerText));
  check(rows.length === 4 && rows.every((r) => / ms/.test(r)), `the four families are compared: ${JSON.stringify(rows)}`);
  await page.screenshot({ path: '/tmp/diffusion_tab.png', fullPage: true });
}

// The image GPT writes an image code by code, row by row: returns the codes of its first image
// (class 0, seed 1). `where` names the backend in the messages.
async function checkImageGpt(page, where) {
  await page.click('#tab-transformer');
  // At every code: the position written, the brightest pixel two rows of cells or more below it
  // (not yet written, so blank), and how many pixels are inked.
  await page.evaluate(() => {
    const canvas = document.getElementById('igpt-image');
    window.igptSnapshots = [];
    new MutationObserver(() => {
      const position = Number(canvas.dataset.position);
      if (position < 0) return; // a new image, before its first code
      const grey = canvas.getContext('2d').getImageData(0, 0, 28, 28).data.filter((_, j) => j % 4 === 0);
      const below = grey.slice(Math.min(28, (Math.floor(position / 7) + 2) * 4) * 28);
      window.igptSnapshots.push({ position, below: below.reduce((m, v) => Math.max(m, v), 0), ink: grey.filter((v) => v > 40).length });
    }).observe(canvas, { attributes: true, attributeFilter: ['data-position'] });
  });
  await page.check('#tf-model input[value="imagegpt"]');
  await waitForData(page, '#igpt-image', 'runs', 0, 300_000);
  const snapshots = await page.evaluate(() => window.igptSnapshots);
  const codes = (await page.locator('#igpt-image').getAttribute('data-codes')).split(',').map(Number);
  check(await page.locator('#igpt-image').getAttribute('data-state') === 'done' && codes.length === 49 &&
    codes.every((c) => Number.isInteger(c) && c >= 0 && c < 256), `${where}, the image GPT wrote 49 codes: ${codes.join(' ')}`);
  const early = snapshots.filter((s) => s.position < 35);
  check(snapshots.map((s) => s.position).join() === [...Array(49).keys()].join() && early.every((s) => s.below < 60) &&
    snapshots[48].ink > 40 && snapshots[48].ink > snapshots[6].ink,
    `${where}, it drew the image a code at a time, top to bottom (ink after each row: ${snapshots.filter((s) => s.position % 7 === 6).map((s) => s.ink).join(' ')}; ` +
    `brightest pixel below the rows written: ${Math.max(...early.map((s) => s.below))})`);
  const bars = await page.locator('#igpt-bars .igpt-bar').evaluateAll((rows) => rows.map((row) => ({
    p: Number.parseFloat(row.querySelector('.gpt-percent').textContent) || 0, chosen: row.classList.contains('chosen'),
    code: Number(row.querySelector('.igpt-code').textContent.slice(1)),
  })));
  check(bars.length === 8 && bars.filter((b) => b.chosen).length === 1 && bars.find((b) => b.chosen).code === codes[48] &&
    bars.reduce((sum, b) => sum + b.p, 0) <= 100.5, `${where}, the bars show the last cell's likeliest patches: ${JSON.stringify(bars)}`);
  const used = Number(await page.locator('#igpt-codebook').getAttribute('data-used'));
  check(used === new Set(codes).size && !(await canvasBlank(page, '#igpt-codebook')),
    `${where}, the codebook sheet is drawn and marks the ${used} codes used`);
  // Another image, stopped after a few codes.
  const runs = await dataNumber(page, '#igpt-image', 'runs');
  await page.click('#igpt-write');
  await page.waitForFunction(() => Number(document.getElementById('igpt-image').dataset.position) >= 3 &&
    document.getElementById('igpt-image').dataset.state === 'writing', null, { timeout: 120_000 });
  await page.click('#igpt-stop');
  await waitForData(page, '#igpt-image', 'runs', runs, 120_000);
  const stopped = (await page.locator('#igpt-image').getAttribute('data-codes')).split(',').length;
  check(await page.locator('#igpt-image').getAttribute('data-state') === 'stopped' && stopped < 49 &&
    await page.inputValue('#igpt-seed') === '2', `${where}, Write another takes the next seed, and Stop ends it after ${stopped} codes`);
  return codes;
}

// Fills the Transformer's settings, clicks Generate and waits until the run ends ('done' or
// 'error'); returns the generated text.
async function writeText(page, settings, timeout = 300_000) {
  // The tab starts writing by itself when first shown: let that run end, and Generate be on.
  await page.waitForFunction(() => document.getElementById('gpt-output').dataset.state !== 'running' &&
    !document.getElementById('gpt-generate').disabled, null, { timeout });
  for (const [name, value] of Object.entries(settings)) await page.fill(`#gpt-${name}`, String(value));
  const run = await dataNumber(page, '#gpt-output', 'run');
  await page.click('#gpt-generate');
  await page.waitForFunction((n) => {
    const out = document.getElementById('gpt-output').dataset;
    return Number(out.run) > n && (out.state === 'done' || out.state === 'error');
  }, run, { timeout });
  return page.locator('#gpt-generated').textContent();
}

// Every export of the wasm package called with bad arguments (wrong types, NaN, negative,
// fractional, out-of-range and absurd sizes): each must throw an Error that says something,
// never a WebAssembly trap (a Rust panic or an out-of-memory abort), and the module must still
// work afterwards.
async function checkBadArguments() {
  const page = await newPage();
  const panics = [];
  page.on('console', (m) => { if (/panicked|unreachable|RuntimeError/.test(m.text())) panics.push(m.text()); });
  await page.goto(`${url}#tab-gan`);
  const results = await page.evaluate(async () => {
    const m = await import('./genai-lab/pkg/genai_lab.js');
    await m.default();
    const lab = await m.Lab.create('webgpu');
    const bytes = async (path) => new Uint8Array(await (await fetch(path)).arrayBuffer());
    const text = async (path) => (await fetch(path)).text();
    const ganCard = await text('models/gan_generator_mnist.json');
    const ganBytes = await bytes('models/gan_generator_mnist.safetensors');
    const dCard = await text('models/gan_discriminator_mnist.json');
    const dBytes = await bytes('models/gan_discriminator_mnist.safetensors');
    const vaeCard = await text('models/vae_mnist.json');
    const vaeBytes = await bytes('models/vae_mnist.safetensors');
    const gptCard = await text('models/gpt_shakespeare.json');
    const gptBytes = await bytes('models/gpt_shakespeare.safetensors');
    const results = [];
    const refused = async (what, call) => {
      try {
        await call();
        results.push({ what, ok: false, message: 'accepted' });
      } catch (e) {
        const trap = e instanceof WebAssembly.RuntimeError || /unreachable|panicked/.test(e?.message);
        results.push({ what, ok: e instanceof Error && !trap && e.message.length > 5, message: `${e?.name}: ${e?.message}` });
      }
    };
    const z = (n, value = 0.5) => new Float32Array(n).fill(value);

    await refused('Lab.create: backend "gpu"', () => m.Lab.create('gpu'));
    await refused('Lab.create: backend 3', () => m.Lab.create(3));
    await refused('loadGan: a card that is not JSON', () => lab.loadGan('not json', ganBytes, dCard, dBytes));
    await refused('loadGan: a cut checkpoint', () => lab.loadGan(ganCard, ganBytes.subarray(0, 999), dCard, dBytes));
    await refused('loadGan: numbers and objects', () => lab.loadGan(123, {}, null, undefined));
    await refused('loadGan: the discriminator swapped in', () => lab.loadGan(ganCard, ganBytes, ganCard, ganBytes));
    await refused('loadVae: a GAN card', () => lab.loadVae(ganCard, vaeBytes));
    await refused('loadVae: a string for bytes', () => lab.loadVae(vaeCard, 'weights'));
    await refused('loadGpt: three bytes', () => lab.loadGpt(gptCard, new Uint8Array(3)));
    await refused('loadGpt: undefined', () => lab.loadGpt(undefined, undefined));
    await refused('loadChat: 100 zero bytes', () => lab.loadChat(new Uint8Array(100)));
    await refused('loadChat: a string', () => lab.loadChat('GGUF'));
    await refused('imageIndex: fractional pixels', () => lab.imageIndex(z(10), 2.5));
    await refused('imageIndex: negative pixels', () => lab.imageIndex(z(10), -1));
    await refused('imageIndex: NaN pixels', () => lab.imageIndex(z(10), NaN));
    await refused('imageIndex: pixels not dividing', () => lab.imageIndex(z(10), 3));
    await refused('imageIndex: a string of images', () => lab.imageIndex('abc', 784));

    const index = lab.imageIndex(z(784 * 2), 784);
    await refused('nearest: a short query', () => index.nearest(z(5)));
    await refused('nearest: a NaN query', () => index.nearest(z(784, NaN)));
    const gan = lab.loadGan(ganCard, ganBytes, dCard, dBytes);
    await refused('Gan.generate: class 10', () => gan.generate(z(64), [10]));
    await refused('Gan.generate: class -1', () => gan.generate(z(64), [-1]));
    await refused('Gan.generate: class 1.5', () => gan.generate(z(64), [1.5]));
    await refused('Gan.generate: 63 latent numbers', () => gan.generate(z(63), [1]));
    await refused('Gan.generate: a NaN latent', () => gan.generate(z(64, NaN), [1]));
    await refused('Gan.generate: strings', () => gan.generate('x', 'y'));
    await refused('Gan.generate: nothing', () => gan.generate(undefined, undefined));
    await refused('Gan.generate: no images', () => gan.generate(z(0), []));
    await refused('Gan.generate: 100,000 images at once', () => gan.generate(z(64 * 100_000), new Float64Array(100_000)));
    const vae = lab.loadVae(vaeCard, vaeBytes);
    await refused('Vae.encode: 783 pixels', () => vae.encode(z(783)));
    await refused('Vae.encode: an infinite pixel', () => vae.encode(z(784, Infinity)));
    await refused('Vae.decode: 3 numbers', () => vae.decode(z(3)));
    await refused('Vae.decode: nothing', () => vae.decode(z(0)));
    await refused('Vae.standardNormal: -1 points', () => vae.standardNormal(-1, 0));
    await refused('Vae.standardNormal: a billion points', () => vae.standardNormal(1e9, 0));
    await refused('Vae.standardNormal: a negative seed', () => vae.standardNormal(2, -5));
    await refused('Vae.standardNormal: a string', () => vae.standardNormal('x', 1));
    const images = z(784 * 4); // four grey training images
    await refused('trainGan: 1000 values for one image', () => lab.trainGan(z(1000), [1], 1));
    await refused('trainGan: a class 10 in the labels', () => lab.trainGan(images, [0, 1, 2, 10], 1));
    await refused('trainGan: fewer labels than images', () => lab.trainGan(images, [0, 1], 1));
    await refused('trainGan: a NaN pixel', () => lab.trainGan(z(784, NaN), [0], 1));
    await refused('trainGan: a negative seed', () => lab.trainGan(images, [0, 1, 2, 3], -1));
    const ganTrainer = lab.trainGan(images, [0, 1, 2, 3], 1);
    await refused('GanTrainer.configure: learning rate 0', () => ganTrainer.configure(2, 0, 2e-4, 1));
    await refused('GanTrainer.configure: learning rate NaN', () => ganTrainer.configure(2, 2e-4, NaN, 1));
    await refused('GanTrainer.configure: batch 0', () => ganTrainer.configure(0, 2e-4, 2e-4, 1));
    await refused('GanTrainer.configure: a batch larger than the images', () => ganTrainer.configure(5, 2e-4, 2e-4, 1));
    await refused('GanTrainer.configure: 0 discriminator steps', () => ganTrainer.configure(2, 2e-4, 2e-4, 0));
    await refused('GanTrainer.configure: 1.5 discriminator steps', () => ganTrainer.configure(2, 2e-4, 2e-4, 1.5));
    await refused('GanTrainer.step: 0 steps', () => ganTrainer.step(0));
    await refused('GanTrainer.generate: class 10', () => ganTrainer.generate(z(64), [10]));
    await refused('trainVae: latent 3', () => lab.trainVae(images, 3, 1));
    await refused('trainVae: images not whole 28 x 28 images', () => lab.trainVae(z(1000), 2, 1));
    const vaeTrainer = lab.trainVae(images, 2, 1);
    await refused('VaeTrainer.configure: beta -1', () => vaeTrainer.configure(2, 1e-3, -1));
    await refused('VaeTrainer.configure: learning rate NaN', () => vaeTrainer.configure(2, NaN, 1));
    await refused('VaeTrainer.configure: batch 0', () => vaeTrainer.configure(0, 1e-3, 1));
    await refused('VaeTrainer.decode: 3 numbers', () => vaeTrainer.decode(z(3)));
    await refused('VaeTrainer.encode: 783 pixels', () => vaeTrainer.encode(z(783)));
    // Both still train after the refusals.
    ganTrainer.configure(2, 2e-4, 2e-4, 1);
    vaeTrainer.configure(2, 1e-3, 1);
    const ganLosses = await ganTrainer.step(1);
    const vaeLosses = await vaeTrainer.step(1);
    results.push({ what: 'the trainers still train afterwards',
      ok: ganLosses.length >= 5 && vaeLosses.length === 2 && [...ganLosses, ...vaeLosses].every(Number.isFinite),
      message: `GAN step: ${Array.from(ganLosses, (v) => v.toFixed(3))}; VAE step: ${Array.from(vaeLosses, (v) => v.toFixed(1))}` });
    ganTrainer.free();
    vaeTrainer.free();
    const gpt = lab.loadGpt(gptCard, gptBytes);
    await refused('Gpt.step before start', () => gpt.step());
    await refused('Gpt.start: an unknown character', () => gpt.start('café', 0.8, 0, 0.95, 7, 100));
    await refused('Gpt.start: an empty prompt', () => gpt.start('', 0.8, 0, 0.95, 7, 100));
    await refused('Gpt.start: temperature -1', () => gpt.start('a', -1, 0, 0.95, 7, 100));
    await refused('Gpt.start: temperature NaN', () => gpt.start('a', NaN, 0, 0.95, 7, 100));
    await refused('Gpt.start: top-k 1.5', () => gpt.start('a', 0.8, 1.5, 0.95, 7, 100));
    await refused('Gpt.start: top-k past the vocabulary', () => gpt.start('a', 0.8, 1e6, 0.95, 7, 100));
    await refused('Gpt.start: top-p 0', () => gpt.start('a', 0.8, 0, 0, 7, 100));
    await refused('Gpt.start: seed -1', () => gpt.start('a', 0.8, 0, 0.95, -1, 100));
    await refused('Gpt.start: length 0', () => gpt.start('a', 0.8, 0, 0.95, 7, 0));
    await refused('Gpt.start: length 1e12', () => gpt.start('a', 0.8, 0, 0.95, 7, 1e12));
    await refused('Gpt.start: strings for numbers', () => gpt.start('a', 'hot', 'k', 'p', 's', 'l'));

    const igptCard = await text('models/imagegpt_mnist.json');
    const igptBytes = await bytes('models/imagegpt_mnist.safetensors');
    const vqCard = await text('models/vqvae_mnist.json');
    const vqBytes = await bytes('models/vqvae_mnist.safetensors');
    await refused('loadImageGpt: the two models swapped', () => lab.loadImageGpt(vqCard, vqBytes, igptCard, igptBytes));
    await refused('loadImageGpt: the character GPT', () => lab.loadImageGpt(gptCard, gptBytes, vqCard, vqBytes));
    await refused('loadImageGpt: a cut VQ-VAE', () => lab.loadImageGpt(igptCard, igptBytes, vqCard, vqBytes.subarray(0, 500)));
    const imageGpt = lab.loadImageGpt(igptCard, igptBytes, vqCard, vqBytes);
    await refused('ImageGpt.step before start', () => imageGpt.step());
    await refused('ImageGpt.start: class 10', () => imageGpt.start(10, 1, 0, 1, 1));
    await refused('ImageGpt.start: class -1', () => imageGpt.start(-1, 1, 0, 1, 1));
    await refused('ImageGpt.start: temperature -1', () => imageGpt.start(1, -1, 0, 1, 1));
    await refused('ImageGpt.start: top-k past the codebook', () => imageGpt.start(1, 1, 300, 1, 1));
    await refused('ImageGpt.start: seed 1.5', () => imageGpt.start(1, 1, 0, 1, 1.5));
    await refused('ImageGpt.start: strings', () => imageGpt.start('a', 'b', 'c', 'd', 'e'));

    const chat = lab.loadChat(await bytes('models/SmolLM2-135M-Instruct.Q4_1.gguf'));
    const user = JSON.stringify([{ role: 'user', content: 'Hi' }]);
    await refused('Chat.step before start', () => chat.step());
    await refused('Chat.start: messages not JSON', () => chat.start('[{', 0, 0, 1, 1, 10));
    await refused('Chat.start: no messages', () => chat.start('[]', 0, 0, 1, 1, 10));
    await refused('Chat.start: an unknown role', () => chat.start('[{"role":"robot","content":"x"}]', 0, 0, 1, 1, 10));
    await refused('Chat.start: a number for content', () => chat.start('[{"role":"user","content":5}]', 0, 0, 1, 1, 10));
    await refused('Chat.start: temperature -1', () => chat.start(user, -1, 0, 1, 1, 10));
    await refused('Chat.start: 0 tokens', () => chat.start(user, 0, 0, 1, 1, 0));
    await refused('Chat.start: a message longer than the context', () => chat.start(JSON.stringify([{ role: 'user', content: 'word '.repeat(5000) }]), 0, 0, 1, 1, 10));

    // Still working: a trap would have left the module unusable.
    const out = await gan.generate(z(64), [3]);
    const vaeOut = await vae.decode(z(16, 0.1));
    gpt.start('ROMEO:', 0.8, 0, 0.95, 7, 3);
    const step = await gpt.step();
    chat.start(user, 0, 0, 1, 1, 2);
    const answer = await chat.step();
    imageGpt.start(3, 1, 0, 1, 1);
    const code = await imageGpt.step();
    results.push({ what: 'every model still works afterwards',
      ok: out.pixels.length === 784 && vaeOut.length === 784 && step.text.length >= 1 && answer.text.length >= 1 &&
        code.pixels.length === 784 && code.remaining === 48,
      message: `${out.pixels.length} pixels, ${vaeOut.length} pixels, "${step.text}", "${answer.text}", image GPT code ${code.code}` });
    results.push({ what: 'the device reported no error', ok: lab.error === undefined, message: String(lab.error) });
    window.models = { lab, gan, vae, gpt, chat, z, user };
    return results;
  });
  for (const r of results) check(r.ok, `bad arguments: ${r.what} (${r.message})`);
  check(panics.length === 0, `no panic or trap in the console ${JSON.stringify(panics)}`);

  // The device lost (destroyed, as a driver reset would): the loss is reported, and the next
  // call makes a new device and reloads the model: the same pixels, and a generation that goes
  // on writing the same characters as one that never lost its device.
  const loss = await page.evaluate(async () => {
    const { lab, gan, vae, gpt, chat, z, user } = window.models;
    const text = async (steps) => { let out = ''; for (let i = 0; i < steps; i++) out += (await gpt.step()).text; return out; };
    const before = (await gan.generate(z(64, 0.3), [7])).pixels;
    gpt.start('ROMEO:', 0.8, 0, 0.95, 11, 20);
    const unbroken = await text(20);
    gpt.start('ROMEO:', 0.8, 0, 0.95, 11, 20);
    const head = await text(8);
    lab.destroy();
    const reported = lab.error; // at once: the loss is known before the browser's callback says it
    let first = 'no error';
    try { await gan.generate(z(64, 0.3), [7]); } catch (e) { first = e.message; }
    const after = (await gan.generate(z(64, 0.3), [7])).pixels;
    const tail = await text(12);
    const decoded = await vae.decode(z(16, 0.1));
    let chatError = 'no error';
    try { chat.start(user, 0, 0, 1, 1, 2); await chat.step(); } catch (e) { chatError = e.message; }
    return {
      first, reported: String(reported), errorAfter: String(lab.error),
      samePixels: before.length === 784 && before.every((v, i) => Math.abs(v - after[i]) < 1e-6),
      unbroken, resumed: head + tail, decoded: decoded.length, chatError,
    };
  });
  console.log(`device loss: first call "${loss.first}"; reported "${loss.reported}"; chat "${loss.chatError}"`);
  check(/lost|destroyed/i.test(loss.reported), `a lost device is reported ("${loss.reported}")`);
  check(loss.first === 'no error', `a call after a loss it knows of runs on a new device at once ("${loss.first}")`);
  check(loss.samePixels && loss.errorAfter === 'undefined' && loss.decoded === 784,
    'after the loss the next calls run on a new device, with the same pixels as before');
  check(loss.resumed === loss.unbroken,
    `a generation goes on after the loss as if nothing happened ("${loss.resumed}" vs "${loss.unbroken}")`);
  check(/load the chat model again/.test(loss.chatError), `the chat model asks to be loaded again ("${loss.chatError}")`);
  check(panics.length === 0, `no panic or trap in the console ${JSON.stringify(panics)}`);
  await page.close();
}

// Chromium launched without WebGPU (no --enable-unsafe-webgpu: navigator.gpu is missing): the
// page says so, and the GAN, the VAE and the GPT run on the reference device in plain Rust; the
// GPT writes with the seed the same characters as on WebGPU. The chat model is explained only.
async function checkWithoutWebGPU(gptText, imageCodes) {
  const bare = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await bare.newPage();
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    check(await page.evaluate(async () => !('gpu' in navigator) || await navigator.gpu.requestAdapter() === null),
      'this Chromium has no WebGPU adapter');
    await page.waitForFunction(() => document.getElementById('adapter').dataset.state !== 'pending');
    const line = await page.locator('#adapter').textContent();
    const reason = await page.locator('#no-webgpu-reason').textContent();
    check(await page.locator('#adapter').getAttribute('data-state') === 'reference' && /CPU/.test(line) &&
      await page.locator('#no-webgpu').isVisible() && /WebGPU/.test(reason),
      `without WebGPU the page says the models run on the CPU ("${line}"; "${reason}")`);
    await waitForGeneration(page, 0, 300_000);
    const drawn = (await gridImages(page)).filter((c) => !c.blank).length;
    const scores = await gridScores(page);
    check(drawn >= 12 && scores.length === 16 && scores.every((s) => s >= 0 && s <= 1),
      `without WebGPU the GAN draws and scores its samples on the CPU (${drawn} of 16 drawn)`);
    check(await page.locator('#gan-train-cpu').isVisible() && await page.inputValue('#gan-train-batch') === '8',
      'without WebGPU the GAN training part says it runs on the CPU, and starts at batch 8');
    await setField(page, '#gan-train-batch', 4);
    const trainStart = Date.now();
    await page.click('#gan-train-step');
    await waitForSteps(page, 'gan-train', 1, 300_000);
    const trained = await page.locator('#gan-train').evaluate((el) => [el.dataset.steps, el.dataset.imagesSeen]);
    check(trained.join() === '1,4' && !(await canvasImages(page, '#gan-train-grid'))[0].blank,
      `without WebGPU the GAN trains on the CPU: a step of batch 4, drawn (${((Date.now() - trainStart) / 1000).toFixed(1)} s)`);
    await page.click('#tab-vae');
    await waitForData(page, '#vae-samples', 'generation', 0, 300_000);
    const samples = await canvasImages(page, '#vae-samples canvas');
    check(samples.filter((c) => !c.blank).length >= 12, 'without WebGPU the VAE samples its prior on the CPU');
    await page.click('#tab-diffusion');
    await page.waitForFunction(() => Number(document.getElementById('diff-grid').dataset.runs ?? 0) > 0, null, { timeout: 300_000 });
    const denoised = await canvasImages(page, '#diff-grid canvas');
    check(denoised.filter((c) => !c.blank).length >= 12,
      `without WebGPU the diffusion model samples on the CPU (${await page.locator('#diff-timing').textContent()})`);
    await page.click('#tab-transformer');
    await page.waitForFunction(() => document.getElementById('gpt-status').dataset.state !== 'busy',
      null, { timeout: 120_000 });
    const settings = { prompt: 'KING HENRY:\nWhat', length: 100, temperature: 0.8, 'top-p': 0.95, seed: 7 };
    const text = await writeWatched(page, settings, 'on the CPU backend');
    check(text === gptText, `without WebGPU the GPT writes the same 100 characters as on WebGPU ("${text.slice(0, 30)}…")`);
    const codes = await checkImageGpt(page, 'without WebGPU');
    check(codes.join() === imageCodes.join(), 'without WebGPU the image GPT writes the same codes as on WebGPU');
    await page.check('#tf-model input[value="chat"]');
    check(await page.locator('#tf-chat .chat-explain').isVisible() && await page.locator('#chat-lab').isHidden(),
      'without WebGPU the chat model shows its explanation and no controls');
    check(errors.length === 0, `no errors without WebGPU ${JSON.stringify(errors)}`);
  } finally {
    await bare.close();
  }
}

// The models run in the package's worker: prints how often, and how long at most, the page's own
// thread was busy for over 50 ms at once while the GPT wrote `settings`, and returns the text.
// Printed, not asserted: it depends on the machine's load.
async function writeWatched(page, settings, where) {
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => e.duration)))
      .observe({ type: 'longtask' });
  });
  const text = await writeText(page, settings);
  const tasks = await page.evaluate(() => window.longTasks);
  console.log(`the page's thread while the GPT wrote ${[...text].length} characters ${where}: ` +
    `${tasks.length} tasks over 50 ms${tasks.length ? `, the longest ${Math.round(Math.max(...tasks))} ms` : ''}`);
  return text;
}

// Writes seeded text, checks the bars, the heatmap and the speed, stops a long run and feeds it
// bad settings; returns the seeded text.
async function checkTransformerTab(page) {
  await page.click('#tab-transformer');
  await page.waitForFunction(() => document.getElementById('gpt-status').dataset.state !== 'busy',
    null, { timeout: 120_000 });
  const status = await page.locator('#gpt-status').textContent();
  check(await page.locator('#gpt-status').getAttribute('data-state') === 'ready',
    `the GPT loads ("${status}")`);
  const settings = { prompt: 'KING HENRY:\nWhat', length: 100, temperature: 0.8, 'top-p': 0.95, seed: 7 };
  const text = await writeWatched(page, settings, 'on WebGPU');
  console.log(`the GPT wrote (seed 7):\n${settings.prompt}${text}\n---`);
  check(await page.locator('#gpt-output').getAttribute('data-state') === 'done' && [...text].length === 100,
    `the GPT writes 100 characters (${[...text].length})`);
  const speed = await page.locator('#gpt-speed').textContent();
  const perSecond = Number.parseFloat(await page.locator('#gpt-speed').getAttribute('data-tokens-per-second'));
  console.log(`GPT decode speed on this adapter: ${perSecond.toFixed(1)} tokens/s, ` +
    `${(1000 / perSecond).toFixed(1)} ms a step ("${speed}")`);
  check(perSecond > 0 && /tokens\/s/.test(speed) && /first step \d+ ms/.test(speed),
    'the page shows the decode speed and the first step\'s time');

  const bars = await page.locator('#gpt-bars .gpt-bar').evaluateAll((rows) => rows.map((row) => ({
    width: Number.parseFloat(row.querySelector('.gpt-fill').style.width),
    chosen: row.classList.contains('chosen'),
  })));
  const sum = bars.reduce((total, bar) => total + bar.width, 0);
  check(bars.length === 10 && bars.every((b) => b.width >= 0) && sum <= 100.001 &&
    bars.filter((b) => b.chosen).length === 1,
    `10 probability bars, widths summing to ${sum.toFixed(1)}% <= 100%, the drawn one marked`);
  const colours = await page.locator('#gpt-heatmap').evaluate((c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4) if (data[i + 3] === 255) seen.add(data.slice(i, i + 3).join());
    return seen.size;
  });
  check(colours >= 2, `the attention heatmap is drawn (${colours} colours)`);
  // The lens: a row per read-out, each with five guesses; its last row is the bars' prediction.
  const lens = await page.locator('#gpt-lens tbody tr').evaluateAll((rows) => rows.map((row) => ({
    name: row.cells[0].textContent,
    guesses: [...row.querySelectorAll('.gpt-lens-guess')].map((g) => g.textContent),
    change: Number.parseFloat(row.querySelector('.gpt-fill')?.style.width ?? 'NaN'),
  })));
  const barsTop = await page.locator('#gpt-bars .gpt-bar').evaluateAll((rows) => rows.slice(0, 5).map((row) =>
    `${row.querySelector('.gpt-char').textContent} ${row.querySelector('.gpt-percent').textContent}`));
  check(lens.length === 13 && lens[0].name === 'embedding' && lens[12].name === 'layer 6 MLP' &&
    lens.every((row) => row.guesses.length === 5 && row.guesses.every((g) => /^\S+ (<?\d+\.\d%)$/.test(g))) &&
    lens.slice(1).every((row) => row.change > 0 && row.change <= 100) && lens.slice(1).some((row) => row.change === 100) &&
    JSON.stringify(lens[12].guesses) === JSON.stringify(barsTop),
    `the layer-by-layer table: 13 read-outs, the last the prediction (${JSON.stringify(lens[12])}, bars ${JSON.stringify(barsTop)})`);
  check(JSON.stringify(lens[0].guesses) !== JSON.stringify(lens[12].guesses), 'the layers change the prediction');
  await page.selectOption('#gpt-layer', '6');
  await page.selectOption('#gpt-head', '3');
  check(/layer 6, head 3/.test(await page.locator('#gpt-heatmap').getAttribute('aria-label')),
    'choosing a layer and head redraws the heatmap');
  // One query up close: its raw scores and weights, for the row picked by number or by a click.
  const scoresQuery = () => dataNumber(page, '#gpt-scores', 'query');
  const newest = await scoresQuery();
  await page.fill('#gpt-query', '5');
  check(await scoresQuery() === newest - 5, `the close-up follows the query picked (${newest} then ${await scoresQuery()})`);
  const box = await page.locator('#gpt-heatmap').boundingBox();
  const cssScale = box.height / (22 + 24 * 14 + 40);
  await page.locator('#gpt-heatmap').click({ position: { x: box.width / 2, y: (22 + 2.5 * 14) * cssScale } });
  check(await scoresQuery() === newest - 21 && await page.inputValue('#gpt-query') === '21',
    `a click on the heatmap's third row makes it the query (${await scoresQuery()})`);
  const closeUp = await page.locator('#gpt-scores').getAttribute('aria-label');
  const barPixels = await page.locator('#gpt-scores').evaluate((c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let purple = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] === 0x81 && data[i + 1] === 0x0f && data[i + 2] === 0x7c) purple++;
    return purple;
  });
  check(/^Layer 6, head 3, the query .*: its highest raw score among the last \d+ characters, -?\d+\.\d\d, is on .*, which gets weight 0\.\d{3}\.$/.test(closeUp) && barPixels > 100,
    `the close-up draws raw scores and weights ("${closeUp}", ${barPixels} bar pixels)`);
  await page.locator('#panel-transformer h2').scrollIntoViewIfNeeded();
  await page.screenshot({ path: '/tmp/gpt_tab.png', fullPage: true });

  check(await writeText(page, settings) === text, 'the same seed writes the same text');
  const other = await writeText(page, { seed: 8 });
  check([...other].length === 100 && other !== text, 'another seed writes other text');

  const run = await dataNumber(page, '#gpt-output', 'run');
  await page.fill('#gpt-length', '2000');
  await page.click('#gpt-generate');
  await page.waitForFunction(() => document.getElementById('gpt-generated').textContent.length >= 5,
    null, { timeout: 120_000 });
  await page.click('#gpt-stop');
  await page.waitForFunction((n) => {
    const out = document.getElementById('gpt-output').dataset;
    return Number(out.run) === n + 1 && out.state === 'done';
  }, run, { timeout: 60_000 });
  const stopped = [...await page.locator('#gpt-generated').textContent()].length;
  check(stopped >= 5 && stopped < 2000 && await page.locator('#gpt-stop').isDisabled(),
    `Stop ends the generation (${stopped} of 2000 characters)`);

  const refused = async (change, pattern, what) => {
    await writeText(page, { ...settings, ...change });
    const message = await page.locator('#gpt-error').textContent();
    check(await page.locator('#gpt-error').isVisible() && pattern.test(message) &&
      await page.locator('#gpt-output').getAttribute('data-state') === 'error', `${what} ("${message}")`);
  };
  await refused({ temperature: -1 }, /temperature/i, 'a negative temperature is refused');
  await refused({ prompt: 'café' }, /é/, 'a character the model does not know is named');
  await refused({ length: 0 }, /length/i, 'a length of 0 is refused');
  const long = `${'To be, or not to be, that is the question.\n'.repeat(7)}To`;
  await writeText(page, { ...settings, prompt: long, length: 1 }); // a second would slide again
  const notice = await page.locator('#gpt-notice').textContent();
  const written = [...await page.locator('#gpt-generated').textContent()].length;
  check(await page.locator('#gpt-error').isHidden() && written === 1, 'a good run clears the error');
  check(await page.locator('#gpt-notice').isVisible() && /last 256 characters/.test(notice),
    `a prompt longer than the context is cut, and the page says so ("${notice}")`);
  return text;
}

const GGUF = 'SmolLM2-135M-Instruct.Q4_1.gguf';

// Picks the chat model in the Transformer tab and clicks its load button; waits until it is
// loaded or failed and returns the status line's state.
async function loadChat(page) {
  await page.click('#tab-transformer');
  await page.check('#tf-model input[value="chat"]');
  await page.click('#chat-load');
  await page.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('chat-status').dataset.state),
    null, { timeout: 300_000 });
  return page.locator('#chat-status').getAttribute('data-state');
}

// Sends one message with the given settings and waits for the answer to end; returns its text.
async function ask(page, question, settings, timeout = 360_000) {
  for (const [name, value] of Object.entries(settings)) await page.fill(`#chat-${name}`, String(value));
  const turn = await dataNumber(page, '#chat-messages', 'turn');
  await page.fill('#chat-input', question);
  await page.click('#chat-send');
  await page.waitForFunction((n) => {
    const list = document.getElementById('chat-messages').dataset;
    return Number(list.turn) > n && (list.state === 'done' || list.state === 'error');
  }, turn, { timeout });
  return page.locator('#chat-messages .chat-msg[data-role="assistant"]').last().textContent();
}

// The chat model: a missing file is explained, then the real one downloads with progress,
// answers a question greedily with the speed shown, keeps a second turn and refuses bad
// settings; after a reload it loads from the browser's cache without a download.
async function checkChatTab(page, consoleErrors) {
  let downloads = 0;
  // The context sees the requests of the page's worker, where the package runs the models.
  page.context().on('request', (r) => { if (r.url().endsWith(GGUF)) downloads++; });

  await page.click('#tab-transformer');
  check(await page.locator('#tf-gpt').isHidden() === false && await page.locator('#chat-lab').isHidden(),
    'the Transformer tab opens on the character GPT');
  await page.check('#tf-model input[value="chat"]');
  check(await page.locator('#gpt-lab').isHidden() && await page.locator('#chat-lab').isVisible() &&
    /98 MB/.test(await page.locator('#chat-load').textContent()),
    'picking the chat model shows its explanation and a download button that gives the size');

  await page.context().route(`**/${GGUF}`, (route) => route.fulfill({ status: 404, body: 'not found' }));
  check(await loadChat(page) === 'error' && /fetch-smollm\.sh/.test(await page.locator('#chat-error').textContent()) &&
    await page.locator('#chat-load').isEnabled(),
    'a server without the model file gets a message that names scripts/fetch-smollm.sh');
  await page.context().unroute(`**/${GGUF}`);
  // The browser logs the refused request; that one error was asked for.
  const expected = consoleErrors.findIndex((m) => /404/.test(m));
  if (expected >= 0) consoleErrors.splice(expected, 1);
  downloads = 0;

  const started = Date.now();
  const state = await loadChat(page);
  const status = await page.locator('#chat-status').textContent();
  console.log(`chat model: "${status}" (${((Date.now() - started) / 1000).toFixed(1)} s in all)`);
  check(state === 'ready', 'the chat model downloads and loads');
  const progress = await page.locator('#chat-progress').evaluate((p) => p.value / p.max);
  const progressText = await page.locator('#chat-progress-text').textContent();
  check(progress === 1 && /98\.4 of 98\.4 MB/.test(progressText) && downloads === 1,
    `the progress bar reached 100% ("${progressText}", ${downloads} download)`);
  check(await page.locator('#chat-status').getAttribute('data-source') === 'network' && !/not cached/.test(status),
    'the download went to the cache');

  const question = 'What is the capital of France?';
  const answer = await ask(page, question, { temperature: 0, max: 24 });
  const speed = await page.locator('#chat-speed').textContent();
  const perSecond = Number.parseFloat(await page.locator('#chat-speed').getAttribute('data-tokens-per-second'));
  console.log(`chat (greedy):\n  user: ${question}\n  assistant: ${answer}\n---`);
  console.log(`chat speed on this adapter: ${perSecond.toFixed(2)} tokens/s, ` +
    `${(1000 / perSecond).toFixed(0)} ms a step ("${speed}")`);
  check(await page.locator('#chat-messages').getAttribute('data-state') === 'done' && /Paris/.test(answer),
    'the chat model answers that the capital of France is Paris');
  check(perSecond > 0 && /prefill: \d+ prompt tokens in [\d.]+ m?s/.test(speed) && /tokens\/s/.test(speed),
    'the page shows the prefill and the decode speed');
  const bars = await page.locator('#chat-bars .chat-bar:not([hidden])').evaluateAll((rows) => rows.map((row) => ({
    token: row.querySelector('.gpt-char').textContent,
    width: Number.parseFloat(row.querySelector('.gpt-fill').style.width),
  })));
  const sum = bars.reduce((total, bar) => total + bar.width, 0);
  check(bars.length === 5 && bars.every((b, i) => b.token && (i === 0 || b.width <= bars[i - 1].width)) &&
    sum <= 100.001, `five candidate tokens, likeliest first (${bars.map((b) => b.token).join(' ')})`);
  // A second turn reads only what is new: the caches still hold the first.
  const first = Number(speed.match(/prefill: (\d+) prompt tokens/)[1]);
  const followUp = 'And of Italy?';
  const second = await ask(page, followUp, { temperature: 0, max: 12 });
  const secondSpeed = await page.locator('#chat-speed').textContent();
  const read = Number(secondSpeed.match(/prefill: (\d+) prompt tokens/)?.[1]);
  console.log(`  user: ${followUp}\n  assistant: ${second}\n--- (${secondSpeed})`);
  check(second.trim().length > 0 && read > 0 && read < first,
    `a second turn is answered, reading ${read} new tokens rather than the whole conversation`);
  const roles = await page.locator('#chat-messages .chat-msg').evaluateAll((els) => els.map((el) => el.dataset.role));
  check(roles.join() === 'user,assistant,user,assistant', `the conversation shows all four messages (${roles})`);
  // Layer by layer and what the newest token attends to, both asked for, in one turn of one
  // token (its prompt's pass; on SwiftShader the lens's head over 61 rows takes most of it).
  check(await page.locator('#chat-lens-scroll').isHidden(), 'the layer-by-layer table waits to be asked for');
  check(await page.locator('#chat-attention').isHidden(), 'the attention table waits to be asked for');
  await page.check('#chat-lens-on');
  await page.check('#chat-attention-on');
  const watchedStart = performance.now();
  await ask(page, 'And of Spain?', { temperature: 0, max: 1 });
  const watchedSpeed = await page.locator('#chat-speed').textContent();
  console.log(`chat with the lens and attention: 1 token in ${((performance.now() - watchedStart) / 1000).toFixed(1)} s (${watchedSpeed})`);
  // The lens: 61 read-outs of five tokens, the last the bars' five.
  const lens = await page.locator('#chat-lens tbody tr').evaluateAll((rows) => rows.map((row) => ({
    name: row.cells[0].textContent,
    guesses: [...row.querySelectorAll('.gpt-lens-guess .gpt-char')].map((g) => g.textContent),
    change: Number.parseFloat(row.querySelector('.gpt-fill')?.style.width ?? 'NaN'),
  })));
  const barsTop = await page.locator('#chat-bars .chat-bar .gpt-char').allTextContents();
  check(await page.locator('#chat-lens-scroll').isVisible() && lens.length === 61 && lens[60].name === 'layer 30 MLP' &&
    lens.every((row) => row.guesses.length === 5 && row.guesses.every((g) => g !== '')) &&
    lens.slice(1).every((row) => row.change > 0 && row.change <= 100) &&
    JSON.stringify(lens[60].guesses) === JSON.stringify(barsTop) && JSON.stringify(lens[0].guesses) !== JSON.stringify(barsTop),
    `the chat model's layer-by-layer table: 61 read-outs, the last the prediction (${JSON.stringify(lens[60])}, bars ${JSON.stringify(barsTop)})`);
  // Attention: the chosen layer and head's eight heaviest tokens, their raw scores beside their
  // weights, which are the scores' softmax.
  const attended = () => page.locator('#chat-attention-table tbody tr').evaluateAll((rows) => rows.map((row) => ({
    token: row.cells[0].textContent,
    position: Number(row.cells[1].textContent),
    score: Number(row.dataset.score),
    weight: Number(row.dataset.weight),
  })));
  const heaviest = await attended();
  const ratio = heaviest.length > 1 ? heaviest[1].weight / heaviest[0].weight : NaN;
  const softmax = heaviest.length > 1 ? Math.exp(heaviest[1].score - heaviest[0].score) : NaN;
  check(await page.locator('#chat-attention').isVisible() && heaviest.length === 8 &&
    heaviest.every((h, i) => h.token !== '' && Number.isInteger(h.position) && h.position >= 1 && h.weight > 0 &&
      (i === 0 || (h.weight <= heaviest[i - 1].weight && h.score <= heaviest[i - 1].score))) &&
    new Set(heaviest.map((h) => h.position)).size === 8 &&
    heaviest.reduce((sum, h) => sum + h.weight, 0) <= 1.0001 && Math.abs(ratio - softmax) < 1e-3 * softmax + 1e-6,
    `what the newest token attends to in layer 30, head 1: ${JSON.stringify(heaviest.slice(0, 3))} ` +
    `(weight ratio ${ratio}, exp of the score difference ${softmax})`);
  await page.fill('#chat-layer', '1');
  await page.waitForFunction(() => document.getElementById('chat-attention-table').dataset.layer === '1');
  const firstLayer = await attended();
  check(firstLayer.length === 8 && JSON.stringify(firstLayer) !== JSON.stringify(heaviest),
    `layer 1 attends elsewhere: ${JSON.stringify(firstLayer.slice(0, 3))}`);
  await page.uncheck('#chat-lens-on');
  await page.uncheck('#chat-attention-on');
  await page.locator('#panel-transformer h2').scrollIntoViewIfNeeded();
  await page.screenshot({ path: '/tmp/chat_tab.png', fullPage: true });

  await ask(page, 'Thanks', { temperature: -1 });
  const refusal = await page.locator('#chat-error').textContent();
  check(await page.locator('#chat-error').isVisible() && /temperature/i.test(refusal) &&
    await page.locator('#chat-messages .chat-msg').count() === 6 &&
    await page.inputValue('#chat-input') === 'Thanks',
    `a bad setting is refused and the message kept to send again ("${refusal}")`);
  await page.click('#chat-reset');
  check(await page.locator('#chat-messages .chat-msg').count() === 0 && await page.locator('#chat-error').isHidden(),
    '"New chat" clears the conversation');

  await page.reload();
  await page.waitForFunction(() => document.getElementById('adapter').dataset.state !== 'pending',
    null, { timeout: 60_000 });
  downloads = 0;
  await page.click('#tab-transformer');
  await page.check('#tf-model input[value="chat"]');
  await page.waitForFunction(() => document.getElementById('chat-cache-note').dataset.cached !== undefined,
    null, { timeout: 60_000 });
  const note = await page.locator('#chat-cache-note').textContent();
  check(await page.locator('#chat-cache-note').getAttribute('data-cached') === 'true' && /cached/i.test(note),
    `after a reload the page says the model is cached ("${note}")`);
  const again = Date.now();
  check(await loadChat(page) === 'ready' && downloads === 0 &&
    await page.locator('#chat-status').getAttribute('data-source') === 'cache',
    `after a reload it loads from the cache, with no download (${((Date.now() - again) / 1000).toFixed(1)} s)`);
}

// A generator whose bytes were altered on the way is refused: the GAN tab says so and draws
// nothing; a damaged cached chat model is replaced. The service worker is kept out, so the route sees the page's own request.
async function checkTampered() {
  const page = await newPage({ serviceWorkers: 'block' });
  const crashes = [];
  page.on('pageerror', (e) => crashes.push(e.message));
  const file = 'gan_generator_fashion.safetensors';
  const bytes = await readFile(`www/models/${file}`);
  bytes[bytes.length - 1] ^= 0x40; // one bit of one weight
  await page.context().route(`**/genai-lab/models/${file}`, (route) => route.fulfill({ status: 200, body: bytes,
    contentType: 'application/octet-stream' }));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('gan-status').dataset.state === 'error',
    null, { timeout: 120_000 });
  const status = await page.locator('#gan-status').textContent();
  check(status.includes(`${file} does not match its SHA-256: the file is damaged or is another version`),
    `an altered model file is refused ("${status}")`);
  check(await page.locator('#gan-grid .gan-sample').count() === 0 && crashes.length === 0 &&
    await page.locator('#gan-new').isDisabled(), 'the GAN tab generates nothing from it, and nothing crashed');

  // A damaged copy of the chat model in the browser's cache is dropped and downloaded again.
  await page.evaluate(async ([name, path]) => {
    const junk = new Uint8Array(1000).fill(7);
    await (await caches.open(name)).put(new URL(path, location.href).href,
      new Response(junk, { headers: { 'content-length': '1000' } }));
  }, [MODEL_CACHE, `models/${GGUF}`]);
  const state = await loadChat(page);
  check(state === 'ready' && await page.locator('#chat-status').getAttribute('data-source') === 'network' &&
    crashes.length === 0, 'a damaged cached chat model is dropped and downloaded again');
  await page.context().close();
}

// Loads the page, lets the service worker keep the GAN and the GPT, then goes offline (and stops
// the server) and reloads: the page comes up, the GAN draws 16 samples, the GPT writes.
async function checkOffline() {
  // The worker's shell lists every module of the page and of the package (a module that is missing
  // is kept only if it happens to be fetched while the worker is in charge).
  const sw = await readFile('www/sw.js', 'utf8');
  const modules = [...(await readdir('www')).filter((f) => f.endsWith('.js') && !['sw.js', 'bench.js'].includes(f)),
    ...(await readdir('www/genai-lab')).filter((f) => f.endsWith('.js'))];
  const unlisted = modules.filter((f) => !sw.includes(`'${f}'`));
  check(unlisted.length === 0, `the service worker keeps every module of the page and the package (unlisted: ${JSON.stringify(unlisted)})`);
  const page = await newPage();
  await page.goto(url);
  await waitForGeneration(page, 0);
  // Without ?backend, the page picks: the CPU on a software adapter, and says so.
  const line = await page.locator('#adapter').textContent();
  const why = await page.locator('#adapter').getAttribute('title') ?? '';
  const chosen = await page.locator('#adapter').getAttribute('data-backend');
  const want = softwareAdapter ? 'cpu' : 'webgpu';
  check(chosen === want && (!softwareAdapter || (/software: the small models run on the CPU/.test(line) &&
    /software one.*\?backend=webgpu/.test(why))), `by default the small models run on ${want} (${softwareAdapter ? 'a' : 'no'} software adapter): "${line}" ("${why}")`);
  await page.click('#tab-transformer');
  await page.waitForFunction(() => document.getElementById('gpt-status').dataset.state === 'ready',
    null, { timeout: 120_000 });
  // The page's shell in the service worker's cache, the models in the package's. Polled with
  // evaluate: waitForFunction does not wait for an async predicate's answer.
  const needed = {
    [SHELL_CACHE]: ['/', '/gan-train.js', '/genai-lab/worker-thread.js', '/genai-lab/trainers.js', '/genai-lab/pkg/genai_lab_bg.wasm'],
    [MODEL_CACHE]: ['/genai-lab/models/gan_generator_fashion.safetensors', '/genai-lab/models/gpt_shakespeare.safetensors'],
  };
  const kept = () => page.evaluate(async (caches_) => {
    if (!navigator.serviceWorker.controller) return false;
    for (const [name, files] of Object.entries(caches_)) {
      if (!(await caches.has(name))) return false;
      const keys = (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname);
      if (!files.every((f) => keys.includes(f))) return false;
    }
    return true;
  }, needed);
  const waitUntil = Date.now() + 60_000;
  while (!(await kept())) {
    if (Date.now() > waitUntil) throw new Error(`the caches never held ${JSON.stringify(needed)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await page.context().setOffline(true);
  server.closeAllConnections();
  server.close();
  const started = Date.now();
  await page.reload();
  await page.waitForFunction(() => document.getElementById('adapter').dataset.state !== 'pending',
    null, { timeout: 60_000 });
  check(await page.locator('#adapter').getAttribute('data-state') === 'ready', 'offline, the page reloads from the service worker');
  await waitForGeneration(page, 0);
  const drawn = (await gridImages(page)).filter((c) => !c.blank).length;
  check(drawn >= 12 && await page.locator('#gan-grid .gan-sample').count() === 16,
    `offline, the GAN draws its 16 samples (${drawn} drawn)`);
  await page.click('#tab-transformer');
  await page.waitForFunction(() => document.getElementById('gpt-status').dataset.state !== 'busy',
    null, { timeout: 120_000 });
  const text = await writeText(page, { prompt: 'ROMEO:', length: 8, seed: 3 });
  check([...text].length === 8, `offline, the GPT writes ("ROMEO:${text}", ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  await page.context().close();
}

// Whether the page's adapter is a software one (the main run finds out).
let softwareAdapter = null;

// Runs one part of the test and prints how long it took (printed, not asserted: it shows where
// the test's time goes).
async function timed(what, run) {
  const started = Date.now();
  const result = await run();
  console.log(`-- ${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

try {
  const page = await newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  const opened = Date.now();
  // The kernels on this adapter, even a software one (where the page would pick the CPU).
  await page.goto(`${url}?backend=webgpu`);
  // Printed, not asserted: it depends on the adapter and the machine's load.
  await waitForGeneration(page, 0);
  console.log(`from opening the page to the first GAN images: ${Date.now() - opened} ms`);

  const adapter = page.locator('#adapter');
  await page.waitForFunction(() => document.getElementById('adapter').dataset.state !== 'pending',
    null, { timeout: 60_000 });
  const state = await adapter.getAttribute('data-state');
  const text = await adapter.textContent();
  console.log(`adapter line: ${text}`);
  check(state === 'ready', `the page found a WebGPU adapter and its kernels verified (state ${state})`);
  softwareAdapter = text.includes('software fallback');
  check(await adapter.getAttribute('data-backend') === 'webgpu', 'with ?backend=webgpu the small models run on WebGPU');
  const name = await adapter.getAttribute('data-adapter');
  check(Boolean(name) && name !== 'an unnamed adapter', `the page names the adapter (${name})`);
  check(await page.locator('#no-webgpu').isHidden(), 'no "no WebGPU" notice');

  for (const name of ['vae', 'diffusion', 'transformer', 'gan']) {
    await page.click(`#tab-${name}`);
    const shown = await page.locator(`#panel-${name}`).isVisible();
    const others = await page.locator(`[role="tabpanel"]:not(#panel-${name})`).evaluateAll(
      (panels) => panels.every((p) => p.hidden));
    check(shown && others, `tab ${name} shows its panel alone`);
  }
  check(consoleErrors.length === 0, `no console errors ${JSON.stringify(consoleErrors)}`);

  await timed('checkGanTab', () => checkGanTab(page));
  check(consoleErrors.length === 0, `no console errors after the GAN tab ${JSON.stringify(consoleErrors)}`);

  await timed('checkGanTraining', () => checkGanTraining(page));
  check(consoleErrors.length === 0, `no console errors after the GAN's training ${JSON.stringify(consoleErrors)}`);

  await timed('checkVaeTab', () => checkVaeTab(page));
  check(consoleErrors.length === 0, `no console errors after the VAE tab ${JSON.stringify(consoleErrors)}`);

  await timed('checkVaeTraining', () => checkVaeTraining(page));
  check(consoleErrors.length === 0, `no console errors after the VAE's training ${JSON.stringify(consoleErrors)}`);

  await timed('checkDiffusionTab', () => checkDiffusionTab(page));
  check(consoleErrors.length === 0, `no console errors after the diffusion tab ${JSON.stringify(consoleErrors)}`);

  const gptText = await timed('checkTransformerTab', () => checkTransformerTab(page));
  check(consoleErrors.length === 0, `no console errors after the Transformer tab ${JSON.stringify(consoleErrors)}`);

  const imageCodes = await timed('checkImageGpt', () => checkImageGpt(page, 'on WebGPU'));
  check(consoleErrors.length === 0, `no console errors after the image GPT ${JSON.stringify(consoleErrors)}`);
  await page.check('#tf-model input[value="gpt"]');

  await timed('checkChatTab', () => checkChatTab(page, consoleErrors));
  check(consoleErrors.length === 0, `no console errors after the chat model ${JSON.stringify(consoleErrors)}`);

  await timed('checkBadArguments', () => checkBadArguments());
  await timed('checkWithoutWebGPU', () => checkWithoutWebGPU(gptText, imageCodes));

  await timed('checkTampered', () => checkTampered());
  await timed('checkOffline', () => checkOffline());
  check(violations.length === 0, `no Content-Security-Policy violations ${JSON.stringify(violations)}`);
  check(deprecations.length === 0, `no deprecation warning on the page or in its worker ${JSON.stringify(deprecations)}`);
  check(foreign.length === 0, `every request went to the page's own origin ${JSON.stringify(foreign.slice(0, 5))}`);
} finally {
  await browser.close();
  server.close();
}
if (failures.length) {
  console.error(`${failures.length} page check(s) failed`);
  process.exit(1);
}
console.log('page test passed');
