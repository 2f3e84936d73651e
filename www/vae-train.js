// The VAE tab's "Train it yourself": a VAE of 2 latent numbers from random weights, trained here
// on 4,500 of the training images the page ships with; the other 500 (every tenth, so that each
// class has about 50) are its test images. Their encodings are plotted in the latent plane as it
// learns, a row of them beside their reconstructions, and the loss's two terms (reconstruction and
// beta times KL) live. Training is a loop of calls of a few steps (ui.js's trainingLoop) that
// pauses when the tab or the page is left; nothing loads until the reader presses Start or Step.
// The trainer is the genai-lab package's, in its worker. "Use in the map above" hands its export and
// its test images' encodings to the tab's map (vae.js) in a USE_WEIGHTS event on the tab's panel.
import {
  SIDE, PIXELS, serial, inputNumber, plural, classNames, trainingSet, trainingSetLoaded,
  trainingLoop, lineChart, offerDownloads, messageOf, CLASS_COLOURS, USE_WEIGHTS,
} from './ui.js';
import { fetchJson } from './integrity.js';

const LATENT = 2;
const HELD_OUT = 10; // every tenth image is a test image
const ROW = 8; // test images shown with their reconstructions
const GAP = 1;
const MIN_EXTENT = 3; // the plane shows at least [-3, 3] on both axes
const REDRAW_MS = 1000;

const TITLES = { mnist: 'MNIST', fashion: 'Fashion-MNIST' };

const els = {};
const state = {
  lab: null,
  trainer: null, // Promise of { trainer, test, labels, row, classes }, made at the first Start or Step
  token: 0,
  preparing: false,
  seed: 1,
  steps: 0,
  imagesSeen: 0,
  stepsPerSecond: 0,
  generation: 0,
  lastDraw: 0,
  drawMs: 0,
  drawnStep: -1,
  diverged: false,
  pausedBy: null, // { text, kind }: why the loop was paused, for the status line
};

let loop;
let recon;
let kl;

function setStatus(text, kind = 'ready') {
  els.status.textContent = text;
  els.status.dataset.state = kind;
}

function readSettings() {
  return {
    batch: inputNumber(els.batch, 'batch size'),
    lr: inputNumber(els.lr, 'learning rate'),
    beta: inputNumber(els.beta, 'KL weight'),
  };
}

function sync() {
  const running = loop.running;
  els.start.textContent = running ? 'Pause' : 'Start';
  els.start.setAttribute('aria-pressed', String(running));
  els.start.disabled = state.diverged || (state.preparing && !running);
  els.step.disabled = state.diverged || loop.busy || state.preparing;
  els.download.disabled = state.steps === 0 || state.preparing;
  els.use.disabled = els.download.disabled;
  els.section.dataset.state = state.diverged ? 'diverged' : running ? 'running' : 'idle';
}

// ---- The trainer -------------------------------------------------------------------------

// Splits the shipped training images: every HELD_OUT-th is a test image, the rest train.
function split(set) {
  const testCount = Math.floor(set.count / HELD_OUT);
  const train = new Float32Array((set.count - testCount) * PIXELS);
  const test = new Float32Array(testCount * PIXELS);
  const labels = [];
  let t = 0;
  let k = 0;
  for (let i = 0; i < set.count; i++) {
    const image = set.images.subarray(i * PIXELS, (i + 1) * PIXELS);
    if (i % HELD_OUT === HELD_OUT - 1) {
      test.set(image, t++ * PIXELS);
      labels.push(set.labels[i]);
    } else {
      train.set(image, k++ * PIXELS);
    }
  }
  // The row: the first test image of each of the first ROW classes.
  const row = new Float32Array(ROW * PIXELS);
  for (let c = 0; c < ROW; c++) {
    const i = Math.max(0, labels.indexOf(c));
    row.set(test.subarray(i * PIXELS, (i + 1) * PIXELS), c * PIXELS);
  }
  return { train, test, labels, row };
}

async function makeTrainer(token) {
  const key = els.dataset.value;
  if (!trainingSetLoaded(key)) setStatus(`loading the 5,000 ${TITLES[key]} training images…`, 'busy');
  const [set, card] = await Promise.all([trainingSet(state.lab, key), fetchJson(`models/vae2d_${key}.json`)]);
  const { train, test, labels, row } = split(set);
  const classes = classNames(card);
  setStatus('starting from random weights…', 'busy');
  const settings = readSettings();
  const trainer = await serial(() => state.lab.trainVae({
    dataset: key, images: train, latent: LATENT, seed: state.seed, ...settings,
  }));
  if (token !== state.token) {
    serial(() => trainer.dispose()).catch(() => {});
    throw new Error('reset');
  }
  buildLegend(classes);
  els.section.dataset.beta = String(settings.beta);
  return { trainer, test, labels, row, classes };
}

async function ensureTrainer() {
  if (!state.trainer) {
    const token = state.token;
    state.trainer = makeTrainer(token);
    state.trainer.catch(() => { if (token === state.token) state.trainer = null; });
  }
  state.preparing = true;
  sync();
  try {
    return await state.trainer;
  } catch (e) {
    if (e.message === 'reset') return false;
    throw e;
  } finally {
    state.preparing = false;
    sync();
  }
}

// ---- Drawing -----------------------------------------------------------------------------

function buildLegend(classes) {
  els.legend.replaceChildren(...classes.map((name, i) => {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'vae-swatch';
    swatch.style.background = CLASS_COLOURS[i];
    item.append(swatch, name);
    return item;
  }));
}

// The half-width of the plane: at least MIN_EXTENT, enough for 98% of the points.
function extentOf(means) {
  const reach = [];
  for (let i = 0; i < means.length; i += 2) reach.push(Math.max(Math.abs(means[i]), Math.abs(means[i + 1])));
  reach.sort((a, b) => a - b);
  const q = reach[Math.floor(0.98 * (reach.length - 1))] ?? 0;
  return Math.max(MIN_EXTENT, Math.ceil(q * 1.05));
}

function drawPlane(means, labels) {
  const { width, height } = els.plane;
  const ctx = els.plane.getContext('2d');
  const extent = extentOf(means);
  const scale = width / (2 * extent);
  const at = (x, y) => [width / 2 + x * scale, height / 2 - y * scale];
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = 'rgba(255, 255, 255, 0.25)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(width / 2, 0);
  ctx.lineTo(width / 2, height);
  ctx.moveTo(0, height / 2);
  ctx.lineTo(width, height / 2);
  ctx.stroke();
  ctx.setLineDash([4, 4]);
  for (const r of [1, 2]) { // the prior's one and two spreads
    ctx.beginPath();
    ctx.arc(width / 2, height / 2, r * scale, 0, 2 * Math.PI);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.strokeStyle = 'rgba(0, 0, 0, 0.7)';
  ctx.lineWidth = 0.8;
  let shown = 0;
  for (let i = 0; i < labels.length; i++) {
    const [x, y] = [means[2 * i], means[2 * i + 1]];
    if (!Number.isFinite(x) || !Number.isFinite(y) || Math.abs(x) > extent || Math.abs(y) > extent) continue;
    ctx.beginPath();
    ctx.arc(...at(x, y), 3.2, 0, 2 * Math.PI);
    ctx.fillStyle = CLASS_COLOURS[labels[i] % CLASS_COLOURS.length];
    ctx.fill();
    ctx.stroke();
    shown++;
  }
  els.plane.dataset.points = String(shown);
  els.plane.dataset.extent = String(extent);
  return { extent, shown };
}

function drawRow(originals, rebuilt) {
  const ctx = els.recons.getContext('2d');
  ctx.fillStyle = '#333';
  ctx.fillRect(0, 0, els.recons.width, els.recons.height);
  rebuilt.images.forEach((image, k) => ctx.putImageData(image, k * (SIDE + GAP), SIDE + GAP));
  const top = new ImageData(SIDE, SIDE);
  for (let k = 0; k < ROW; k++) {
    for (let p = 0; p < PIXELS; p++) {
      const v = Math.round(255 * Math.min(1, Math.max(0, originals[k * PIXELS + p])));
      top.data.set([v, v, v, 255], 4 * p);
    }
    ctx.putImageData(top, k * (SIDE + GAP), 0);
  }
}

async function drawState() {
  const { trainer, test, labels, row } = await state.trainer;
  const started = performance.now();
  const step = state.steps;
  const { mean } = await serial(() => trainer.encode(test));
  const { mean: rowMean } = await serial(() => trainer.encode(row));
  const rebuilt = await serial(() => trainer.decode(rowMean));
  const { extent, shown } = drawPlane(mean, labels);
  drawRow(row, rebuilt);
  state.drawMs = performance.now() - started;
  state.lastDraw = performance.now();
  state.drawnStep = step;
  els.plane.dataset.generation = String(++state.generation);
  els.plane.dataset.step = String(step);
  els.planeCaption.textContent = `after ${plural(step, 'step')}: ${shown} of ${labels.length} test ` +
    `images (their means), axes from −${extent} to ${extent}; dashed, one and two spreads of the prior`;
}

function clearPictures() {
  for (const canvas of [els.plane, els.recons]) {
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  els.plane.dataset.points = '0';
  els.plane.dataset.step = '0';
  state.drawnStep = -1;
  els.planeCaption.textContent = 'Press Start or Step: the test images appear here, where the encoder puts them.';
}

function showProgress() {
  els.section.dataset.steps = String(state.steps);
  els.section.dataset.imagesSeen = String(state.imagesSeen);
  const rate = state.stepsPerSecond;
  const speed = rate > 0 ? ` · ${rate < 10 ? rate.toFixed(2) : Math.round(rate)} steps/s` : '';
  els.speed.textContent = `${plural(state.steps, 'step')} · ${state.imagesSeen.toLocaleString('en')} ` +
    `images seen${speed}`;
}

async function record(result, { single }) {
  for (const h of result.history) {
    recon.push(h.step, [h.reconstruction]);
    kl.push(h.step, [h.kl]);
  }
  recon.draw();
  kl.draw();
  els.charts.dataset.points = String(recon.points);
  state.steps = result.steps;
  state.imagesSeen = result.imagesSeen;
  if (result.seconds > 0) {
    const rate = result.history.length / result.seconds;
    state.stepsPerSecond = state.stepsPerSecond ? 0.7 * state.stepsPerSecond + 0.3 * rate : rate;
  }
  showProgress();
  if (single || performance.now() - state.lastDraw >= Math.max(REDRAW_MS, 4 * state.drawMs)) await drawState();
  if (single) setStatus(`one step taken (seed ${state.seed})`);
  sync();
}

async function paused() {
  if (state.drawnStep !== state.steps) await drawState();
  const { text, kind } = state.pausedBy ?? { text: `paused after ${plural(state.steps, 'step')} (seed ${state.seed})` };
  setStatus(text, kind);
  state.pausedBy = null;
}

function failed(e) {
  if (e?.name === 'TrainingDivergedError') {
    state.diverged = true;
    const message = messageOf(e).replace(/\.?$/, '.');
    setStatus(`Training diverged: ${message}${/reset/i.test(message) ? '' : ' Press Reset to start again.'}`, 'error');
  } else {
    console.error(e);
    setStatus(`Training failed: ${messageOf(e)}`, 'error');
  }
  sync();
}

// ---- Controls ----------------------------------------------------------------------------

function runningStatus() {
  const { batch, beta } = readSettings();
  setStatus(`training ${TITLES[els.dataset.value]} from seed ${state.seed}: batches of ${batch}, ` +
    `β = ${beta.toFixed(1)}`, 'busy');
}

async function configure() {
  const settings = readSettings();
  if (!state.trainer) {
    els.section.dataset.beta = String(settings.beta);
    return;
  }
  const { trainer } = await state.trainer;
  await serial(() => trainer.configure(settings));
  els.section.dataset.beta = String(settings.beta);
}

function settingsChanged() {
  configure().then(() => { if (loop.running) runningStatus(); }, (e) => {
    pauseFor(`Setting refused: ${messageOf(e)}`, 'error');
  });
}

async function startOrPause() {
  if (loop.running) {
    loop.pause();
    return;
  }
  try {
    if (!(await ensureTrainer())) return;
    await configure();
    runningStatus();
  } catch (e) {
    failed(e);
    return;
  }
  loop.start();
}

async function stepOnce() {
  try {
    if (!(await ensureTrainer())) return;
    await configure();
    setStatus('taking one step…', 'busy');
  } catch (e) {
    failed(e);
    return;
  }
  await loop.once();
}

async function reset() {
  state.token++;
  await loop.pause();
  const old = state.trainer;
  state.trainer = null;
  old?.then(({ trainer }) => serial(() => trainer.dispose())).catch(() => {});
  if (old) state.seed++;
  Object.assign(state, { steps: 0, imagesSeen: 0, stepsPerSecond: 0, diverged: false, lastDraw: 0 });
  recon.clear();
  kl.clear();
  els.charts.dataset.points = '0';
  els.files.replaceChildren();
  delete els.files.dataset.files;
  clearPictures();
  showProgress();
  setStatus(`new random weights (seed ${state.seed}) at the next Start or Step`);
  sync();
}

async function download() {
  els.download.disabled = true;
  delete els.files.dataset.files;
  try {
    const { trainer } = await state.trainer;
    const { files } = await serial(() => trainer.export());
    offerDownloads(els.files, files);
    els.files.dataset.files = String(Object.keys(files).length);
  } catch (e) {
    failed(e);
  } finally {
    sync();
  }
}

// The weights as they are now, in the map at the top of the tab, with the test images as its dots.
async function useAbove() {
  els.use.disabled = true;
  try {
    const { trainer, test, labels } = await state.trainer;
    const { files } = await serial(() => trainer.export());
    const { mean } = await serial(() => trainer.encode(test));
    const means = labels.map((_, i) => [mean[2 * i], mean[2 * i + 1]]);
    els.panel.dispatchEvent(new CustomEvent(USE_WEIGHTS, {
      detail: { dataset: els.dataset.value, files, steps: state.steps, map: { means, labels } },
    }));
  } catch (e) {
    failed(e);
  } finally {
    sync();
  }
}

// Pauses (after the call in flight) and then says `text`; an error is said even if nothing ran.
function pauseFor(text, kind = 'ready') {
  if (loop.running) {
    state.pausedBy = { text, kind };
    loop.pause();
  } else if (kind === 'error') {
    setStatus(text, kind);
  }
}

function findElements() {
  const ids = {
    section: 'vae-train', dataset: 'vae-train-dataset', start: 'vae-train-start', step: 'vae-train-step',
    reset: 'vae-train-reset', beta: 'vae-train-beta', betaValue: 'vae-train-beta-value', lr: 'vae-train-lr',
    batch: 'vae-train-batch', cpu: 'vae-train-cpu', status: 'vae-train-status', plane: 'vae-train-plane',
    planeCaption: 'vae-train-plane-caption', legend: 'vae-train-legend', charts: 'vae-train-charts',
    recon: 'vae-train-recon', reconLegend: 'vae-train-recon-legend', kl: 'vae-train-kl',
    klLegend: 'vae-train-kl-legend', recons: 'vae-train-recons', speed: 'vae-train-speed',
    download: 'vae-train-download', files: 'vae-train-files', use: 'vae-train-use', panel: 'panel-vae',
  };
  for (const [name, id] of Object.entries(ids)) els[name] = document.getElementById(id);
}

// Wires the controls; nothing loads until the reader presses Start or Step.
export function initVaeTraining(lab) {
  state.lab = lab;
  findElements();
  els.recons.width = ROW * (SIDE + GAP) - GAP;
  els.recons.height = 2 * SIDE + GAP;
  if (lab.backend === 'cpu' || lab.fallbackAdapter) { // slow: smaller batches, and say so
    els.batch.value = '16';
    if (lab.backend !== 'cpu') {
      els.cpu.textContent = 'This WebGPU adapter is a software one, the CPU standing in for a GPU: ' +
        'training runs, but far more slowly than on a GPU. The batch starts at 16 so that a step stays short.';
    }
    els.cpu.hidden = false;
  }
  recon = lineChart(els.recon, els.reconLegend, [{ name: 'reconstruction', colour: '--chart-a' }]);
  kl = lineChart(els.kl, els.klLegend, [{ name: 'β × KL', colour: '--chart-b' }], { zero: true });
  loop = trainingLoop({ step: async (n) => (await state.trainer).trainer.step(n), after: record, stopped: paused, failed, changed: sync });

  els.start.addEventListener('click', startOrPause);
  els.step.addEventListener('click', stepOnce);
  els.reset.addEventListener('click', reset);
  els.dataset.addEventListener('change', reset);
  els.beta.addEventListener('input', () => { els.betaValue.textContent = els.beta.valueAsNumber.toFixed(1); });
  for (const input of [els.beta, els.lr, els.batch]) input.addEventListener('change', settingsChanged);
  els.download.addEventListener('click', download);
  els.use.addEventListener('click', useAbove);
  els.panel.addEventListener('hidden', () => pauseFor('paused: you left the VAE tab'));
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) pauseFor('paused while the page was hidden');
  });
  els.section.dataset.beta = els.beta.value;
  clearPictures();
  showProgress();
  recon.draw();
  kl.draw();
  sync();
}
