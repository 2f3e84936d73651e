// The npm package as an embedder meets it: packs target/npm/genai-lab (scripts/build-web.sh
// builds it), installs the tarball, Vite and TypeScript into a fresh project, type-checks
// tests/npm/types.ts against the package's declarations, writes the project's page and module
// from the package README's examples (the blocks marked <!-- example: html|js -->), builds it
// with Vite, serves it (with the chat model's GGUF beside it) and opens it in Chromium with
// WebGPU. Checks that the lab runs on WebGPU (no adapter fails the test), that the GAN drew ten
// images with scores in [0, 1], that the VAE redrew them, that the image GPT drew its codebook and wrote 49 codes, that the Stop button aborted the GPT's
// stream, that SmolLM2 answered, that through the worker the GAN drew and a stream was aborted,
// that dispose() freed every buffer (main thread and worker), and that no page error happened.
// Then visits again: no model file is requested (all from the Cache API), and a cache an older
// version left is gone. Before the visits, a second page (tests/npm/checks.js) tries the edges
// no example shows, on WebGPU and in a Chromium without it (the CPU backend), each on the main
// thread and through the worker. Needs the npm registry (or npm's cache) for Vite and TypeScript.
//   node tests/npm/run.mjs
import { execFileSync } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/static-server.mjs';

const VITE = '7.3.8';
const TYPESCRIPT = '5.9.3';
const root = fileURLToPath(new URL('../..', import.meta.url));
const pkgDir = join(root, 'target/npm/genai-lab');
if (!existsSync(join(pkgDir, 'package.json'))) {
  throw new Error('target/npm/genai-lab is missing: run scripts/build-web.sh first');
}
const GGUF = 'SmolLM2-135M-Instruct.Q4_1.gguf';
if (!existsSync(join(root, 'www/models', GGUF))) {
  throw new Error(`www/models/${GGUF} is missing: run scripts/fetch-smollm.sh first`);
}
const { version } = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8'));

const started = Date.now();
const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what} (${seconds()})`);
  if (!ok) failures.push(what);
};
function run(cmd, args, cwd) {
  try {
    return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
  } catch (e) {
    console.error(e.stdout?.toString());
    throw e;
  }
}

// The README's examples: the html block is the page's body, the js blocks in order its module.
const readme = await readFile(join(pkgDir, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/<!-- example: (html|js) -->\n```\1\n([\s\S]*?)```/g)];
const html = blocks.filter((b) => b[1] === 'html').map((b) => b[2]).join('');
const js = blocks.filter((b) => b[1] === 'js').map((b) => b[2]).join('\n');
if (!html || !js) throw new Error('the package README marks no html and js examples');

const project = await mkdtemp(join(tmpdir(), 'genai-lab-npm-'));
const tarball = join(project, run('npm', ['pack', pkgDir, '--pack-destination', project, '--silent'], root).trim());
await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'embedder', private: true, type: 'module' }));
run('npm', ['install', '--no-audit', '--no-fund', '--silent', tarball, `vite@${VITE}`, `typescript@${TYPESCRIPT}`], project);
const page = (title, body, module) => `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${title}</title></head>
<body>
${body}<script type="module" src="/${module}"></script>
</body></html>
`;
await writeFile(join(project, 'index.html'), page('genai-lab package test', html, 'main.js'));
await writeFile(join(project, 'main.js'), js);
// A second page, checks.html, for the edges no README example shows (tests/npm/checks.js).
await writeFile(join(project, 'checks.html'), page('genai-lab package checks', '', 'checks.js'));
await writeFile(join(project, 'checks.js'), await readFile(join(root, 'tests/npm/checks.js')));
await writeFile(join(project, 'vite.config.js'),
  "export default { build: { rollupOptions: { input: ['index.html', 'checks.html'] } } };\n");
check(true, `packed ${tarball.split('/').pop()}, installed it with vite ${VITE} in ${project}`);
const installed = join(project, 'node_modules/genai-lab');
const { license } = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'));
check(license === 'MIT OR Apache-2.0' && existsSync(join(installed, 'LICENSE-MIT')) && existsSync(join(installed, 'LICENSE-APACHE')),
  `the installed package is licensed ${license}, with LICENSE-MIT and LICENSE-APACHE`);
await writeFile(join(project, 'types.ts'), await readFile(join(root, 'tests/npm/types.ts')));
run('node_modules/.bin/tsc', ['--noEmit', '--strict', '--target', 'es2022', '--module', 'esnext',
  '--moduleResolution', 'bundler', '--lib', 'es2022,dom,dom.iterable', 'types.ts'], project);
check(true, 'tests/npm/types.ts, which uses every export, compiles against the package declarations (tsc --strict)');
run('node_modules/.bin/vite', ['build', '--logLevel', 'warn'], project);
check(true, 'vite build');
// The chat model the README's example loads from /models/, served beside the build: a copy, since
// the server serves no link out of its root.
await mkdir(join(project, 'dist/models'));
await copyFile(join(root, 'www/models', GGUF), join(project, 'dist/models', GGUF), constants.COPYFILE_FICLONE);
// "Your own weights" for checks.js: the GPT's files under /own/, its last weight one bit off, so
// that only a load with verify: false takes them.
await mkdir(join(project, 'dist/own'));
await copyFile(join(pkgDir, 'models/gpt_shakespeare.json'), join(project, 'dist/own/gpt_shakespeare.json'));
const weights = await readFile(join(pkgDir, 'models/gpt_shakespeare.safetensors'));
weights[weights.length - 4] ^= 1; // the lowest bit of the last float's mantissa
await writeFile(join(project, 'dist/own/gpt_shakespeare.safetensors'), weights);

const server = await serve(join(project, 'dist'), 0);
const url = `http://127.0.0.1:${server.address().port}/`;
const FLAGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...FLAGS, '--enable-unsafe-webgpu'] });
const context = await browser.newContext();
const CACHE = `genai-lab-models-${version}`;

// Whether each 28 x 28 tile of a canvas shows something: not one flat grey, some pixel above 40.
const tilesDrawn = (page, selector) => page.locator(selector).evaluate((c) => {
  const ctx = c.getContext('2d');
  return Array.from({ length: c.width / 28 }, (_, i) => {
    const grey = ctx.getImageData(28 * i, 0, 28, 28).data.filter((_, j) => j % 4 === 0);
    return grey.some((v) => v > 40) && !grey.every((v) => v === grey[0]);
  });
});
const text = (page, selector) => page.locator(selector).textContent();

async function visit(label, backend) {
  const page = await context.newPage();
  const errors = [];
  const modelRequests = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('response', (r) => r.status() >= 400 && errors.push(`${r.url()}: HTTP ${r.status()}`));
  page.on('request', (r) => /\.(safetensors|json|gguf)$/.test(new URL(r.url()).pathname) && modelRequests.push(r.url()));
  await page.goto(url);
  const failed = () => errors.length > 0;
  const waitFor = (fn, arg) => page.waitForFunction(fn, arg, { timeout: 300_000 }).catch(async (e) => {
    const shown = await page.evaluate(() => Object.fromEntries(['status', 'story', 'answer', 'worker-story']
      .map((id) => [id, document.getElementById(id)?.textContent]))).catch(() => ({}));
    throw new Error(`${label}: ${e.message}; page errors: ${errors.join(' | ')}; the page shows ${JSON.stringify(shown)}`);
  });

  await waitFor(() => document.querySelector('#backend').textContent !== '');
  check(await text(page, '#backend') === backend, `${label}: the lab runs on ${backend}, as the default chose in checks.html (got "${await text(page, '#backend')}")`);
  await waitFor(() => document.querySelector('#scores').textContent !== '');
  const scores = (await text(page, '#scores')).split(' ').map(Number);
  check(scores.length === 10 && scores.every((s) => s >= 0 && s <= 1), `${label}: ten GAN scores in [0, 1]: ${scores.join(' ')}`);
  const tiles = await tilesDrawn(page, '#samples');
  check(tiles.length === 10 && tiles.every(Boolean), `${label}: the GAN drew ten images on the canvas`);

  await waitFor(() => document.querySelector('#story').textContent !== ''); // the VAE and the diffusion model are done
  const redrawn = await tilesDrawn(page, '#redrawn');
  check(redrawn.length === 10 && redrawn.every(Boolean), `${label}: the VAE redrew the ten images`);
  const losses = (await text(page, '#losses')).split(' ').map((pair) => pair.split('/').map(Number));
  check(losses.length === 3 && losses.flat().every((l) => l > 0 && Number.isFinite(l)),
    `${label}: the GAN trainer took three steps (d/g losses ${await text(page, '#losses')})`);
  const trained = await tilesDrawn(page, '#trained');
  check(trained.length === 10 && trained.every(Boolean), `${label}: its exported weights loaded from files and drew ten images`);
  const film = await tilesDrawn(page, '#film');
  check(film.length === 10 && film.every(Boolean), `${label}: the diffusion model drew its ten noisy steps`);
  // The codebook sheet: most of its 256 patches show something, and they differ from one another.
  const sheet = await page.locator('#codebook').evaluate((c) => {
    const grey = c.getContext('2d').getImageData(0, 0, 64, 64).data.filter((_, j) => j % 4 === 0);
    const patch = (i) => Array.from({ length: 16 }, (_, p) => grey[(4 * Math.floor(i / 16) + (p >> 2)) * 64 + 4 * (i % 16) + (p & 3)]).join();
    const all = Array.from({ length: 256 }, (_, i) => patch(i));
    return { inked: all.filter((p) => p.split(',').some((v) => v > 40)).length, distinct: new Set(all).size };
  });
  check(sheet.inked > 128 && sheet.distinct > 128, `${label}: the image GPT's codebook sheet: ${sheet.inked} of 256 patches inked, ${sheet.distinct} distinct`);
  const codes = (await text(page, '#codes')).split(' ').map(Number);
  const [written] = await tilesDrawn(page, '#written');
  check(codes.length === 49 && codes.every((c) => Number.isInteger(c) && c >= 0 && c < 256) && written,
    `${label}: the image GPT wrote 49 codes and drew the image: ${codes.join(' ')}`);
  await waitFor(() => document.querySelector('#story').textContent.length >= 20);
  await page.click('#stop');
  await waitFor(() => document.querySelector('#story').textContent.endsWith('[stopped]'));
  const story = await text(page, '#story');
  check(story.length < 100, `${label}: Stop aborted the GPT's stream after ${story.length - ' [stopped]'.length} characters: ${JSON.stringify(story)}`);

  await waitFor(() => document.querySelector('#worker-story').textContent.length >= 20);
  const answer = await text(page, '#answer');
  check(/Paris/.test(answer), `${label}: SmolLM2 answered through loadChat and chat(): ${JSON.stringify(answer)}`);
  // The lens's last row is the step's own prediction: greedy, its first token opens the answer.
  const layers = await text(page, '#layers');
  const [, embedding, last] = layers.match(/^embedding: (\[.*\]) \| last layer: (\[.*\])$/) ?? [];
  const tokens = (row) => (row ? JSON.parse(row) : []);
  check(tokens(embedding).length === 5 && tokens(last).length === 5 && answer.startsWith(tokens(last)[0]) &&
    tokens(embedding).join() !== tokens(last).join(),
    `${label}: SmolLM2's lens, after the embedding and after the last layer: ${layers}`);
  // What the prompt's last token attends to in the last layer's first head: three tokens of
  // the conversation, heaviest first, with weights that could be a softmax's.
  const attends = await text(page, '#attends');
  const heaviest = [...attends.matchAll(/("(?:[^"\\]|\\.)*") (\d\.\d+) \(score (-?\d+\.\d+)\)/g)]
    .map(([, token, weight, score]) => ({ token: JSON.parse(token), weight: Number(weight), score: Number(score) }));
  const sum = heaviest.reduce((s, h) => s + h.weight, 0);
  check(heaviest.length === 3 && heaviest.every((h, i) => h.token !== '' && h.weight > 0 &&
    (i === 0 || (h.weight <= heaviest[i - 1].weight && h.score <= heaviest[i - 1].score))) && sum <= 1.001,
    `${label}: what SmolLM2's last prompt token attends to: ${attends}`);
  const workerTiles = await tilesDrawn(page, '#worker-samples');
  check(workerTiles.length === 10 && workerTiles.every(Boolean), `${label}: the worker's GAN drew ten images`);
  await page.click('#worker-stop');
  await waitFor(() => document.querySelector('#memory').textContent !== '');
  const workerStory = await text(page, '#worker-story');
  check(workerStory.endsWith('[stopped]') && workerStory.length < 100,
    `${label}: the worker's GPT wrote, and Stop aborted its stream across the worker: ${JSON.stringify(workerStory)}`);
  const { loaded, work, freed, remoteFreed } = JSON.parse(await text(page, '#memory'));
  // The chat model's weights (98 MB, on the WebGPU device even where the small models run on the
  // CPU) count in both sums.
  check(loaded.liveBytes > 90e6 && work.bytesUploaded > 90e6 && work.dispatches > 0,
    `${label}: lab.memory() and lab.stats() count the chat model's device: ${JSON.stringify({ loaded, work })}`);
  check(loaded.liveBuffers > 0 && freed.liveBuffers === 0 && freed.liveBytes === 0,
    `${label}: dispose() freed every buffer: ${loaded.liveBuffers} buffers (${loaded.liveBytes} bytes) to ${freed.liveBuffers} (${freed.liveBytes})`);
  check(remoteFreed.liveBuffers === 0 && remoteFreed.liveBytes === 0, `${label}: in the worker too`);
  check(!failed(), `${label}: no page error${failed() ? `: ${errors.join(' | ')}` : ''}`);
  const result = { modelRequests, caches: await page.evaluate(() => caches.keys()), status: await text(page, '#status') };
  await page.close();
  return result;
}

// checks.html in `browser` (with `query`), in a context of its own (its cache apart from the
// visits'): its window.results and window.chosen, each one set for the main thread and one for
// the worker.
async function edges(browser, query = '') {
  const own = await browser.newContext();
  const page = await own.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}checks.html${query}`);
  const done = await page.waitForFunction(() => window.results, null, { timeout: 300_000 }).catch(() => null);
  if (!done) throw new Error(`checks.html did not finish; page errors: ${errors.join(' | ')}`);
  const results = await page.evaluate(() => ({ results: window.results, chosen: window.chosen }));
  await own.close();
  return results;
}

// What createLab() chose by default: on WebGPU, the CPU where the adapter is a software one
// (the chat model still on WebGPU), else WebGPU; without WebGPU, the CPU. Returns the choice.
function checkChoice(chosen, hasWebGpu) {
  for (const [where, c] of Object.entries(chosen)) {
    const label = `${hasWebGpu ? 'WebGPU' : 'no WebGPU'}, ${where === 'main' ? 'main thread' : 'worker'}, default backend`;
    const want = hasWebGpu && !c.fallbackAdapter ? 'webgpu' : 'cpu';
    const because = !hasWebGpu ? c.noGpuReason !== null && /^no WebGPU/.test(c.reason)
      : c.fallbackAdapter ? c.noGpuReason === null && /software/.test(c.reason) : c.noGpuReason === null;
    check(c.backend === want && because, `${label}: ${c.backend} (${c.fallbackAdapter ? 'a software adapter' : 'no software adapter'}: "${c.reason}")`);
  }
  return chosen.main.backend;
}

// The code of each error class, and what must have provoked one on every backend and thread.
const CODES = {
  InvalidArgumentError: 'invalid-argument', IntegrityError: 'integrity', NetworkError: 'network',
  UnsupportedModelError: 'unsupported-model', DeviceLostError: 'device-lost', OutOfMemoryError: 'out-of-memory',
  TrainingDivergedError: 'training-diverged', DisposedError: 'disposed', AbortError: 'abort',
};

function checkEdges(results, backend) {
  for (const [where, r] of Object.entries(results)) {
    const label = `${backend}, ${where === 'main' ? 'main thread' : 'worker'}`;
    const says = (key, pattern) => check(pattern.test(r[key]), `${label}: ${key}: ${r[key]}`);
    check(r.backend === backend, `${label}: the lab's backend is ${r.backend}`);
    says('badBackend', /^InvalidArgumentError: genai-lab: invalid input: backend must be 'auto', 'webgpu' or 'cpu'; got gpu$/);
    says('notOptions', /^InvalidArgumentError: genai-lab: createLab takes an options object/);
    says('abortedLoad', /^AbortError: genai-lab: aborted$/);
    if (where === 'main') {
      says('abortedHalfway', /^AbortError/);
      check(r.memoryAfterAbort.liveBuffers === 0, `${label}: the aborted load left no buffer (${r.memoryAfterAbort.liveBuffers})`);
    }
    says('badDataset', /^InvalidArgumentError: genai-lab: dataset must be 'fashion' or 'mnist'; got cifar$/);
    says('ownChecked', /^IntegrityError: genai-lab: gpt_shakespeare\.safetensors does not match its SHA-256/);
    check([...r.ownWrote].length === 8, `${label}: weights from baseUrl with verify: false load and write (${JSON.stringify(r.ownWrote)})`);
    says('missingFile', /^NetworkError: genai-lab: .*gpt_shakespeare\.(json|safetensors) answered HTTP 404: serve the file there/);
    check(r.kinds.NetworkError?.some((e) => e.status === 404 && /\/nowhere\/gpt_shakespeare/.test(e.url)),
      `${label}: the NetworkError carries the URL and the status: ${JSON.stringify(r.kinds.NetworkError)}`);
    says('chat', backend === 'webgpu' ? /^NetworkError: .*none\.gguf answered HTTP 404/
      : /^UnsupportedModelError: genai-lab: the chat model needs WebGPU/);
    says('notGguf', backend === 'webgpu' ? /^UnsupportedModelError: genai-lab: not a model this package can load: gguf/
      : /^UnsupportedModelError: genai-lab: the chat model needs WebGPU/);
    check(r.scores.length === 2 && r.scores.every((s) => s > 0 && s < 1) && r.sameZ,
      `${label}: the GAN scored ${r.scores.map((s) => s.toFixed(3)).join(', ')}, the same again from the z it returned`);
    check(r.vae.latent === 2 && r.vae.z === 6 && r.vae.images === 3, `${label}: the 2-D VAE sampled ${r.vae.images} images`);
    check(r.ganTraining.steps === 2 && r.ganTraining.seen === 4 && r.ganTraining.history === 2 && r.ganTraining.finite,
      `${label}: a GAN trained two steps from scratch (${JSON.stringify(r.ganTraining)})`);
    says('badBatch', /^InvalidArgumentError: genai-lab: invalid input: the batch size must be from 1 to 3/);
    says('badRate', /^InvalidArgumentError: genai-lab: invalid input: the learning rate must be positive and finite; got -1/);
    says('badLabels', /^InvalidArgumentError: genai-lab: labels must give one class \(0 to 9\) for each of the 3 images/);
    check(r.exported.files.join() === 'gan_discriminator_mnist.json,gan_discriminator_mnist.safetensors,gan_generator_mnist.json,gan_generator_mnist.safetensors' &&
      r.exported.images === 1 && r.exported.card === 3, `${label}: its export loaded with loadGan({ files }) (${JSON.stringify(r.exported)})`);
    says('diverged', /^TrainingDivergedError: genai-lab: training diverged: at step 1 the .* became (NaN|-?Infinity), .*learning rates/);
    check(r.stillDiverged === r.diverged, `${label}: a diverged trainer refuses the next step too`);
    check(r.vaeTraining.steps === 2 && r.vaeTraining.kl && r.vaeTraining.mean === 6 &&
      r.vaeTraining.files.join() === 'vae2d_mnist.json,vae2d_mnist.safetensors', `${label}: a VAE trained from scratch (${JSON.stringify(r.vaeTraining)})`);
    says('badBeta', /^InvalidArgumentError: genai-lab: invalid input: the KL weight beta must be a number from 0 to 100; got -1/);
    check(r.nearest.index === 1 && r.nearest.distance === 0, `${label}: the image index found image 1 nearest to itself`);
    check(r.progress.loaded === r.progress.total && r.progress.total > 9e6,
      `${label}: the GPT's load reported progress up to ${r.progress.loaded} of ${r.progress.total} bytes`);
    check(r.diffusion.steps === 3 && r.diffusion.done && r.diffusion.images === 2 && r.diffusion.watched === 0 && r.diffusion.t === 333,
      `${label}: a 3-step diffusion run ended with its two images, reading none back on the way (${JSON.stringify(r.diffusion)})`);
    check(r.sameSeed, `${label}: the same seed gave the same diffusion samples`);
    check(r.noised > 0.5 && r.noised < 2 && r.denoised === 1, `${label}: the forward process at t 500 (signal-to-noise ${r.noised}), denoise from t 100`);
    says('zeroSteps', /^InvalidArgumentError: genai-lab: invalid input: the number of steps must be a whole number from 1 to 1000; got 0/);
    says('tooManySteps', /^InvalidArgumentError: genai-lab: invalid input: the number of steps must be a whole number from 1 to 1000; got 1001/);
    says('badGuidance', /^InvalidArgumentError: genai-lab: invalid input: the guidance scale must be finite and non-negative; got -1/);
    says('nanGuidance', /^InvalidArgumentError: genai-lab: invalid input: the guidance scale must be finite and non-negative; got NaN/);
    says('badClass', /^InvalidArgumentError: genai-lab: invalid input: a class label \(10: none\) must be a whole number from 0 to 10; got 11/);
    says('badSampler', /^InvalidArgumentError: genai-lab: sampler must be 'ddim' or 'ancestral'; got euler/);
    says('badLevel', /^InvalidArgumentError: genai-lab: invalid input: the noise level t must be a whole number from 0 to 999; got 1000/);
    says('badImage', /^InvalidArgumentError: genai-lab: pixels must hold 784 numbers per image/);
    says('shortZ', /^InvalidArgumentError: genai-lab: z holds 1 latent vectors for 2 labels/);
    check(backend === 'webgpu' ? r.stats.dispatches > 0 && r.stats.readBacks >= 2 && r.stats.bytesReadBack >= 2 * 784 * 4
      : r.stats.dispatches === 0 && r.stats.readBacks === 0,
    `${label}: lab.stats() counted a GAN call: ${JSON.stringify(r.stats)}`);
    says('tooMany', /^OutOfMemoryError: genai-lab: too large for this device/);
    says('lost', backend === 'webgpu' ? /^DeviceLostError: genai-lab: the device was lost/ : /^no error$/);
    check(r.afterLoss, `${label}: after the loss the GAN gave the same scores again`);
    check(r.greedy[0].length === 8 && r.greedy[0] === r.greedy[1],
      `${label}: after a loop left early, greedy text twice the same: ${JSON.stringify(r.greedy[0])}`);
    const [without, watched] = r.attention;
    check(without.every((n) => n === 0) && watched[0] === 6 && watched[1] === 6 * 6 * 6 * 256 && watched[2] === watched[1],
      `${label}: attention weights and scores only with attention: true (${JSON.stringify(r.attention)})`);
    check(r.softmaxOfScores < 1e-6, `${label}: the weights are the softmax of the raw scores (${r.softmaxOfScores})`);
    says('badAttention', /^InvalidArgumentError: genai-lab: attention must be true or false/);
    const { sums, lastIsTheStep, changes, unwatched } = r.lens;
    check(sums.length === 2 * 6 + 1 && sums.every((sum) => Math.abs(sum - 1) < 1e-4) && lastIsTheStep,
      `${label}: the lens has 13 distributions, the last the step's own (${JSON.stringify(r.lens)})`);
    check(changes.length === 12 && changes.every((c) => c > 0 && Number.isFinite(c)) && unwatched.every((n) => n === 0),
      `${label}: the lens's changes, and nothing unwatched (${JSON.stringify(r.lens)})`);
    says('badLens', /^InvalidArgumentError: genai-lab: lens must be true or false/);
    says('twoStreams', /^InvalidArgumentError: genai-lab: this Gpt is already writing/);
    says('badPrompt', /^InvalidArgumentError: genai-lab: invalid input: .*Ω/);
    says('disposedModel', /^DisposedError: genai-lab: this Gpt was disposed/);
    says('disposedLab', /^DisposedError: genai-lab: this lab was disposed/);
    const expected = Object.keys(CODES).filter((name) => backend === 'webgpu' || name !== 'DeviceLostError');
    for (const name of expected) {
      const met = r.kinds[name] ?? [];
      check(met.length > 0 && met.every((e) => e.instance && e.code === CODES[name]),
        `${label}: ${name} provoked ${met.length} time(s), each an instance of the exported class with code '${CODES[name]}'`);
    }
    const others = Object.keys(r.kinds).filter((name) => !CODES[name]);
    check(others.length === 0, `${label}: no error of another kind (${others.join(', ') || 'none'})`);
  }
}

try {
  const webgpu = await edges(browser, '?backend=webgpu');
  checkEdges(webgpu.results, 'webgpu');
  const readmeBackend = checkChoice(webgpu.chosen, true);
  const bare = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
  try {
    const cpu = await edges(bare);
    checkEdges(cpu.results, 'cpu');
    checkChoice(cpu.chosen, false);
  } finally {
    await bare.close();
  }
  const first = await visit('first visit', readmeBackend);
  check(first.modelRequests.length > 0 && first.caches.includes(CACHE),
    `first visit: ${first.modelRequests.length} model files downloaded and kept in the cache ${CACHE}`);
  const page = await context.newPage();
  await page.goto(url);
  await page.evaluate(() => caches.open('genai-lab-models-0.0.0'));
  await page.close();
  const second = await visit('second visit', readmeBackend);
  check(second.modelRequests.length === 0 && second.status.endsWith('(from the cache)'),
    `second visit: no model file requested, all read from the Cache API ("${second.status}") ${second.modelRequests.join(' ')}`);
  check(!second.caches.includes('genai-lab-models-0.0.0') && second.caches.includes(CACHE),
    `second visit: an older version's cache was deleted, ${CACHE} kept (${second.caches.join(', ')})`);
} finally {
  await browser.close();
  server.close();
  await rm(project, { recursive: true, force: true });
}

console.log(failures.length ? `\n${failures.length} check(s) failed` : `\nall package checks passed in ${seconds()}`);
process.exit(failures.length ? 1 : 0);
