// The Diffusion tab: a grid of samples that sharpen step by step as the sampler runs, the film of
// one sample (each step's x_t and the model's guess of the clean image, with a scrubber), the
// forward process on a training image or a drawing with "denoise from here", the nearest training image to a
// sample, and the four image families side by side. The models are the genai-lab package's;
// every call goes through the page's one queue (`serial`).
import {
  PIXELS, serial, once, coalesced, drawPixels, drawingPad, classNames, trainingSet, whenShown, plural,
} from './ui.js';
import { share, changed } from './route.js';

const GRID = 16;
const COMPARED = 4; // images per family in the comparison
const DATASETS = ['fashion', 'mnist'];

const els = {};
const state = {
  lab: null,
  models: new Map(), // data set key -> Promise of { key, diffusion, classes }
  model: null,
  seed: 1,
  frames: [], // per step: { t, noisy, predicted } (all GRID images' pixels)
  steps: 0, // of the run the frames are from
  selected: 0,
  run: 0, // grid runs so far: a newer run makes an older one stop drawing
  abandoned: false, // a run was left unfinished when the tab was hidden
  wantedClass: '0', // the class to pick once the data set's names are in (the address's, or the first)
  training: { index: 0, label: null, drawn: false }, // the forward process's image: the next training image's index, its class (or null), whether drawn on
  clean: new Float32Array(PIXELS), // that image
};

const model = (key) => once(state.models, key, async () => {
  const diffusion = await state.lab.loadDiffusion({ dataset: key });
  return { key, diffusion, classes: classNames(diffusion.card) };
});

function setStatus(text, kind = 'ready') {
  els.status.textContent = text;
  els.status.dataset.state = kind;
}

function showError(e) {
  console.error(e);
  setStatus(`Something went wrong: ${e.message ?? e}`, 'error');
}

// The class picked, as the package takes it (null: none).
const pickedClass = () => (els.classPicker.value === 'none' ? null : Number(els.classPicker.value));

// The sampler settings of the controls, as the package takes them.
function settings() {
  const label = pickedClass();
  return {
    labels: new Array(GRID).fill(label),
    steps: els.steps.valueAsNumber,
    guidance: els.guidance.valueAsNumber,
    sampler: els.sampler.value,
    seed: state.seed,
  };
}

const image = (pixels, i) => pixels.subarray(i * PIXELS, (i + 1) * PIXELS);

// ---- The grid and the film ---------------------------------------------------------------

function sampleElement(i) {
  const el = document.createElement('button');
  el.type = 'button';
  el.className = 'diff-sample';
  el.setAttribute('aria-pressed', String(i === state.selected));
  el.innerHTML = `<canvas width="28" height="28" aria-hidden="true"></canvas><span>sample ${i + 1}</span>`;
  el.addEventListener('click', () => select(i));
  return el;
}

function drawGrid(pixels) {
  for (let i = 0; i < GRID; i++) {
    const el = els.grid.children[i] ?? els.grid.appendChild(sampleElement(i));
    drawPixels(el.querySelector('canvas'), image(pixels, i));
  }
}

function showFrame(k) {
  const frame = state.frames[k];
  if (!frame) return;
  drawPixels(els.noisy, image(frame.noisy, state.selected));
  drawPixels(els.guess, image(frame.predicted, state.selected));
  els.filmCaption.textContent = `sample ${state.selected + 1}, step ${k + 1} of ${state.steps}: noise level t = ${frame.t}`;
  els.scrub.value = String(k);
  els.noisy.dataset.step = String(k);
}

function select(i) {
  state.selected = i;
  for (const [j, el] of [...els.grid.children].entries()) el.setAttribute('aria-pressed', String(j === i));
  els.copyResult.hidden = true;
  els.copyStatus.textContent = '';
  showFrame(Number(els.scrub.value));
}

// Samples the grid; each step redraws the grid with the model's current guesses and the film
// with the selected sample's step.
async function sampleGrid() {
  const run = ++state.run;
  state.abandoned = false;
  const { diffusion, classes } = state.model;
  const options = settings();
  const what = options.labels[0] === null ? 'no class' : classes[options.labels[0]];
  state.frames = [];
  state.steps = options.steps;
  els.scrub.disabled = true;
  els.scrub.max = String(options.steps - 1);
  els.newSamples.disabled = true;
  setStatus(`sampling ${GRID} × ${what}…`, 'busy');
  try {
    await serial(async () => {
      const start = performance.now();
      for await (const step of diffusion.sample({ ...options, watch: 'all' })) {
        if (run !== state.run) return; // a newer run replaced this one: leaving the loop ends it
        if (els.panel.hidden) { // the reader left the tab: free the queue, sample again on return
          state.abandoned = true;
          return;
        }
        state.frames.push({ t: step.t, noisy: step.noisy.pixels, predicted: step.predicted.pixels });
        drawGrid(step.predicted.pixels);
        showFrame(step.step);
        setStatus(`sampling ${GRID} × ${what}: step ${step.step + 1} of ${step.steps}`, 'busy');
        if (step.done) {
          drawGrid(step.pixels);
          const ms = performance.now() - start;
          const passes = options.guidance === 1 || options.labels[0] === null ? 1 : 2;
          els.timing.textContent = `last run: ${GRID} images in ${(ms / 1000).toFixed(1)} s, ${Math.round(ms / GRID)} ms per ` +
            `image (${plural(options.steps, 'step')}, ${passes} network pass${passes === 1 ? '' : 'es'} each)`;
          els.grid.dataset.runs = String(run);
        }
      }
    });
  } finally {
    if (run === state.run) {
      els.newSamples.disabled = false;
      els.scrub.disabled = state.frames.length < 2;
    }
  }
  if (run === state.run && !state.abandoned) setStatus(`${GRID} samples of ${what}`);
}

// ---- Is it a copy? -----------------------------------------------------------------------

async function findCopy() {
  const last = state.frames.at(-1);
  if (!last) return;
  els.copyStatus.textContent = 'searching the training images…';
  const set = await trainingSet(state.lab, state.model.key);
  const query = image(last.predicted, state.selected);
  const { index, distance } = await serial(() => set.index.nearest(query));
  drawPixels(els.copyCanvas, image(set.images, index));
  els.copyCaption.textContent = `nearest of ${set.count.toLocaleString('en')} training images: ` +
    `${state.model.classes[set.labels[index]]}, distance ${distance.toFixed(2)}`;
  els.copyResult.hidden = false;
  els.copyStatus.textContent = 'A copy would be at distance near 0; the largest possible is 28.';
}

// ---- The forward process, and back -------------------------------------------------------

// A new start for the forward process: its image drawn, the restored one cleared, noise added.
function startAgain(caption) {
  drawPixels(els.clean, state.clean);
  els.cleanCaption.textContent = caption;
  els.restored.getContext('2d').clearRect(0, 0, 28, 28);
  delete els.restored.dataset.from;
  els.restoredCaption.textContent = 'denoised from there';
  return dissolve();
}

async function showTrainingImage() {
  const set = await trainingSet(state.lab, state.model.key);
  const i = state.training.index % set.count;
  state.clean.set(image(set.images, i));
  state.training = { index: i, label: set.labels[i], drawn: false };
  await startAgain(`a training image: ${state.model.classes[state.training.label]}`);
}

// A stroke on the forward process's image: from then on it is the reader's drawing, of the class
// picked above (or none), noised and denoised as a training image is.
function drawnOn(first) {
  if (!state.model) return; // still loading: the training image it shows next replaces the strokes
  if (first && !state.training.drawn) state.training = { ...state.training, label: pickedClass(), drawn: true };
  const { label } = state.training;
  startAgain(`your drawing, denoised as ${label === null ? 'no class' : state.model.classes[label]}`).catch(showError);
}

function clearDrawing() {
  state.clean.fill(0);
  state.training = { ...state.training, label: pickedClass(), drawn: true };
  startAgain('Draw here: it is denoised as the class picked above.').catch(showError);
}

// Runs inside `serial` (coalesced: a slider or a stroke asks often, the last ask is drawn).
async function dissolveTask() {
  if (!state.model) return;
  const t = els.t.valueAsNumber;
  const { images, signalToNoise } = await state.model.diffusion.noise(state.clean, { t, seed: state.seed });
  els.dissolved.getContext('2d').putImageData(images[0], 0, 0);
  els.snr.textContent = `t = ${t}: signal-to-noise ${signalToNoise < 0.01 ? signalToNoise.toExponential(1) : signalToNoise.toFixed(2)}`;
}

const dissolve = coalesced(dissolveTask);

async function denoiseFromHere() {
  const t = els.t.valueAsNumber;
  const { steps, guidance, sampler } = settings();
  const options = { labels: [state.training.label], t, steps: Math.min(steps, t + 1), guidance, sampler, seed: state.seed };
  const start = Float32Array.from(state.clean); // a stroke meanwhile must not change this run's image
  els.denoise.disabled = true;
  try {
    await serial(async () => {
      for await (const step of state.model.diffusion.denoise(start, options)) {
        drawPixels(els.restored, step.predicted.pixels);
        els.restoredCaption.textContent = `denoised from t = ${t}: step ${step.step + 1} of ${step.steps}`;
        if (step.done) drawPixels(els.restored, step.pixels);
      }
    });
    els.restored.dataset.from = String(t);
  } finally {
    els.denoise.disabled = false;
  }
}

// ---- Four families -----------------------------------------------------------------------

const frechet = (card) => card.metrics?.frechet_distance?.value ?? card.metrics?.frechet_distance_default?.value;

async function compare() {
  const { key, diffusion, classes } = state.model;
  const label = els.classPicker.value === 'none' ? 0 : Number(els.classPicker.value);
  els.compare.disabled = true;
  els.compareStatus.textContent = `timing each family on ${COMPARED} images of ${classes[label]}…`;
  try {
    const [gan, vae, imageGpt] = await Promise.all([state.lab.loadGan({ dataset: key }), state.lab.loadVae({ dataset: key }),
      state.lab.loadImageGpt({ dataset: key })]);
    const labels = new Array(COMPARED).fill(label);
    const timed = (run) => serial(async () => {
      const start = performance.now();
      const pixels = await run();
      return { pixels, ms: (performance.now() - start) / COMPARED };
    });
    const rows = [
      ['GAN', gan.card, await timed(async () => (await gan.generate({ labels, seed: state.seed })).pixels)],
      ['VAE (no class: it is not conditional)', vae.card, await timed(async () => (await vae.sample({ count: COMPARED, seed: state.seed })).pixels)],
      [`Diffusion, ${plural(diffusion.defaults.steps, 'step')}`, diffusion.card, await timed(async () => {
        let last;
        for await (const step of diffusion.sample({ labels, seed: state.seed, watch: 'none' })) last = step;
        return last.pixels;
      })],
      [`Transformer, ${plural(imageGpt.grid ** 2, 'code')} in turn`, imageGpt.card, await timed(async () => {
        const pixels = new Float32Array(COMPARED * PIXELS);
        for (let i = 0; i < COMPARED; i++) {
          let last;
          for await (const step of imageGpt.generate({ label, seed: state.seed + i })) last = step;
          pixels.set(last.pixels, i * PIXELS);
        }
        return pixels;
      })],
    ];
    await Promise.all([gan.dispose(), vae.dispose(), imageGpt.dispose()]);
    const body = els.compareTable.tBodies[0];
    body.replaceChildren(...rows.map(([name, card, { pixels, ms }]) => {
      const row = body.insertRow();
      row.insertCell().textContent = name;
      const cell = row.insertCell();
      for (let i = 0; i < COMPARED; i++) {
        const canvas = Object.assign(document.createElement('canvas'), { width: 28, height: 28 });
        canvas.setAttribute('aria-hidden', 'true');
        drawPixels(canvas, image(pixels, i));
        cell.append(canvas);
      }
      row.insertCell().textContent = `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
      const fd = frechet(card);
      row.insertCell().textContent = fd === undefined ? 'not measured (its card reports likelihood)' : fd.toFixed(2);
      return row;
    }));
    els.compareTable.hidden = false;
    const [ganMs, , diffMs] = rows.map((r) => r[2].ms);
    els.compareNote.textContent = `The diffusion model took ${Math.round(diffMs / ganMs)} times as long as the GAN per image ` +
      'here: it runs its network at every step. What that buys shows in the Fréchet distance (from each card, lower is ' +
      'closer to the real images) and in the variety of its samples.';
    els.compareNote.hidden = false;
    els.compareStatus.textContent = '';
  } finally {
    els.compare.disabled = false;
  }
}

// ---- Start -------------------------------------------------------------------------------

async function switchDataset(key) {
  state.model = await model(key);
  const wanted = state.wantedClass ?? els.classPicker.value;
  state.wantedClass = null;
  els.classPicker.replaceChildren(new Option('none (no class)', 'none'),
    ...state.model.classes.map((name, i) => new Option(name, String(i))));
  els.classPicker.value = [...els.classPicker.options].some((o) => o.value === wanted) ? wanted : '0';
  state.training.index = state.seed;
  await sampleGrid();
  await showTrainingImage();
}

function findElements() {
  const ids = {
    panel: 'panel-diffusion', lab: 'diff-lab', dataset: 'diff-dataset', classPicker: 'diff-class', steps: 'diff-steps',
    guidance: 'diff-guidance', sampler: 'diff-sampler', newSamples: 'diff-new', status: 'diff-status',
    grid: 'diff-grid', timing: 'diff-timing', noisy: 'diff-noisy', guess: 'diff-guess',
    filmCaption: 'diff-film-caption', scrub: 'diff-scrub', copy: 'diff-copy', copyStatus: 'diff-copy-status',
    copyResult: 'diff-copy-result', copyCanvas: 'diff-copy-canvas', copyCaption: 'diff-copy-caption',
    clean: 'diff-clean', cleanCaption: 'diff-clean-caption', dissolved: 'diff-dissolved', snr: 'diff-snr',
    restored: 'diff-restored', restoredCaption: 'diff-restored-caption', t: 'diff-t', other: 'diff-other', clear: 'diff-clear',
    denoise: 'diff-denoise', compare: 'diff-compare', compareStatus: 'diff-compare-status',
    compareTable: 'diff-compare-table', compareNote: 'diff-compare-note',
  };
  for (const [name, id] of Object.entries(ids)) els[name] = document.getElementById(id);
}

const readSettings = () => ({
  dataset: els.dataset.value, class: els.classPicker.value, steps: els.steps.value,
  guidance: els.guidance.value, sampler: els.sampler.value, seed: state.seed,
});

function takeSettings({ dataset, class: label, steps, guidance, sampler, seed }) {
  if (DATASETS.includes(dataset)) els.dataset.value = dataset;
  if (label !== undefined) state.wantedClass = label;
  if (steps !== undefined) els.steps.value = steps;
  if (guidance !== undefined) els.guidance.value = guidance;
  if (sampler === 'ddim' || sampler === 'ancestral') els.sampler.value = sampler;
  const n = Number(seed);
  if (Number.isInteger(n) && n >= 0 && n < 2 ** 32) state.seed = n;
}

// Wires the controls now and loads the model when the tab is first shown.
export async function initDiffusionTab(lab) {
  state.lab = lab;
  findElements();
  takeSettings(share('diffusion', {
    read: readSettings,
    apply: (s) => {
      takeSettings(s);
      return switchDataset(els.dataset.value).catch(showError);
    },
  }));
  const resample = () => {
    changed('diffusion');
    sampleGrid().catch(showError);
  };
  els.dataset.addEventListener('change', () => switchDataset(els.dataset.value).then(() => changed('diffusion'), showError));
  for (const el of [els.classPicker, els.steps, els.guidance, els.sampler]) el.addEventListener('change', resample);
  els.newSamples.addEventListener('click', () => {
    state.seed = (state.seed + 1) % 2 ** 32;
    resample();
  });
  els.scrub.addEventListener('input', () => showFrame(Number(els.scrub.value)));
  els.copy.addEventListener('click', () => findCopy().catch((e) => {
    console.error(e);
    els.copyStatus.textContent = `The search failed: ${e.message ?? e}`;
  }));
  els.t.addEventListener('input', () => dissolve().catch(showError));
  drawingPad(els.clean, state.clean, drawnOn);
  els.clear.addEventListener('click', clearDrawing);
  els.other.addEventListener('click', () => {
    state.training.index += 1;
    showTrainingImage().catch(showError);
  });
  els.denoise.addEventListener('click', () => denoiseFromHere().catch(showError));
  els.compare.addEventListener('click', () => compare().catch((e) => {
    console.error(e);
    els.compareStatus.textContent = `The comparison failed: ${e.message ?? e}`;
  }));
  els.panel.addEventListener('shown', () => {
    if (state.abandoned) sampleGrid().catch(showError);
  });
  els.lab.hidden = false;
  await whenShown('panel-diffusion');
  await switchDataset(els.dataset.value).catch(showError);
}
