// The GAN tab: the conditional generator draws 16 samples from seeded noise, the discriminator
// scores each, and the reader steers one sample's noise or walks from one sample to the next.
// "Is it a copy?" searches a subset of the training images, on the GPU, for the one nearest to
// the selected sample. The models are the genai-lab package's; the page's calls into them go
// through one queue (`serial`), so that live controls can coalesce their requests while one is in
// flight. Weights trained in the tab's "Train it yourself" part can take the shipped ones' place:
// they come as that part's export, in a USE_WEIGHTS event on the tab's panel (ui.js).
import { standardNormal } from './genai-lab/worker.js';
import {
  SIDE, PIXELS, serial, coalesced, once, drawPixels, classNames, trainingSet, trainingSetLoaded,
  reducedMotion, plural, USE_WEIGHTS, TRAINED, chooseTrained,
} from './ui.js';
import { share, changed } from './route.js';

const GRID = 16; // samples in the grid
const STEERED = 4; // latent dimensions with a slider
const FRAMES = 60; // interpolation frames, one way
const FRAME_MS = 40; // 25 interpolation frames a second

const DATASETS = {
  fashion: { title: 'Fashion-MNIST' },
  mnist: { title: 'MNIST' },
};

const els = {};
const state = {
  lab: null,
  models: new Map(), // data set key -> Promise of { key, title, gan, latent, classes, trainSize }
  trained: null, // the same, for weights trained below (not a promise), or null
  model: null, // the model the grid shows
  seed: 1,
  wantedClass: null, // a class the address asked for, chosen once its data set's names are in
  samples: [], // { z: Float32Array, label, score, pixels }
  selected: 0,
  generation: 0, // grid renders so far
  interp: { token: 0, running: false, frame: 0 },
  controlsOn: false,
  copy: { token: 0 }, // a search shows its result only if no newer search or change came since
};

// ---- Seeded noise ------------------------------------------------------------------------

function drawNoise(seed, latent) {
  const noise = standardNormal(GRID * latent, seed);
  return Array.from({ length: GRID }, (_, i) => noise.slice(i * latent, (i + 1) * latent));
}

// One class for every sample, or ("any") a random one each, drawn from the seed by a hash apart
// from the noise, so changing the class keeps each sample's noise.
function drawLabels(seed, choice) {
  if (choice !== 'any') return new Array(GRID).fill(Number(choice));
  return Array.from({ length: GRID }, (_, i) => {
    const h = Math.imul(seed ^ Math.imul(i + 1, 0x9e3779b9), 0x85ebca6b);
    return ((h ^ (h >>> 13)) >>> 0) % 10;
  });
}

// Spherical interpolation: normal noise lives near a sphere, and a straight line between two
// points cuts through its less likely inside; the arc stays where the generator was trained.
function slerp(a, b, t) {
  const dot = a.reduce((sum, x, i) => sum + x * b[i], 0);
  const cos = Math.min(1, Math.max(-1, dot / (Math.hypot(...a) * Math.hypot(...b))));
  const omega = Math.acos(cos);
  const sin = Math.sin(omega);
  if (sin < 1e-6) return a.map((x, i) => x + t * (b[i] - x));
  const wa = Math.sin((1 - t) * omega) / sin;
  const wb = Math.sin(t * omega) / sin;
  return a.map((x, i) => wa * x + wb * b[i]);
}

// Runs the generator and the discriminator on a batch; call it only inside `serial`.
async function generate(gan, zs, labels) {
  const z = new Float32Array(zs.length * zs[0].length);
  zs.forEach((v, i) => z.set(v, i * v.length));
  const start = performance.now();
  const out = await gan.generate({ z, labels });
  const ms = performance.now() - start;
  const n = zs.length;
  els.timing.textContent = `last batch: ${n} image${n === 1 ? '' : 's'} in ${Math.round(ms)} ms`;
  return out;
}

// ---- Models ------------------------------------------------------------------------------

function describe(key, gan, title) {
  return { key, title, gan, latent: gan.latent, classes: classNames(gan.card), trainSize: gan.card.data?.train };
}

const loadModel = async (key) => describe(key, await state.lab.loadGan({ dataset: key }), DATASETS[key].title);

// The model a data set menu entry names: a shipped one, or the one trained below.
const model = (choice) => (choice === TRAINED ? state.trained : once(state.models, choice, loadModel));

// ---- Drawing -----------------------------------------------------------------------------

const percent = (p) => `${Math.round(p * 100)}%`;

function showScore(scoreEl, barEl, score) {
  scoreEl.dataset.score = String(score);
  scoreEl.textContent = `real: ${percent(score)}`;
  barEl.style.width = percent(score);
}

function sampleElement(i) {
  const el = document.createElement('button');
  el.type = 'button';
  el.className = 'gan-sample';
  el.setAttribute('aria-pressed', 'false');
  // Its name is its visible text (class, score) after a hidden "sample n,".
  el.innerHTML = `<span class="visually-hidden">sample ${i + 1},</span>` +
    `<canvas width="${SIDE}" height="${SIDE}" aria-hidden="true"></canvas>` +
    '<span class="gan-class"></span> <span class="gan-score"></span>' +
    '<span class="gan-bar" aria-hidden="true"><span></span></span>';
  el.addEventListener('click', () => select(i));
  return el;
}

function drawSample(i, pixels, classes) {
  if (i === state.selected) clearCopy(); // the answer was about the old image
  const sample = state.samples[i];
  sample.pixels = pixels;
  const el = els.grid.children[i] ?? els.grid.appendChild(sampleElement(i));
  drawPixels(el.querySelector('canvas'), pixels);
  el.querySelector('.gan-class').textContent = classes[sample.label];
  showScore(el.querySelector('.gan-score'), el.querySelector('.gan-bar span'), sample.score);
  el.dataset.version = String(Number(el.dataset.version ?? 0) + 1);
}

// The large canvas shows the selected sample while no interpolation runs.
function showPreview() {
  if (state.interp.running) return;
  const sample = state.samples[state.selected];
  if (!sample?.pixels) return;
  drawPixels(els.interpCanvas, sample.pixels);
  showScore(els.interpScore, els.interpBar, sample.score);
  els.interpCaption.textContent = `sample ${state.selected + 1}: ${state.model.classes[sample.label]}`;
}

function setStatus(text, kind = 'ready') {
  els.status.textContent = text;
  els.status.dataset.state = kind;
}

function showError(e) {
  console.error(e);
  setStatus(`The GAN failed: ${e.message ?? e}`, 'error');
}

// ---- Is it a copy? -----------------------------------------------------------------------

function setCopyStatus(text, kind = 'ready') {
  els.copyStatus.textContent = text;
  els.copyStatus.dataset.state = kind;
}

// Forgets the shown answer and any search still under way.
function clearCopy() {
  state.copy.token++;
  els.copyResult.hidden = true;
  delete els.copyDistance.dataset.distance;
  setCopyStatus('');
  els.copy.disabled = !state.controlsOn;
}

const article = (name) => (/^[aeiou8]/i.test(name) ? 'an' : 'a');

async function findCopy() {
  const token = ++state.copy.token;
  const i = state.selected;
  const sample = state.samples[i];
  if (!sample?.pixels) return;
  const { key, classes, trainSize } = state.model;
  const pixels = sample.pixels; // redrawing the sample replaces the array, and clears this search
  els.copy.disabled = true;
  els.copyResult.hidden = true;
  delete els.copyDistance.dataset.distance;
  try {
    if (!trainingSetLoaded(key)) setCopyStatus('loading training images…', 'busy');
    const set = await trainingSet(state.lab, key);
    if (token !== state.copy.token) return;
    setCopyStatus('searching the training images…', 'busy');
    const query = Float32Array.from(pixels, (v) => Math.min(1, Math.max(0, v)));
    const { index: n, distance } = await serial(() => set.index.nearest(query));
    if (token !== state.copy.token) return;
    drawPixels(els.copySample, pixels);
    drawPixels(els.copyCanvas, set.images.subarray(n * PIXELS, (n + 1) * PIXELS));
    els.copySampleCaption.textContent = `sample ${i + 1} (generated)`;
    els.copyDistance.dataset.distance = String(distance);
    els.copyDistance.textContent = `distance ${distance.toFixed(2)}`;
    const name = classes[set.labels[n]];
    els.copyNeighbour.textContent = `training image #${set.trainIndices[n]}, ${article(name)} ${name}`;
    const perClass = set.count / classes.length;
    const whole = trainSize ? ` of the ${trainSize.toLocaleString('en')}` : '';
    els.copySearched.textContent = `Searched ${set.count.toLocaleString('en')}${whole} training ` +
      `images${Number.isInteger(perClass) ? ` (${perClass} of each class)` : ''}, so a copy of ` +
      'one of the others would go unseen.';
    setCopyStatus('');
    els.copyResult.hidden = false;
  } finally {
    if (token === state.copy.token) els.copy.disabled = !state.controlsOn;
  }
}

// ---- Tasks (each runs inside `serial`) ---------------------------------------------------

async function renderGrid() {
  const { gan, classes, key } = state.model;
  const samples = state.samples;
  const { pixels, scores } = await generate(gan, samples.map((s) => s.z), samples.map((s) => s.label));
  samples.forEach((sample, i) => {
    sample.score = scores[i];
    drawSample(i, pixels.slice(i * PIXELS, (i + 1) * PIXELS), classes);
  });
  els.grid.dataset.dataset = key;
  els.grid.dataset.generation = String(++state.generation);
  setStatus(`${state.model.title} · seed ${state.seed}`);
  markSelection();
  syncSliders();
  showPreview();
}

async function renderSelected() {
  const i = state.selected;
  const sample = state.samples[i];
  const { pixels, scores } = await generate(state.model.gan, [sample.z], [sample.label]);
  sample.score = scores[0];
  drawSample(i, pixels, state.model.classes);
  showPreview();
}

const requestGrid = coalesced(renderGrid);
const requestSelected = coalesced(renderSelected);

// ---- Controls ----------------------------------------------------------------------------

function newNoise() {
  const noise = drawNoise(state.seed, state.model.latent);
  const labels = drawLabels(state.seed, els.classPicker.value);
  state.samples = noise.map((z, i) => ({ z, label: labels[i], score: 0, pixels: null }));
}

function relabel() {
  const labels = drawLabels(state.seed, els.classPicker.value);
  state.samples.forEach((sample, i) => { sample.label = labels[i]; });
}

function fillClassPicker(classes) {
  const chosen = state.wantedClass ?? els.classPicker.value;
  state.wantedClass = null;
  els.classPicker.replaceChildren(new Option('any (random each)', 'any'),
    ...classes.map((name, i) => new Option(name, String(i))));
  els.classPicker.value = chosen;
  if (!els.classPicker.value) els.classPicker.value = 'any';
}

async function switchDataset(choice) {
  stopInterpolation();
  clearCopy();
  enableControls(false);
  const loading = choice === TRAINED ? 'the weights trained below' :
    `the ${DATASETS[choice].title} generator and discriminator`;
  setStatus(`loading ${loading}…`, 'busy');
  try {
    state.model = await model(choice);
    fillClassPicker(state.model.classes);
    if (!state.samples.length) newNoise();
    await requestGrid();
  } catch (e) {
    if (state.model) els.dataset.value = state.model === state.trained ? TRAINED : state.model.key;
    throw e;
  } finally {
    enableControls(Boolean(state.model));
    els.dataset.disabled = false;
  }
}

// Weights trained below (that part's export: { dataset, files, steps }) take the grid, from the
// same noise, under a menu entry of their own; the weights they replace are disposed.
async function useTrained({ dataset, files, steps }) {
  const gan = await state.lab.loadGan({ dataset, files });
  const old = state.trained;
  state.trained = describe(dataset, gan, `your ${DATASETS[dataset].title} GAN, after ${plural(steps, 'training step')}`);
  chooseTrained(els.dataset, `${DATASETS[dataset].title}, trained below (${plural(steps, 'step')})`);
  await switchDataset(TRAINED);
  if (old) serial(() => old.gan.dispose()).catch(() => {});
  els.grid.scrollIntoView({ block: 'nearest', behavior: reducedMotion() ? 'auto' : 'smooth' });
}

// The controls rest while a model loads (and stay off if the first load failed).
function enableControls(on) {
  state.controlsOn = on;
  for (const el of [els.dataset, els.classPicker, els.newSamples, els.interpolate, els.copy]) {
    el.disabled = !on;
  }
  els.sliders.disabled = !on;
}

function markSelection() {
  const next = (state.selected + 1) % GRID;
  [...els.grid.children].forEach((el, i) => {
    el.setAttribute('aria-pressed', String(i === state.selected));
    el.classList.toggle('is-next', i === next);
  });
}

function select(i) {
  stopInterpolation();
  if (i !== state.selected) clearCopy();
  state.selected = i;
  markSelection();
  syncSliders();
  showPreview();
}

function buildSliders() {
  for (let d = 0; d < STEERED; d++) {
    const row = document.createElement('div');
    row.className = 'gan-slider';
    row.innerHTML = `<label for="gan-z${d}">z<sub>${d}</sub></label>` +
      `<input type="range" id="gan-z${d}" min="-3" max="3" step="0.05" value="0">` +
      `<output for="gan-z${d}">0.00</output>`;
    const input = row.querySelector('input');
    input.addEventListener('input', () => steer(d, Number(input.value)));
    els.sliders.append(row);
  }
}

function syncSliders() {
  const z = state.samples[state.selected]?.z;
  if (!z) return;
  els.sliders.querySelectorAll('.gan-slider').forEach((row, d) => {
    row.querySelector('input').value = String(z[d]);
    row.querySelector('output').textContent = z[d].toFixed(2);
  });
}

function steer(d, value) {
  const sample = state.samples[state.selected];
  if (!sample) return;
  stopInterpolation();
  sample.z[d] = value;
  els.sliders.querySelectorAll('output')[d].textContent = value.toFixed(2);
  requestSelected().catch(showError);
}

// ---- Interpolation -----------------------------------------------------------------------

async function startInterpolation() {
  const token = ++state.interp.token;
  const from = state.selected;
  const to = (from + 1) % GRID;
  const [a, b] = [state.samples[from], state.samples[to]];
  const { gan, classes } = state.model;
  state.interp.running = true;
  els.interpolate.textContent = 'Stop';
  els.interpolate.setAttribute('aria-pressed', 'true');
  els.interpCaption.textContent = `computing ${FRAMES} frames…`;
  const zs = Array.from({ length: FRAMES }, (_, f) => slerp(a.z, b.z, f / (FRAMES - 1)));
  const { images, scores } = await serial(() => generate(gan, zs, zs.map(() => a.label)));
  if (token !== state.interp.token) return; // stopped while the frames were computed
  const name = `sample ${from + 1} → ${to + 1} as ${classes[a.label]}`;
  const show = (f) => {
    els.interpCanvas.getContext('2d').putImageData(images[f], 0, 0);
    showScore(els.interpScore, els.interpBar, scores[f]);
    els.interpCaption.textContent = `${name}: frame ${f + 1} / ${FRAMES}`;
    els.interpCanvas.dataset.frame = String(f);
  };
  if (reducedMotion()) {
    // No animation: the reader steps through the frames with a slider.
    els.interpFrame.max = String(FRAMES - 1);
    els.interpFrame.value = '0';
    els.interpFrame.oninput = () => show(Number(els.interpFrame.value));
    els.interpScrub.hidden = false;
    show(0);
    return;
  }
  const begin = performance.now();
  const step = (now) => {
    if (token !== state.interp.token) return;
    // A frame's time may precede `begin` (it is when the frame started): count from 0.
    const k = Math.floor(Math.max(0, now - begin) / FRAME_MS) % (2 * FRAMES - 2); // there and back
    show(k < FRAMES ? k : 2 * FRAMES - 2 - k);
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

function stopInterpolation() {
  if (!state.interp.running) return;
  state.interp.token++;
  state.interp.running = false;
  els.interpolate.textContent = 'Interpolate';
  els.interpolate.setAttribute('aria-pressed', 'false');
  els.interpScrub.hidden = true;
  delete els.interpCanvas.dataset.frame;
  showPreview();
}

function toggleInterpolation() {
  if (state.interp.running) {
    stopInterpolation();
    return;
  }
  startInterpolation().catch((e) => {
    stopInterpolation();
    showError(e);
  });
}

// ---- Start -------------------------------------------------------------------------------

function findElements() {
  const ids = {
    lab: 'gan-lab', dataset: 'gan-dataset', classPicker: 'gan-class', newSamples: 'gan-new',
    status: 'gan-status', grid: 'gan-grid', timing: 'gan-timing', sliders: 'gan-sliders',
    interpolate: 'gan-interpolate', interpCanvas: 'gan-interp-canvas',
    interpCaption: 'gan-interp-caption', interpScore: 'gan-interp-score', interpBar: 'gan-interp-bar',
    interpScrub: 'gan-interp-scrub', interpFrame: 'gan-interp-frame',
    copy: 'gan-copy', copyStatus: 'gan-copy-status', copyResult: 'gan-copy-result',
    copySample: 'gan-copy-sample', copySampleCaption: 'gan-copy-sample-caption',
    copyCanvas: 'gan-copy-canvas', copyDistance: 'gan-copy-distance',
    copyNeighbour: 'gan-copy-neighbour', copySearched: 'gan-copy-searched',
  };
  for (const [name, id] of Object.entries(ids)) els[name] = document.getElementById(id);
  els.interpBar = els.interpBar.firstElementChild;
}

// The settings a link carries: data set, class and seed.
// (Weights trained here are not in a link: it names their data set, whose shipped weights it shows.)
const readSettings = () => ({ dataset: state.model?.key ?? els.dataset.value, class: els.classPicker.value, seed: state.seed });

// Takes the settings of a link (unknown or missing ones keep their value), then draws.
function takeSettings({ dataset, class: label, seed }) {
  if (dataset in DATASETS) els.dataset.value = dataset;
  if (label !== undefined) state.wantedClass = label;
  const n = Number(seed);
  if (Number.isInteger(n) && n >= 0 && n < 2 ** 32) state.seed = n;
  state.samples = []; // new noise from the seed
}

async function applySettings(settings) {
  stopInterpolation();
  takeSettings(settings);
  await switchDataset(els.dataset.value);
}

// Shows the GAN controls and draws the first samples with the page's lab.
export async function initGanTab(lab) {
  state.lab = lab;
  findElements();
  buildSliders();
  els.lab.hidden = false;
  takeSettings(share('gan', { read: readSettings, apply: (s) => applySettings(s).catch(showError) }));
  els.dataset.addEventListener('change', () => {
    switchDataset(els.dataset.value).then(() => changed('gan'), showError);
  });
  els.classPicker.addEventListener('change', () => {
    stopInterpolation();
    relabel();
    changed('gan');
    requestGrid().catch(showError);
  });
  els.newSamples.addEventListener('click', () => {
    stopInterpolation();
    state.seed = (state.seed + 1) % 2 ** 32;
    changed('gan');
    newNoise();
    requestGrid().catch(showError);
  });
  document.getElementById('panel-gan').addEventListener(USE_WEIGHTS, (e) => {
    useTrained(e.detail).catch(showError);
  });
  els.interpolate.addEventListener('click', toggleInterpolation);
  els.copy.addEventListener('click', () => findCopy().catch((e) => {
    console.error(e);
    setCopyStatus(`The search failed: ${e.message ?? e}`, 'error');
  }));
  await switchDataset(els.dataset.value).catch(showError);
}
