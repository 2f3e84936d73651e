// The Transformer tab: a character-level GPT writes text one character at a time on WebGPU.
// After each character the page shows the model's ten likeliest next characters, for one
// layer and head how much each recent character attended to each earlier one (and, for one of
// them, the raw scores beside the weights), and the prediction as it stood after each layer (the
// logit lens). The model is the
// genai-lab package's; its text comes as a stream that Stop aborts, and the page redraws at most
// once per animation frame.
import { plural, showMessage, inputNumber, frameRenderer, whenShown, reducedMotion, percent, lensTable, likeliest } from './ui.js';
import { shareFields, changed } from './route.js';

const TOP = 10; // probability bars
const LENS_TOP = 5; // candidates per row of the layer-by-layer table
const ROWS = 24; // heatmap rows: the most recent characters read
const COLS = 48; // heatmap columns: the most recent characters they may attend to
const CELL = 14; // heatmap cell side, CSS pixels
const MARGIN = 22; // room for the characters along the heatmap's top and left
const LEGEND = 40; // room for the colour scale under the cells
const WIDTH = MARGIN + COLS * CELL + 8;
const HEIGHT = MARGIN + ROWS * CELL + LEGEND;
const SCORE_BAND = 64; // the raw scores' bars, up and down from 0
const WEIGHT_BAND = 44; // the weights' bars
const SCORES_HEIGHT = MARGIN + SCORE_BAND + 8 + WEIGHT_BAND + 20;
const POSITIVE = '#810f7c'; // the ramp's dark end
const NEGATIVE = '#e08214';

// ColorBrewer BuPu: a sequential ramp whose lightness falls evenly, near white to dark purple.
const RAMP = ['#f7fcfd', '#e0ecf4', '#bfd3e6', '#9ebcda', '#8c96c6', '#8c6bb1', '#88419d', '#810f7c',
  '#4d004b'].map((hex) => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)));

const els = {};
const state = {
  lab: null,
  model: null, // Promise of { gpt, vocab, ids, blockSize, layers, heads, title }
  loaded: null, // the model, once loaded
  run: null, // the current or last generation (see newRun)
  stop: null, // the AbortController of the generation running
  drawLensTable: null, // see lensTable
  runs: 0, // generations asked for, for the page test
};

// ---- The model ---------------------------------------------------------------------------

async function loadModel() {
  const gpt = await state.lab.loadGpt();
  const { vocab, blockSize, layers, heads } = gpt;
  return { gpt, vocab, blockSize, layers, heads, title: gpt.card.data?.title ?? 'Shakespeare' };
}

function model() {
  if (!state.model) {
    state.model = loadModel();
    state.model.catch(() => { state.model = null; }); // a failed load may be retried
  }
  return state.model;
}

// ---- Helpers -----------------------------------------------------------------------------

// Newline and space drawn so they can be seen.
const shown = (c) => ({ '\n': '↵', ' ': '␣' }[c] ?? c);

function setStatus(text, kind = 'ready') {
  els.status.textContent = text;
  els.status.dataset.state = kind;
}

function readSettings() {
  return {
    prompt: els.prompt.value,
    temperature: inputNumber(els.temperature, 'temperature'),
    topK: inputNumber(els.topK, 'top-k'),
    topP: inputNumber(els.topP, 'top-p'),
    seed: inputNumber(els.seed, 'seed'),
    length: inputNumber(els.length, 'length'),
  };
}

// ---- Generation --------------------------------------------------------------------------

function newRun(prompt) {
  return {
    prompt,
    generated: '',
    steps: 0,
    firstMs: 0, // the first step: reading the prompt (the prefill) and drawing one character
    firstWindow: 0,
    firstEnd: 0,
    lastEnd: 0,
    rows: [], // the last ROWS attention rows: { pos, first, count, weights, scores }
    latest: null, // the last prediction: { probabilities, chosen, before, lens, changes }
    notice: '',
    stopped: false,
  };
}

// Keeps the attention rows of one step, by text position: query r read the text position
// text.length - rows + r, and its key j is the position text.length - window + j. Only the keys
// the heatmap can show are kept: the COLS positions up to the query.
function keepAttention(run, m, step) {
  const { window, rows, attention, scores } = step;
  const length = run.prompt.length + run.generated.length;
  const start = length - window;
  const planes = m.layers * m.heads;
  const fresh = [];
  for (let r = 0; r < rows; r++) {
    const pos = length - rows + r;
    const first = Math.max(start, pos - COLS + 1);
    const count = pos - first + 1;
    const [weights, raw] = [attention, scores].map((all) => {
      const kept = new Float32Array(planes * count);
      for (let p = 0; p < planes; p++) {
        const from = (p * rows + r) * m.blockSize + (first - start);
        kept.set(all.subarray(from, from + count), p * count);
      }
      return kept;
    });
    fresh.push({ pos, first, count, weights, scores: raw });
  }
  // A re-read after a slide sends rows again for positions already kept: the new ones win.
  run.rows = [...run.rows.filter((row) => row.pos < fresh[0].pos), ...fresh].slice(-ROWS);
}

function noticeFor(run, m, step) {
  if (!step.slid) return run.notice;
  if (run.steps === 0) {
    return `The prompt is longer than the model's ${m.blockSize}-character context: it reads only ` +
      `its last ${step.window} characters.`;
  }
  return `The text is longer than the model's ${m.blockSize}-character context: it now reads only ` +
    `the last ${step.window} characters.`;
}

// Takes what the page needs from one step.
function record(run, m, step, ms) {
  keepAttention(run, m, step);
  run.notice = noticeFor(run, m, step);
  run.latest = {
    probabilities: step.probabilities,
    lens: step.lens,
    changes: step.changes,
    chosen: step.token,
    before: (run.prompt + run.generated).slice(-12),
  };
  run.generated += step.text;
  run.steps++;
  run.lastEnd = performance.now();
  if (run.steps === 1) {
    run.firstMs = ms;
    run.firstWindow = step.window;
    run.firstEnd = run.lastEnd;
  }
}

function setRunning(on) {
  els.generate.disabled = on;
  els.stop.disabled = !on;
  if (on) els.output.dataset.state = 'running';
}

async function generate() {
  els.output.dataset.run = String(++state.runs);
  showMessage(els.error, '');
  const m = state.loaded;
  let settings;
  try {
    settings = readSettings();
  } catch (e) {
    showMessage(els.error, e.message);
    els.output.dataset.state = 'error';
    return;
  }
  const { prompt, temperature, topK, topP, seed, length } = settings;
  const stop = new AbortController();
  const options = { maxTokens: length, temperature, topK, topP, seed, attention: true, lens: true, signal: stop.signal };
  const steps = m.gpt.generate(prompt, options);
  const run = newRun(prompt);
  state.run = run;
  state.stop = stop;
  els.promptText.textContent = run.prompt;
  setRunning(true);
  render();
  let outcome = 'done';
  try {
    let begin = performance.now();
    for await (const step of steps) {
      record(run, m, step, performance.now() - begin);
      renderer.request();
      begin = performance.now();
    }
  } catch (e) {
    if (stop.signal.aborted) {
      run.stopped = true;
    } else if (run.steps === 0) {
      // Refused before the first character, for bad settings: the message says what to change.
      showMessage(els.error, e.message ?? String(e));
      outcome = 'error';
    } else {
      console.error(e);
      showMessage(els.error, `The model failed: ${e.message ?? e}`);
      outcome = 'error';
    }
  } finally {
    setRunning(false);
    renderer.now();
    els.output.dataset.state = outcome;
  }
}

// ---- Drawing -----------------------------------------------------------------------------

const renderer = frameRenderer(render);

function render() {
  const run = state.run;
  if (!run) return;
  const out = els.output;
  const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
  els.generated.textContent = run.generated;
  if (atBottom) out.scrollTop = out.scrollHeight;
  showMessage(els.notice, run.notice);
  drawSpeed(run);
  drawBars(run);
  drawAttention();
  drawLens(run);
}

// Decode speed: the steps after the first (one pass over one position each, but a slide's
// re-read too), over the time from the end of the first step to the end of the last.
function drawSpeed(run) {
  const parts = [`${plural(run.generated.length, 'character')} written`];
  if (run.steps > 1) {
    const perSecond = ((run.steps - 1) * 1000) / (run.lastEnd - run.firstEnd);
    els.speed.dataset.tokensPerSecond = String(perSecond);
    parts.push(`${perSecond.toFixed(1)} tokens/s`);
  } else {
    delete els.speed.dataset.tokensPerSecond;
  }
  if (run.steps > 0) {
    parts.push(`first step ${Math.round(run.firstMs)} ms (reading ${plural(run.firstWindow, 'character')})`);
  }
  if (run.stopped) parts.push('stopped');
  els.speed.textContent = parts.join(' · ');
}

// The ten likeliest next characters; the one drawn takes the last row if it is not among them.
function drawBars(run) {
  const latest = run.latest;
  if (!latest) return;
  const { probabilities, chosen, before } = latest;
  const order = likeliest(probabilities, TOP);
  if (!order.includes(chosen)) order[TOP - 1] = chosen;
  const vocab = state.loaded.vocab;
  els.barsCaption.textContent = `After “${[...before].map(shown).join('')}” the model predicted:`;
  [...els.bars.children].forEach((row, i) => {
    const id = order[i];
    const p = probabilities[id];
    row.querySelector('.gpt-char').textContent = shown(vocab[id]);
    row.querySelector('.gpt-fill').style.width = `${p * 100}%`;
    row.querySelector('.gpt-percent').textContent = percent(p);
    row.classList.toggle('chosen', id === chosen);
    row.setAttribute('aria-label', `${JSON.stringify(vocab[id])}: ${percent(p)}${id === chosen ? ', drawn' : ''}`);
  });
}

// The likeliest characters after each part of the model, and how much that part changed the
// residual stream.
function drawLens(run) {
  const latest = run.latest;
  if (!latest) return;
  const { lens, changes, chosen } = latest;
  const vocab = state.loaded.vocab;
  const rows = Array.from({ length: lens.length / vocab.length }, (_, i) => {
    const p = lens.subarray(i * vocab.length, (i + 1) * vocab.length);
    return likeliest(p, LENS_TOP).map((id) => ({ text: shown(vocab[id]), p: p[id], chosen: id === chosen }));
  });
  state.drawLensTable(rows, changes);
}

// Colour for an attention weight. The square root spreads out the small weights a long row
// shares out; darker still means more attention.
function colour(weight) {
  const t = Math.sqrt(Math.min(1, Math.max(0, weight))) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t));
  const f = t - i;
  const [r, g, b] = RAMP[i].map((v, k) => Math.round(v + f * (RAMP[i + 1][k] - v)));
  return `rgb(${r}, ${g}, ${b})`;
}

function drawLegend(ctx, top) {
  const left = MARGIN;
  const width = 160;
  ctx.fillStyle = '#5b6475';
  ctx.textAlign = 'left';
  ctx.fillText('attention weight', left, top + 7);
  const barLeft = left + 110;
  for (let x = 0; x < width; x++) {
    ctx.fillStyle = colour((x / (width - 1)) ** 2);
    ctx.fillRect(barLeft + x, top, 1, 10);
  }
  ctx.fillStyle = '#5b6475';
  ctx.textAlign = 'center';
  for (const w of [0, 0.1, 0.5, 1]) {
    const x = barLeft + Math.sqrt(w) * (width - 1);
    ctx.fillRect(x, top + 10, 1, 3);
    ctx.fillText(String(w), x, top + 22);
  }
}

// A canvas of `height` CSS pixels cleared for drawing, with the labels' font.
function clearCanvas(canvas, height) {
  const ctx = canvas.getContext('2d');
  const scale = canvas.width / WIDTH;
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.clearRect(0, 0, WIDTH, height);
  ctx.font = '11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
  ctx.textBaseline = 'middle';
  return ctx;
}

// What the heatmap and the close-up show: the layer and head picked, the rows kept, the first
// column (both canvases share the columns) and the row picked as the query.
function attentionView() {
  const run = state.run;
  const m = state.loaded;
  if (!run?.rows.length || !m) return null;
  const layer = Number(els.layer.value);
  const head = Number(els.head.value);
  const rows = run.rows;
  const last = rows.at(-1).pos;
  const back = Math.min(rows.length - 1, Math.max(0, Math.trunc(Number(els.query.value)) || 0));
  return {
    layer, head, rows, last,
    plane: (layer - 1) * m.heads + head - 1,
    text: run.prompt + run.generated,
    firstKey: Math.max(0, last - COLS + 1),
    query: rows.length - 1 - back,
  };
}

function drawAttention() {
  const view = attentionView();
  drawHeatmap(view);
  drawScores(view);
}

// Rows: the last ROWS characters read; columns: the last COLS characters, up to the newest
// query. Causal: a row has no cells right of its own character. (A row's window always reaches
// back past the columns: a slide keeps three quarters of the context.) The query row is outlined.
function drawHeatmap(view) {
  const ctx = clearCanvas(els.heatmap, HEIGHT);
  if (!view) return;
  const { layer, head, rows, last, plane, text, firstKey, query } = view;
  ctx.textAlign = 'center';
  ctx.fillStyle = '#1d2330';
  for (let k = firstKey; k <= last; k++) {
    ctx.fillText(shown(text[k]), MARGIN + (k - firstKey + 0.5) * CELL, MARGIN / 2);
  }
  rows.forEach((row, i) => {
    const y = MARGIN + i * CELL;
    ctx.fillStyle = '#1d2330';
    ctx.fillText(shown(text[row.pos]), MARGIN / 2, y + CELL / 2);
    for (let k = Math.max(firstKey, row.first); k <= row.pos; k++) {
      ctx.fillStyle = colour(row.weights[plane * row.count + k - row.first]);
      ctx.fillRect(MARGIN + (k - firstKey) * CELL, y, CELL, CELL);
    }
  });
  ctx.strokeStyle = NEGATIVE;
  ctx.lineWidth = 2;
  ctx.strokeRect(MARGIN - 1, MARGIN + query * CELL - 1, COLS * CELL + 2, CELL + 2);
  drawLegend(ctx, MARGIN + ROWS * CELL + 12);
  els.heatmap.setAttribute('aria-label', `Attention of layer ${layer}, head ${head}: each of the last ` +
    `${plural(rows.length, 'character')} read (rows) over the last ${plural(last - firstKey + 1, 'character')} ` +
    '(columns); darker cells got more attention.');
}

// The query row up close, in the heatmap's columns: each raw score q·k/√d as a bar up or down
// from 0, and under it the weight the softmax gives it.
function drawScores(view) {
  const ctx = clearCanvas(els.scores, SCORES_HEIGHT);
  delete els.scores.dataset.query;
  if (!view) return;
  const { layer, head, plane, text, firstKey } = view;
  const row = view.rows[view.query];
  const from = Math.max(firstKey, row.first);
  const at = (k) => plane * row.count + k - row.first;
  const keys = Array.from({ length: row.pos - from + 1 }, (_, i) => from + i);
  const scores = keys.map((k) => row.scores[at(k)]);
  const weights = keys.map((k) => row.weights[at(k)]);
  const reach = Math.max(...scores.map(Math.abs), 1e-6);
  const heaviest = Math.max(...weights, 1e-6);
  const x = (k) => MARGIN + (k - firstKey) * CELL;
  const zero = MARGIN + SCORE_BAND / 2;
  const weightBase = MARGIN + SCORE_BAND + 8 + WEIGHT_BAND;
  ctx.fillStyle = '#5b6475';
  ctx.textAlign = 'left';
  ctx.fillText(`“${shown(text[row.pos])}”, layer ${layer}, head ${head}: scores from ` +
    `${Math.min(...scores).toFixed(2)} to ${Math.max(...scores).toFixed(2)}, weights up to ` +
    `${heaviest.toFixed(2)}`, MARGIN, MARGIN / 2);
  ctx.fillText('q·k', 0, zero);
  ctx.fillText('w', 6, weightBase - WEIGHT_BAND / 2);
  ctx.fillRect(MARGIN, zero, COLS * CELL, 1);
  ctx.fillRect(MARGIN, weightBase, COLS * CELL, 1);
  keys.forEach((k, i) => {
    const h = (scores[i] / reach) * (SCORE_BAND / 2 - 2);
    ctx.fillStyle = h >= 0 ? POSITIVE : NEGATIVE;
    ctx.fillRect(x(k) + 2, h >= 0 ? zero - h : zero + 1, CELL - 4, Math.abs(h));
    const w = (weights[i] / heaviest) * (WEIGHT_BAND - 2);
    ctx.fillStyle = POSITIVE;
    ctx.fillRect(x(k) + 2, weightBase - w, CELL - 4, w);
  });
  ctx.fillStyle = '#1d2330';
  ctx.textAlign = 'center';
  for (const k of keys) ctx.fillText(shown(text[k]), x(k) + CELL / 2, weightBase + 11);
  const best = scores.indexOf(Math.max(...scores));
  els.scores.dataset.query = String(row.pos);
  els.scores.setAttribute('aria-label', `Layer ${layer}, head ${head}, the query “${shown(text[row.pos])}”: ` +
    `its highest raw score among the last ${plural(keys.length, 'character')}, ${scores[best].toFixed(2)}, ` +
    `is on “${shown(text[keys[best]])}”, which gets weight ${weights[best].toFixed(3)}.`);
}

// A click on a heatmap row makes it the query.
function pickQuery(event) {
  const rows = state.run?.rows.length ?? 0;
  const box = els.heatmap.getBoundingClientRect();
  const i = Math.floor(((event.clientY - box.top) * (HEIGHT / box.height) - MARGIN) / CELL);
  if (i < 0 || i >= rows) return;
  els.query.value = String(rows - 1 - i);
  drawAttention();
}

// ---- Start -------------------------------------------------------------------------------

function buildBars() {
  els.bars.replaceChildren(...Array.from({ length: TOP }, () => {
    const row = document.createElement('div');
    row.className = 'gpt-bar';
    row.setAttribute('role', 'listitem');
    row.innerHTML = '<span class="gpt-char"></span><span class="gpt-track" aria-hidden="true">' +
      '<span class="gpt-fill"></span></span><span class="gpt-percent"></span>';
    return row;
  }));
}

function fillPicker(select, count) {
  select.replaceChildren(...Array.from({ length: count }, (_, i) => new Option(String(i + 1))));
}

// The canvases at the screen's pixel density, so the labels stay sharp.
function sizeCanvases() {
  const density = Math.max(1, Math.round(window.devicePixelRatio || 1));
  for (const [canvas, height] of [[els.heatmap, HEIGHT], [els.scores, SCORES_HEIGHT]]) {
    canvas.width = WIDTH * density;
    canvas.height = height * density;
    canvas.style.width = `${WIDTH}px`;
  }
}

async function start() {
  setStatus('loading the model…', 'busy');
  try {
    const m = await model();
    state.loaded = m;
    fillPicker(els.layer, m.layers);
    fillPicker(els.head, m.heads);
    state.drawLensTable = lensTable(els.lens, m.layers, LENS_TOP, 'characters');
    setStatus(`${m.title} · ${m.layers} layers × ${m.heads} heads · ${m.vocab.length} characters · ` +
      `${m.blockSize}-character context`);
    els.generate.disabled = false;
  } catch (e) {
    console.error(e);
    setStatus(`The model failed to load: ${e.message ?? e}`, 'error');
  }
}

function findElements() {
  const ids = {
    lab: 'gpt-lab', prompt: 'gpt-prompt', length: 'gpt-length', temperature: 'gpt-temperature',
    topK: 'gpt-top-k', topP: 'gpt-top-p', seed: 'gpt-seed', generate: 'gpt-generate', stop: 'gpt-stop',
    status: 'gpt-status', speed: 'gpt-speed', notice: 'gpt-notice', error: 'gpt-error',
    output: 'gpt-output', generated: 'gpt-generated', bars: 'gpt-bars', barsCaption: 'gpt-bars-caption',
    layer: 'gpt-layer', head: 'gpt-head', query: 'gpt-query', heatmap: 'gpt-heatmap',
    scores: 'gpt-scores', lens: 'gpt-lens',
  };
  for (const [name, id] of Object.entries(ids)) els[name] = document.getElementById(id);
  els.promptText = els.output.querySelector('.gpt-prompt-text');
}

// Shows the Transformer controls; the model loads the first time the tab is shown.
export async function initGptTab(lab) {
  state.lab = lab;
  findElements();
  els.lab.hidden = false;
  buildBars();
  sizeCanvases();
  els.generate.disabled = true;
  els.stop.disabled = true;
  els.generate.addEventListener('click', () => {
    changed('gpt');
    generate();
  });
  els.stop.addEventListener('click', () => {
    state.stop?.abort();
    els.stop.disabled = true;
  });
  for (const picker of [els.layer, els.head, els.query]) picker.addEventListener('input', drawAttention);
  els.heatmap.addEventListener('click', pickQuery);
  shareFields('gpt', els, ['prompt', 'length', 'temperature', 'topK', 'topP', 'seed']); // a link's settings

  await whenShown('panel-transformer');
  await start();
  // Shown, not told: the model writes as soon as it is there, unless the reader asked for less
  // motion or has started it already.
  const shown = !document.getElementById('tf-gpt').hidden;
  if (state.loaded && shown && !reducedMotion() && state.runs === 0) generate();
}
