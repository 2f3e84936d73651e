// The Transformer tab's image GPT: a Transformer that writes an image the way the character GPT
// writes text, one code (a little patch from a codebook of 256) at a time after a class token.
// It shows the image as it is written, with the cell being written outlined; the likeliest
// patches for that cell with their probabilities; and the codebook as a sheet of patches, the
// ones the image used marked. The model is the genai-lab package's; every call goes through the
// page's one queue (`serial`).
import { serial, once, drawPixels, classNames, percent, reducedMotion, inputNumber, showMessage, likeliest } from './ui.js';
import { share, changed } from './route.js';

const TOP = 8; // probability bars
const PATCH = 4; // a code's patch: PATCH x PATCH pixels
const SHEET_COLUMNS = 16;
const SHEET_SCALE = 4; // screen pixels per patch pixel on the sheet
const SHEET_GAP = 2;
const SHEET_CELL = PATCH * SHEET_SCALE + SHEET_GAP;
const STEP_MS = 40; // at least this long per code, so that the image is seen being written

const els = {};
const state = {
  lab: null,
  models: new Map(), // data set key -> Promise of { imageGpt, classes, patches, sheet }
  model: null,
  stop: null, // the running image's AbortController
  runs: 0, // images written so far (finished or stopped)
  wantedClass: null, // the class to pick once the data set's names are in (the address's)
};

const model = (key) => once(state.models, key, async () => {
  const imageGpt = await state.lab.loadImageGpt({ dataset: key });
  const { patches, images } = await serial(() => imageGpt.codebook());
  // The sheet's patches at 1:1, for drawing scaled with drawImage.
  const sheet = new OffscreenCanvas(SHEET_COLUMNS * PATCH, Math.ceil(imageGpt.codes / SHEET_COLUMNS) * PATCH);
  const context = sheet.getContext('2d');
  images.forEach((image, i) => context.putImageData(image, PATCH * (i % SHEET_COLUMNS), PATCH * Math.floor(i / SHEET_COLUMNS)));
  return { imageGpt, classes: classNames(imageGpt.card), patches, sheet };
});

function setStatus(text, kind = 'ready') {
  els.status.textContent = text;
  els.status.dataset.state = kind;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- Drawing -----------------------------------------------------------------------------

// Code `code`'s patch on a small canvas (PATCH x PATCH, scaled by CSS).
function drawPatch(canvas, code) {
  const { sheet } = state.model;
  const context = canvas.getContext('2d');
  context.imageSmoothingEnabled = false;
  context.drawImage(sheet, PATCH * (code % SHEET_COLUMNS), PATCH * Math.floor(code / SHEET_COLUMNS), PATCH, PATCH,
    0, 0, PATCH, PATCH);
}

// The codebook sheet; the codes in `used` outlined, `current` (if any) in the accent colour.
function drawSheet(used = new Set(), current = null) {
  const { sheet, imageGpt } = state.model;
  const canvas = els.codebook;
  const rows = Math.ceil(imageGpt.codes / SHEET_COLUMNS);
  canvas.width = SHEET_COLUMNS * SHEET_CELL + SHEET_GAP;
  canvas.height = rows * SHEET_CELL + SHEET_GAP;
  const context = canvas.getContext('2d');
  const styles = getComputedStyle(canvas);
  context.fillStyle = styles.getPropertyValue('--sheet-gap').trim() || '#777';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.imageSmoothingEnabled = false;
  for (let code = 0; code < imageGpt.codes; code++) {
    const [x, y] = [SHEET_GAP + SHEET_CELL * (code % SHEET_COLUMNS), SHEET_GAP + SHEET_CELL * Math.floor(code / SHEET_COLUMNS)];
    context.drawImage(sheet, PATCH * (code % SHEET_COLUMNS), PATCH * Math.floor(code / SHEET_COLUMNS), PATCH, PATCH,
      x, y, PATCH * SHEET_SCALE, PATCH * SHEET_SCALE);
    if (used.has(code) || code === current) {
      context.strokeStyle = code === current ? '#f28e2b' : '#4e79a7';
      context.lineWidth = SHEET_GAP;
      context.strokeRect(x - SHEET_GAP / 2, y - SHEET_GAP / 2, PATCH * SHEET_SCALE + SHEET_GAP, PATCH * SHEET_SCALE + SHEET_GAP);
    }
  }
  canvas.dataset.used = String(used.size);
}

// One step: the image so far, the cell just written outlined, the bars of that cell's odds.
function drawStep(step, codes) {
  const { imageGpt } = state.model;
  drawPixels(els.image, step.pixels);
  const cell = 100 / imageGpt.grid;
  Object.assign(els.cursor.style, { left: `${step.column * cell}%`, top: `${step.row * cell}%`, width: `${cell}%`, height: `${cell}%` });
  els.cursor.hidden = step.done;
  els.image.dataset.position = String(step.position);
  els.image.dataset.codes = codes.join(',');
  const p = step.probabilities;
  els.caption.textContent = step.done
    ? `done: ${codes.length} codes, ${new Set(codes).size} different`
    : `code ${step.position + 1} of ${imageGpt.grid ** 2}: row ${step.row + 1}, column ${step.column + 1}`;
  const order = likeliest(p, TOP);
  if (!order.includes(step.code)) order[TOP - 1] = step.code;
  els.barsCaption.textContent = `For row ${step.row + 1}, column ${step.column + 1} the model predicted:`;
  [...els.bars.children].forEach((row, i) => {
    const code = order[i];
    drawPatch(row.querySelector('canvas'), code);
    row.querySelector('.igpt-code').textContent = `#${code}`;
    row.querySelector('.gpt-fill').style.width = `${p[code] * 100}%`;
    row.querySelector('.gpt-percent').textContent = percent(p[code]);
    row.classList.toggle('chosen', code === step.code);
    row.setAttribute('aria-label', `code ${code}: ${percent(p[code])}${code === step.code ? ', drawn' : ''}`);
  });
  drawSheet(new Set(codes), step.done ? null : step.code);
}

// ---- Writing -----------------------------------------------------------------------------

function readSettings() {
  return {
    label: Number(els.classPicker.value),
    temperature: inputNumber(els.temperature, 'temperature'),
    seed: inputNumber(els.seed, 'seed'),
  };
}

// Writes one image with the controls' settings; a newer run or Stop ends it.
async function write() {
  state.stop?.abort();
  const stop = new AbortController();
  state.stop = stop;
  showMessage(els.error, '');
  let settings;
  try {
    settings = readSettings();
  } catch (e) {
    showMessage(els.error, e.message);
    return;
  }
  const { imageGpt, classes } = state.model;
  els.stopButton.disabled = false;
  els.image.dataset.state = 'writing';
  els.image.dataset.position = '-1'; // none of this image's codes yet
  els.image.dataset.codes = '';
  setStatus(`writing a ${classes[settings.label]}…`, 'busy');
  const codes = [];
  try {
    await serial(async () => {
      const started = performance.now();
      const paced = !reducedMotion();
      for await (const step of imageGpt.generate({ ...settings, signal: stop.signal })) {
        const stepStart = performance.now();
        codes.push(step.code);
        drawStep(step, codes);
        if (paced && !step.done) await sleep(STEP_MS - (performance.now() - stepStart));
      }
      const seconds = (performance.now() - started) / 1000;
      els.speed.textContent = `${codes.length} codes in ${seconds.toFixed(1)} s` +
        `${paced ? ` (at least ${STEP_MS} ms each, to watch it)` : ''}`;
    });
    els.image.dataset.state = 'done';
    setStatus(`a ${classes[settings.label]}, written in ${codes.length} codes`);
  } catch (e) {
    if (e.name === 'AbortError') {
      els.image.dataset.state = 'stopped';
      setStatus(`stopped after ${codes.length} codes`);
    } else {
      els.image.dataset.state = 'error';
      console.error(e);
      showMessage(els.error, e.message ?? String(e));
      setStatus('the image failed', 'error');
    }
  } finally {
    if (state.stop === stop) {
      state.stop = null;
      els.stopButton.disabled = true;
    }
    els.image.dataset.runs = String(++state.runs);
  }
}

// ---- Start -------------------------------------------------------------------------------

// The settings a link shares: the controls' values as they are.
const linkSettings = () => ({
  dataset: els.dataset.value, class: els.classPicker.value, temperature: els.temperature.value, seed: els.seed.value,
});

function takeSettings({ dataset, class: label, temperature, seed }) {
  if (dataset === 'mnist' || dataset === 'fashion') els.dataset.value = dataset;
  if (label !== undefined) state.wantedClass = label;
  if (temperature !== undefined) els.temperature.value = temperature;
  if (seed !== undefined) els.seed.value = seed;
}

async function switchDataset(key) {
  state.stop?.abort();
  els.write.disabled = true;
  setStatus('loading the model…', 'busy');
  try {
    state.model = await model(key);
  } catch (e) {
    console.error(e);
    setStatus(`The model failed to load: ${e.message ?? e}`, 'error');
    return false;
  }
  const wanted = state.wantedClass ?? els.classPicker.value;
  state.wantedClass = null;
  els.classPicker.replaceChildren(...state.model.classes.map((name, i) => new Option(name, String(i))));
  els.classPicker.value = [...els.classPicker.options].some((o) => o.value === wanted) ? wanted : '0';
  const { imageGpt } = state.model;
  drawSheet();
  setStatus(`${imageGpt.card.architecture.n_layer} layers × ${imageGpt.card.architecture.n_head} heads · ` +
    `${imageGpt.codes} codes · ${imageGpt.grid} × ${imageGpt.grid} codes an image`);
  els.write.disabled = false;
  return true;
}

function buildBars() {
  els.bars.replaceChildren(...Array.from({ length: TOP }, () => {
    const row = document.createElement('div');
    row.className = 'gpt-bar igpt-bar';
    row.setAttribute('role', 'listitem');
    row.innerHTML = `<canvas width="${PATCH}" height="${PATCH}" aria-hidden="true"></canvas><span class="igpt-code"></span>` +
      '<span class="gpt-track" aria-hidden="true"><span class="gpt-fill"></span></span><span class="gpt-percent"></span>';
    return row;
  }));
}

function findElements() {
  const ids = {
    view: 'tf-imagegpt', lab: 'igpt-lab', dataset: 'igpt-dataset', classPicker: 'igpt-class',
    temperature: 'igpt-temperature', seed: 'igpt-seed', write: 'igpt-write', stopButton: 'igpt-stop',
    status: 'igpt-status', error: 'igpt-error', image: 'igpt-image', cursor: 'igpt-cursor',
    caption: 'igpt-caption', bars: 'igpt-bars', barsCaption: 'igpt-bars-caption', codebook: 'igpt-codebook',
    speed: 'igpt-speed',
  };
  for (const [name, id] of Object.entries(ids)) els[name] = document.getElementById(id);
}

// Resolves when the Transformer tab shows the image GPT (at once if it does).
function whenViewed() {
  const panel = document.getElementById('panel-transformer');
  const viewed = () => !panel.hidden && !els.view.hidden;
  if (viewed()) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (!viewed()) return;
      panel.removeEventListener('shown', check);
      document.getElementById('tf-model').removeEventListener('change', check);
      resolve();
    };
    panel.addEventListener('shown', check);
    document.getElementById('tf-model').addEventListener('change', check);
  });
}

// Shows the controls; the model loads, and writes its first image, when first viewed.
export async function initImageGptTab(lab) {
  state.lab = lab;
  findElements();
  buildBars();
  els.lab.hidden = false;
  els.write.disabled = true;
  els.stopButton.disabled = true;
  takeSettings(share('imagegpt', {
    read: linkSettings,
    apply: async (settings) => {
      takeSettings(settings);
      if (state.model && await switchDataset(els.dataset.value)) write();
    },
  }));
  const rewrite = () => {
    changed('imagegpt');
    write();
  };
  els.write.addEventListener('click', () => {
    els.seed.value = String((Math.trunc(els.seed.valueAsNumber) || 0) + 1); // another image each click
    rewrite();
  });
  for (const el of [els.classPicker, els.temperature, els.seed]) el.addEventListener('change', rewrite);
  els.stopButton.addEventListener('click', () => state.stop?.abort());
  els.dataset.addEventListener('change', async () => {
    changed('imagegpt');
    if (await switchDataset(els.dataset.value)) write();
  });
  await whenViewed();
  if (await switchDataset(els.dataset.value) && !reducedMotion()) write();
}
