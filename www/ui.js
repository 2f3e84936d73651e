// What more than one part of the page needs: messages, numbers from inputs, drawing at most once
// per animation frame, the one queue every model call goes through, loading once (with a retry
// after a failure), drawing images, the training images, and knowing when a tab is first shown
// and whether the reader asked for less motion; for training in the page, the loop of calls of
// steps, the live line charts and the downloads of the weights; for the text models, the logit
// lens's table. No tab imports another; they all import this.
import { toImageData } from './genai-lab/worker.js';
import { fetchChecked, fetchJson } from './integrity.js';

export const SIDE = 28; // the image models' images are SIDE x SIDE
export const PIXELS = SIDE * SIDE;

export const plural = (n, word) => `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;

// Shows `text` in `el`, or hides it when empty.
export function showMessage(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

export const percent = (p) => (p >= 0.001 ? `${(p * 100).toFixed(1)}%` : '<0.1%');

// The indices of the n largest probabilities in `p`, largest first.
export const likeliest = (p, n) => [...p.keys()].sort((a, b) => p[b] - p[a]).slice(0, n);

// The logit-lens table of a text model of `layers` blocks, made in `table`: a row per read-out,
// after the embedding and after each layer's attention and MLP, with a bar of how much that part
// changed the residual stream and its `guesses` likeliest next `units` (tokens). Returns
// draw(rows, changes): rows[i] lists row i's guesses as { text, p, chosen }, likeliest first;
// changes[i - 1] is row i's change (the bars are scaled to the largest).
export function lensTable(table, layers, guesses, units) {
  const cell = (tag, html) => Object.assign(document.createElement(tag), { innerHTML: html });
  const head = document.createElement('tr');
  head.append(...['After', 'Change', `Likeliest next ${units}`].map((name) => Object.assign(cell('th', name), { scope: 'col' })));
  table.replaceChildren(table.createTHead(), table.createTBody());
  table.tHead.append(head);
  const guess = '<span class="gpt-lens-guess"><span class="gpt-char"></span> <span class="gpt-percent"></span></span>';
  const names = ['embedding', ...Array.from({ length: layers }, (_, l) => [`layer ${l + 1} attention`, `layer ${l + 1} MLP`]).flat()];
  table.tBodies[0].replaceChildren(...names.map((name, i) => {
    const row = document.createElement('tr');
    if (name.endsWith('MLP')) row.className = 'gpt-lens-block';
    const change = i === 0 ? '' : '<span class="gpt-lens-change"><span class="gpt-fill"></span></span>';
    row.append(cell('th', name), cell('td', change), cell('td', guess.repeat(guesses)));
    row.cells[0].scope = 'row';
    return row;
  }));
  return (rows, changes) => {
    const largest = Math.max(...changes);
    [...table.tBodies[0].rows].forEach((row, i) => {
      const [, change, cells] = row.cells;
      if (i > 0) {
        change.querySelector('.gpt-fill').style.width = `${(changes[i - 1] / largest) * 100}%`;
        change.title = `changed the stream by ${(changes[i - 1] * 100).toFixed(0)}% of its size`;
      }
      [...cells.children].forEach((el, k) => {
        const { text, p, chosen } = rows[i][k];
        el.querySelector('.gpt-char').textContent = text;
        el.querySelector('.gpt-percent').textContent = percent(p);
        el.classList.toggle('chosen', chosen);
      });
    });
  };
}

// A number from an input; an empty field is an error that names it. The model checks the
// ranges (and that counts are whole) itself.
export function inputNumber(el, name) {
  const value = el.valueAsNumber;
  if (Number.isNaN(value)) throw new Error(`The ${name} is not a number.`);
  return value;
}

// `request()` draws on the next animation frame, once however often it is called before;
// `now()` draws at once, dropping a pending frame.
export function frameRenderer(render) {
  let frame = 0;
  return {
    request() {
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        render();
      });
    },
    now() {
      cancelAnimationFrame(frame);
      frame = 0;
      render();
    },
  };
}

// Whether the reader asked for less motion: then nothing animates unless asked to.
export const reducedMotion = () => matchMedia('(prefers-reduced-motion: reduce)').matches;

// Resolves when the tab panel `id` is shown (at once if it is already).
export function whenShown(id) {
  const panel = document.getElementById(id);
  if (!panel.hidden) return Promise.resolve();
  return new Promise((resolve) => panel.addEventListener('shown', resolve, { once: true }));
}

// ---- One model call at a time ------------------------------------------------------------

let queue = Promise.resolve();

// Runs `task` after every task queued before it, so that the page's calls into the models never
// overlap and live controls can coalesce their requests while one is in flight.
export function serial(task) {
  const run = queue.then(task);
  queue = run.catch(() => {});
  return run;
}

// A request that, while one is already waiting, joins it instead of queueing another: the task
// reads the state when it starts, so the waiting run covers every request made before then.
export function coalesced(task) {
  let waiting = null;
  return () => (waiting ??= serial(() => {
    waiting = null;
    return task();
  }));
}

// `load(key)`, once per key in `map`, the first time someone asks; a failed load may be retried.
export function once(map, key, load) {
  if (!map.has(key)) {
    const loading = load(key);
    loading.catch(() => map.delete(key));
    map.set(key, loading);
  }
  return map.get(key);
}

// Makes `canvas` a pad that draws into `image` (PIXELS values in [0, 1]) with the mouse, a pen or
// a finger: a soft round brush, each pixel keeping the brighter of its value and the brush's.
// `drawn(first)` follows every change (`first` at a stroke's start); the caller redraws.
const BRUSH = 0.9; // the brush's standard deviation, in image pixels
export function drawingPad(canvas, image, drawn) {
  const stamp = (cx, cy) => {
    const reach = Math.ceil(3 * BRUSH);
    for (let y = Math.max(0, Math.floor(cy) - reach); y <= Math.min(SIDE - 1, Math.floor(cy) + reach); y++) {
      for (let x = Math.max(0, Math.floor(cx) - reach); x <= Math.min(SIDE - 1, Math.floor(cx) + reach); x++) {
        const d2 = (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2;
        const v = Math.min(1, 1.5 * Math.exp(-d2 / (2 * BRUSH * BRUSH)));
        const i = y * SIDE + x;
        if (v > image[i]) image[i] = v;
      }
    }
  };
  const stroke = (from, to) => {
    const steps = Math.max(1, Math.ceil(Math.hypot(to[0] - from[0], to[1] - from[1]) / 0.25));
    for (let s = 1; s <= steps; s++) {
      stamp(from[0] + ((to[0] - from[0]) * s) / steps, from[1] + ((to[1] - from[1]) * s) / steps);
    }
  };
  const position = (event) => {
    const rect = canvas.getBoundingClientRect();
    return [(SIDE * (event.clientX - rect.left)) / rect.width, (SIDE * (event.clientY - rect.top)) / rect.height];
  };
  let last = null;
  let pointer = null;
  canvas.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    pointer = event.pointerId;
    canvas.setPointerCapture(event.pointerId);
    last = position(event);
    stamp(...last);
    drawn(true);
    event.preventDefault();
  });
  canvas.addEventListener('pointermove', (event) => {
    if (event.pointerId !== pointer) return;
    const next = position(event);
    stroke(last, next);
    last = next;
    drawn(false);
  });
  const stop = (event) => { if (event.pointerId === pointer) pointer = null; };
  canvas.addEventListener('pointerup', stop);
  canvas.addEventListener('pointercancel', stop);
}

// Weights trained in a tab's "Train it yourself" part reach the tab's own views as a USE_WEIGHTS
// event on the tab's panel (detail: the trainer's export and what else the view needs), and
// appear in its data set menu as the entry TRAINED: added the first time, renamed after, chosen.
export const USE_WEIGHTS = 'use-weights';
export const TRAINED = 'trained';
export function chooseTrained(menu, text) {
  const entry = menu.querySelector(`option[value="${TRAINED}"]`) ?? menu.appendChild(new Option('', TRAINED));
  entry.textContent = text;
  menu.value = TRAINED;
}

// ---- Images ------------------------------------------------------------------------------

// `pixels`: one image's PIXELS values in [0, 1].
export function drawPixels(canvas, pixels) {
  canvas.getContext('2d').putImageData(toImageData(pixels)[0], 0, 0);
}

// The class names, in label order, from an image model's card.
export function classNames(card) {
  const classes = card.data?.classes;
  if (!Array.isArray(classes) || classes.length !== 10) {
    throw new Error(`the model card ${card.name} lists no 10 class names`);
  }
  return classes.map(String);
}

// Cuts a grey sprite sheet (images of SIDE x SIDE, `columns` a row, in order) into `count`
// consecutive images of PIXELS values in [0, 1]: the red channel / 255.
async function decodeSheet(blob, count, columns) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const { width, height } = bitmap;
  if (width !== columns * SIDE || height < Math.ceil(count / columns) * SIDE) {
    bitmap.close();
    throw new Error(`a ${width} x ${height} sheet cannot hold ${count} images, ${columns} a row`);
  }
  const canvas = typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const { data } = ctx.getImageData(0, 0, width, height);
  const images = new Float32Array(count * PIXELS);
  for (let k = 0; k < count; k++) {
    const left = (k % columns) * SIDE;
    const top = Math.floor(k / columns) * SIDE;
    for (let y = 0; y < SIDE; y++) {
      const row = 4 * ((top + y) * width + left);
      for (let x = 0; x < SIDE; x++) images[k * PIXELS + y * SIDE + x] = data[row + 4 * x] / 255;
    }
  }
  return images;
}

const trainingSets = new Map(); // data set key -> Promise of the set
const loadedSets = new Set(); // data set keys whose training images are on the GPU

async function loadTrainingSet(lab, key) {
  const name = `models/train_subset_${key}`;
  const [meta, blob] = await Promise.all([
    fetchJson(`${name}.json`),
    fetchChecked(`${name}.png`).then((bytes) => new Blob([bytes], { type: 'image/png' })),
  ]);
  const { count, columns, labels, train_indices: trainIndices } = meta;
  if (!(count > 0) || labels?.length !== count || trainIndices?.length !== count) {
    throw new Error(`${name}.json does not list a label and an index for each of its ${count} images`);
  }
  const images = await decodeSheet(blob, count, columns);
  const index = await lab.createImageIndex(images, PIXELS);
  loadedSets.add(key);
  return { index, images, labels, trainIndices, count };
}

// The training images of data set `key` shipped with the page, and their search index on the
// lab's device: { index, images, labels, trainIndices, count }, loaded once.
export const trainingSet = (lab, key) => once(trainingSets, key, () => loadTrainingSet(lab, key));

export const trainingSetLoaded = (key) => loadedSets.has(key);

// ---- Training in the page ----------------------------------------------------------------

// Tableau 10: one colour per class, distinguishable on black and on the grey tiles.
export const CLASS_COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

// A package error's message without the package's name in front, for a status line.
export const messageOf = (e) => String(e?.message ?? e).replace(/^genai-lab: /, '');

const TARGET_MS = 200; // how long one call of steps should take: the page's controls get a turn between
const MOST_STEPS = 1000; // the most steps the package takes in one call

// Runs training as a loop of `step(n)` calls (each inside `serial`, so that other model calls get a
// turn between them), n chosen so that a call takes about TARGET_MS: it starts at 1 and follows
// the time the last call took (its `seconds`), at most doubling. After each call, `after(result,
// { single })` records and draws (awaited, so that drawing keeps pace with training); `stopped()`
// runs when a loop ends by a pause, `failed(e)` when a call threw (the loop then stops);
// `changed()` whenever running or busy changes.
export function trainingLoop({ step, after, stopped = () => {}, failed, changed = () => {} }) {
  let running = false;
  let busy = null; // the loop's or a single step's promise while one is under way
  let count = 1;

  const call = async (n, single) => {
    const result = await serial(() => step(n));
    await after(result, { single });
    return result;
  };

  async function run() {
    try {
      while (running) {
        const started = performance.now();
        const result = await call(count, false);
        const ms = result.seconds > 0 ? 1000 * result.seconds : performance.now() - started;
        const fits = Math.round((count * TARGET_MS) / Math.max(ms, 1));
        count = Math.max(1, Math.min(2 * count, MOST_STEPS, fits));
        await new Promise((resolve) => setTimeout(resolve)); // the page's turn
      }
      await stopped();
    } catch (e) {
      running = false;
      failed(e);
    }
  }

  const settle = (promise) => {
    busy = promise.finally(() => {
      busy = null;
      changed();
    });
    changed();
    return busy;
  };

  return {
    get running() { return running; },
    get busy() { return busy !== null; },
    /** Starts the loop (nothing if one runs or a step is under way). */
    start() {
      if (busy) return;
      running = true;
      settle(run());
    },
    /** Asks the loop to stop after the call in flight; resolves when nothing is under way. */
    pause() {
      if (running) {
        running = false;
        changed();
      }
      return busy ?? Promise.resolve();
    },
    /** One step, drawn at once (nothing while the loop runs). */
    once() {
      if (busy) return busy;
      return settle(call(1, true).then(() => {}, failed));
    },
  };
}

// A round step for an axis spanning `span`: 1, 2 or 5 times a power of ten, about a quarter of it.
function niceStep(span) {
  const rough = span / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].find((s) => s * power >= rough) * power;
}

const formatTick = (v) => (Math.abs(v) >= 1000 || v === 0 ? Math.round(v).toLocaleString('en')
  : Number(v.toPrecision(3)).toString());

const darkScheme = matchMedia('(prefers-color-scheme: dark)');

// A line chart of training curves on `canvas`, against the step: `series` lists { name, colour }
// (colour: a CSS custom property, such as '--chart-a', also the class of its key in the legend),
// and `legend` (a list element) shows each series' name and its mean over the last 20 steps.
// `range`: [low, high] fixed, or absent to fit the data (`zero` keeps 0 in view); `guides`: dashed
// levels to read against, { value, label }. With more steps than pixel columns, each column shows
// the mean of its steps, which also calms the noise of the curves. It redraws when resized or
// when the colour scheme changes.
export function lineChart(canvas, legend, series, { range, zero = false, guides = [] } = {}) {
  const steps = [];
  const values = series.map(() => []);
  const outputs = series.map(({ name, colour, dashed }) => {
    const item = document.createElement('li');
    const key = document.createElement('span');
    key.className = `chart-key${dashed ? ' is-dashed' : ''}`;
    key.style.borderTopColor = `var(${colour})`;
    const value = document.createElement('output');
    item.append(key, `${name} `, value);
    legend.append(item);
    return value;
  });

  function render() {
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return; // hidden: drawn when shown (the resize observer)
    const ratio = devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const style = getComputedStyle(canvas);
    const colourOf = (name) => style.getPropertyValue(name).trim() || style.color;
    const muted = colourOf('--muted');
    const left = 40;
    const right = 6;
    const top = 6;
    const bottom = 18;
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = muted;
    if (!steps.length) {
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText('no steps yet', left + plotW / 2, top + plotH / 2);
      return;
    }
    // Each pixel column's mean of its steps, per series.
    const columns = Math.max(1, Math.min(steps.length, Math.floor(plotW)));
    const per = steps.length / columns;
    const binned = values.map((ys) => Array.from({ length: columns }, (_, c) => {
      const from = Math.floor(c * per);
      const to = Math.max(from + 1, Math.floor((c + 1) * per));
      let sum = 0;
      let n = 0;
      for (let i = from; i < to; i++) if (Number.isFinite(ys[i])) { sum += ys[i]; n++; }
      return n ? sum / n : NaN;
    }));
    let [low, high] = range ?? [Infinity, -Infinity];
    if (!range) {
      for (const ys of binned) for (const y of ys) if (Number.isFinite(y)) { low = Math.min(low, y); high = Math.max(high, y); }
      if (zero) { low = Math.min(low, 0); high = Math.max(high, 0); }
      if (!Number.isFinite(low)) [low, high] = [0, 1];
      if (high - low < 1e-6) [low, high] = [low - 0.5, high + 0.5];
      const step = niceStep(high - low);
      [low, high] = [Math.floor(low / step) * step, Math.ceil(high / step) * step];
    }
    const first = steps[0];
    const last = steps[steps.length - 1];
    const xOf = (c) => left + (columns === 1 ? plotW / 2 : (c / (columns - 1)) * plotW);
    const yOf = (y) => top + (1 - (Math.min(high, Math.max(low, y)) - low) / (high - low)) * plotH;

    ctx.strokeStyle = colourOf('--line');
    ctx.lineWidth = 1;
    ctx.strokeRect(left + 0.5, top + 0.5, plotW - 1, plotH - 1);
    ctx.textAlign = 'right';
    ctx.textBaseline = 'top';
    ctx.fillText(formatTick(high), left - 4, top);
    ctx.textBaseline = 'bottom';
    ctx.fillText(formatTick(low), left - 4, top + plotH);
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';
    ctx.fillText(`step ${first.toLocaleString('en')}`, left, top + plotH + 3);
    ctx.textAlign = 'right';
    ctx.fillText(last.toLocaleString('en'), left + plotW, top + plotH + 3);

    ctx.setLineDash([3, 3]);
    for (const { value, label } of guides) {
      if (value < low || value > high) continue;
      const y = Math.round(yOf(value)) + 0.5;
      ctx.strokeStyle = muted;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + plotW, y);
      ctx.stroke();
      ctx.textAlign = 'right';
      ctx.textBaseline = 'bottom';
      ctx.fillText(label, left + plotW - 3, y - 1);
    }
    series.forEach(({ colour, dashed }, s) => {
      ctx.setLineDash(dashed ? [6, 3] : []);
      ctx.strokeStyle = colourOf(colour);
      ctx.lineWidth = 1.6;
      ctx.beginPath();
      let pen = false;
      binned[s].forEach((y, c) => {
        if (!Number.isFinite(y)) { pen = false; return; }
        if (pen) ctx.lineTo(xOf(c), yOf(y));
        else ctx.moveTo(xOf(c), yOf(y));
        pen = true;
      });
      if (columns === 1) ctx.arc(xOf(0), yOf(binned[s][0]), 1.5, 0, 2 * Math.PI);
      ctx.stroke();
    });
    ctx.setLineDash([]);
  }

  const frame = frameRenderer(render);
  new ResizeObserver(() => frame.request()).observe(canvas);
  darkScheme.addEventListener('change', () => frame.request());

  function showLegend() {
    outputs.forEach((out, s) => {
      const recent = values[s].slice(-20).filter(Number.isFinite);
      out.textContent = recent.length ? formatTick(recent.reduce((a, b) => a + b, 0) / recent.length) : '–';
    });
  }

  return {
    /** Adds one step's values, one per series. */
    push(step, ys) {
      steps.push(step);
      ys.forEach((y, s) => values[s].push(y));
    },
    /** Redraws (on the next frame) and updates the legend. */
    draw() {
      showLegend();
      frame.request();
    },
    clear() {
      steps.length = 0;
      for (const ys of values) ys.length = 0;
      showLegend();
      frame.request();
    },
    get points() { return steps.length; },
  };
}

const fileSize = (n) => (n < 1e6 ? `${Math.max(1, Math.round(n / 1e3))} kB` : `${(n / 1e6).toFixed(1)} MB`);

// Offers `files` ({ name: string or bytes }) as downloads: a link each in the list `list`
// (replacing the last offer, whose blob URLs it frees), each clicked once at once. A browser may
// ask before it saves more than one; the links stay to save them one by one.
export function offerDownloads(list, files) {
  for (const a of list.querySelectorAll('a')) URL.revokeObjectURL(a.href);
  list.replaceChildren(...Object.entries(files).map(([name, content]) => {
    const type = typeof content === 'string' ? 'application/json' : 'application/octet-stream';
    const blob = new Blob([content], { type });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.textContent = name;
    const item = document.createElement('li');
    item.append(a, ` (${fileSize(blob.size)})`);
    return item;
  }));
  for (const a of list.querySelectorAll('a')) a.click();
}
