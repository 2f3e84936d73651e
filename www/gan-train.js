// The GAN tab's "Train it yourself": a conditional GAN from random weights, trained here on the
// 5,000 training images the page ships with. An 8 x 8 grid drawn from fixed noise shows the
// generator as it learns; the two networks' losses and the discriminator's verdicts on real and
// generated images are plotted live. Training is a loop of calls of a few steps (ui.js's
// trainingLoop) that pauses when the tab or the page is left; nothing loads until the reader
// presses Start or Step. The trainer is the genai-lab package's, in its worker. "Use in the samples
// above" hands its export to the tab's grid (gan.js) in a USE_WEIGHTS event on the tab's panel.
import { standardNormal } from './genai-lab/worker.js';
import {
  SIDE, serial, inputNumber, plural, trainingSet, trainingSetLoaded, trainingLoop, lineChart,
  offerDownloads, messageOf, USE_WEIGHTS,
} from './ui.js';

const COLUMNS = 8; // the grid is COLUMNS x COLUMNS images
const GRID = COLUMNS * COLUMNS;
const GAP = 1; // pixels between the grid's images
const NOISE_SEED = 7; // the grid's fixed noise
const REDRAW_MS = 1000; // the grid is redrawn at most this often while training runs

const TITLES = { mnist: 'MNIST', fashion: 'Fashion-MNIST' };

// The settings a preset sets, and what to watch for with them.
const PRESETS = {
  dcgan: {
    lrG: 2e-4, lrD: 2e-4, dSteps: 1,
    note: 'DCGAN\'s settings: both networks learn at 2e-4, one discriminator step per generator ' +
      'step. Within a few hundred steps the fog turns into strokes (on MNIST, 600 steps of batch ' +
      '16 draw digits that a classifier reads right more than half the time). D(real) stays above ' +
      'D(fake), but neither runs off to 1 or 0: the two keep each other in check.',
  },
  'd-wins': {
    lrG: 2e-5, lrD: 2e-3, dSteps: 5,
    note: 'A classic failure: the discriminator learns 100 times faster than the generator and ' +
      'takes 5 steps to its one. Look for D(real) near 1 and D(fake) near 0, a judge that spots ' +
      'every fake at a glance, and a generator\'s loss that climbs: its verdicts teach the forger ' +
      'little, and the grid stays fog and blobs long after DCGAN\'s settings would draw strokes.',
  },
};

const els = {};
const state = {
  lab: null,
  trainer: null, // Promise of the package's GanTrainer, made at the first Start or Step
  token: 0, // a reset makes a trainer still being made unwanted
  preparing: false,
  seed: 1, // the trainer's random weights; Reset takes the next
  noise: null, // { z, labels } for the grid
  steps: 0,
  imagesSeen: 0,
  stepsPerSecond: 0, // smoothed over the last calls
  generation: 0, // grid redraws so far
  lastDraw: 0, // when the grid was last drawn (performance.now())
  drawMs: 0, // how long that took
  drawnStep: -1, // the step the grid shows
  diverged: false,
  pausedBy: null, // { text, kind }: why the loop was paused, for the status line
};

let loop;
let losses;
let verdicts;

function setStatus(text, kind = 'ready') {
  els.status.textContent = text;
  els.status.dataset.state = kind;
}

// The settings in the controls; throws an error naming a field that is not a number.
function readSettings() {
  return {
    batch: inputNumber(els.batch, 'batch size'),
    lrG: inputNumber(els.lrG, 'generator\'s learning rate'),
    lrD: inputNumber(els.lrD, 'discriminator\'s learning rate'),
    dSteps: inputNumber(els.dSteps, 'number of discriminator steps'),
  };
}

function sync() {
  const running = loop.running;
  const busy = loop.busy || state.preparing;
  els.start.textContent = running ? 'Pause' : 'Start';
  els.start.setAttribute('aria-pressed', String(running));
  els.start.disabled = state.diverged || (state.preparing && !running);
  els.step.disabled = state.diverged || busy;
  els.download.disabled = state.steps === 0 || state.preparing;
  els.use.disabled = els.download.disabled;
  els.section.dataset.state = state.diverged ? 'diverged' : running ? 'running' : 'idle';
}

// ---- The trainer -------------------------------------------------------------------------

async function makeTrainer(token) {
  const key = els.dataset.value;
  if (!trainingSetLoaded(key)) setStatus(`loading the 5,000 ${TITLES[key]} training images…`, 'busy');
  const set = await trainingSet(state.lab, key);
  setStatus('starting from random weights…', 'busy');
  const settings = readSettings();
  const trainer = await serial(() => state.lab.trainGan({
    dataset: key, images: set.images, labels: set.labels, seed: state.seed, ...settings,
  }));
  if (token !== state.token) { // reset while it was made
    serial(() => trainer.dispose()).catch(() => {});
    throw new Error('reset');
  }
  const labels = Array.from({ length: GRID }, (_, i) => i % 10);
  state.noise = { z: standardNormal(GRID * trainer.latent, NOISE_SEED), labels };
  return trainer;
}

// Resolves to the trainer, made first if there is none; false if a reset came meanwhile.
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

async function drawGrid() {
  const trainer = await state.trainer;
  const started = performance.now();
  const step = state.steps;
  const { images } = await serial(() => trainer.generate(state.noise));
  const ctx = els.grid.getContext('2d');
  images.forEach((image, i) => ctx.putImageData(image, (i % COLUMNS) * (SIDE + GAP),
    Math.floor(i / COLUMNS) * (SIDE + GAP)));
  state.drawMs = performance.now() - started;
  state.lastDraw = performance.now();
  state.drawnStep = step;
  els.grid.dataset.generation = String(++state.generation);
  els.grid.dataset.step = String(step);
  els.gridCaption.textContent = `after ${plural(step, 'step')}, from the same noise each time; ` +
    'classes 0 to 9 in turn, row by row';
}

function clearGrid() {
  const ctx = els.grid.getContext('2d');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, els.grid.width, els.grid.height);
  state.drawnStep = -1;
  els.grid.dataset.step = '0';
  els.gridCaption.textContent = 'Press Start or Step: the grid shows the generator as it learns.';
}

function showProgress() {
  els.section.dataset.steps = String(state.steps);
  els.section.dataset.imagesSeen = String(state.imagesSeen);
  const rate = state.stepsPerSecond;
  const speed = rate > 0 ? ` · ${rate < 10 ? rate.toFixed(2) : Math.round(rate)} steps/s` : '';
  els.speed.textContent = `${plural(state.steps, 'step')} · ${state.imagesSeen.toLocaleString('en')} ` +
    `real images seen${speed}`;
}

function runningStatus() {
  const { batch, dSteps } = readSettings();
  setStatus(`training ${TITLES[els.dataset.value]} from seed ${state.seed}: ` +
    `${dSteps} discriminator step${dSteps === 1 ? '' : 's'} of ${batch} real and ${batch} generated ` +
    'images, then one generator step', 'busy');
}

// After each call of steps: its curves, the counters, and (at most every REDRAW_MS, and never
// more than a fifth of the time) the grid; a single step is always drawn.
async function record(result, { single }) {
  for (const h of result.history) {
    losses.push(h.step, [h.dLoss, h.gLoss]);
    verdicts.push(h.step, [h.dOfReal, h.dOfFake]);
  }
  losses.draw();
  verdicts.draw();
  els.charts.dataset.points = String(losses.points);
  state.steps = result.steps;
  state.imagesSeen = result.imagesSeen;
  if (result.seconds > 0) {
    const rate = result.history.length / result.seconds;
    state.stepsPerSecond = state.stepsPerSecond ? 0.7 * state.stepsPerSecond + 0.3 * rate : rate;
  }
  showProgress();
  const wait = Math.max(REDRAW_MS, 4 * state.drawMs);
  if (single || performance.now() - state.lastDraw >= wait) await drawGrid();
  if (single) setStatus(`one step taken (seed ${state.seed})`);
  sync();
}

async function paused() {
  if (state.drawnStep !== state.steps) await drawGrid();
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

// Hands the controls' settings to the trainer (if there is one yet: a new one reads them).
async function configure() {
  const settings = readSettings();
  if (!state.trainer) return;
  const trainer = await state.trainer;
  await serial(() => trainer.configure(settings));
}

function settingsChanged() {
  const match = Object.entries(PRESETS).find(([, p]) => p.lrG === els.lrG.valueAsNumber &&
    p.lrD === els.lrD.valueAsNumber && p.dSteps === els.dSteps.valueAsNumber);
  els.preset.value = match?.[0] ?? 'custom';
  showPresetNote();
  configure().then(() => { if (loop.running) runningStatus(); }, (e) => {
    pauseFor(`Setting refused: ${messageOf(e)}`, 'error');
  });
}

function showPresetNote() {
  els.presetNote.textContent = PRESETS[els.preset.value]?.note ??
    'Your own settings. Press Reset to see them from the start.';
}

function takePreset() {
  const preset = PRESETS[els.preset.value];
  if (!preset) return;
  els.lrG.value = String(preset.lrG);
  els.lrD.value = String(preset.lrD);
  els.dSteps.value = String(preset.dSteps);
  settingsChanged();
}

// A fresh trainer (at the next Start or Step), with new random weights.
async function reset() {
  state.token++;
  await loop.pause();
  const old = state.trainer;
  state.trainer = null;
  old?.then((trainer) => serial(() => trainer.dispose())).catch(() => {});
  if (old) state.seed++;
  state.steps = 0;
  state.imagesSeen = 0;
  state.stepsPerSecond = 0;
  state.diverged = false;
  state.lastDraw = 0;
  losses.clear();
  verdicts.clear();
  els.charts.dataset.points = '0';
  els.files.replaceChildren();
  delete els.files.dataset.files;
  clearGrid();
  showProgress();
  setStatus(`new random weights (seed ${state.seed}) at the next Start or Step`);
  sync();
}

async function download() {
  els.download.disabled = true;
  delete els.files.dataset.files;
  try {
    const trainer = await state.trainer;
    const { files } = await serial(() => trainer.export());
    offerDownloads(els.files, files);
    els.files.dataset.files = String(Object.keys(files).length);
  } catch (e) {
    failed(e);
  } finally {
    sync();
  }
}

// The weights as they are now, in the samples at the top of the tab (training goes on if it runs).
async function useAbove() {
  els.use.disabled = true;
  try {
    const trainer = await state.trainer;
    const { files } = await serial(() => trainer.export());
    els.panel.dispatchEvent(new CustomEvent(USE_WEIGHTS, {
      detail: { dataset: els.dataset.value, files, steps: state.steps },
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
    section: 'gan-train', dataset: 'gan-train-dataset', start: 'gan-train-start', step: 'gan-train-step',
    reset: 'gan-train-reset', lrG: 'gan-train-lr-g', lrD: 'gan-train-lr-d', dSteps: 'gan-train-d-steps',
    batch: 'gan-train-batch', preset: 'gan-train-preset', presetNote: 'gan-train-preset-note',
    cpu: 'gan-train-cpu', status: 'gan-train-status', grid: 'gan-train-grid',
    gridCaption: 'gan-train-grid-caption', charts: 'gan-train-charts', losses: 'gan-train-losses',
    lossLegend: 'gan-train-losses-legend', verdicts: 'gan-train-verdicts',
    verdictLegend: 'gan-train-verdicts-legend', speed: 'gan-train-speed',
    download: 'gan-train-download', files: 'gan-train-files', use: 'gan-train-use', panel: 'panel-gan',
  };
  for (const [name, id] of Object.entries(ids)) els[name] = document.getElementById(id);
}

// Wires the controls; nothing loads until the reader presses Start or Step.
export function initGanTraining(lab) {
  state.lab = lab;
  findElements();
  els.grid.width = COLUMNS * (SIDE + GAP) - GAP;
  els.grid.height = els.grid.width;
  if (lab.backend === 'cpu' || lab.fallbackAdapter) { // slow: smaller batches, and say so
    els.batch.value = '8';
    if (lab.backend !== 'cpu') {
      els.cpu.textContent = 'This WebGPU adapter is a software one, the CPU standing in for a GPU: ' +
        'training runs, but far more slowly than on a GPU. The batch starts at 8 so that a step stays short.';
    }
    els.cpu.hidden = false;
  }
  losses = lineChart(els.losses, els.lossLegend, [
    { name: 'discriminator', colour: '--chart-a' },
    { name: 'generator', colour: '--chart-b', dashed: true },
  ], { zero: true, guides: [{ value: 2 * Math.LN2, label: '2 ln 2' }, { value: Math.LN2, label: 'ln 2' }] });
  verdicts = lineChart(els.verdicts, els.verdictLegend, [
    { name: 'D(real)', colour: '--chart-a' },
    { name: 'D(fake)', colour: '--chart-b', dashed: true },
  ], { range: [0, 1], guides: [{ value: 0.5, label: 'unsure' }] });
  loop = trainingLoop({ step: async (n) => (await state.trainer).step(n), after: record, stopped: paused, failed, changed: sync });

  els.start.addEventListener('click', startOrPause);
  els.step.addEventListener('click', stepOnce);
  els.reset.addEventListener('click', reset);
  els.dataset.addEventListener('change', reset);
  els.preset.addEventListener('change', takePreset);
  for (const input of [els.lrG, els.lrD, els.dSteps, els.batch]) input.addEventListener('change', settingsChanged);
  els.download.addEventListener('click', download);
  els.use.addEventListener('click', useAbove);
  els.panel.addEventListener('hidden', () => pauseFor('paused: you left the GAN tab'));
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) pauseFor('paused while the page was hidden');
  });
  clearGrid();
  showPresetNote();
  showProgress();
  losses.draw();
  verdicts.draw();
  sync();
}
