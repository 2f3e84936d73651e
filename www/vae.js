// The VAE tab: the 16-number VAE decodes random points of its prior into samples; the 2-number
// VAE's whole latent plane is drawn as a map of decoded tiles with test images' encodings on
// top, and a handle decodes any point of it live; an image drawn or picked by the reader is
// encoded by both (its mean shown on the map, its reconstruction beside), interpolated towards
// a training image, and the GAN's samples of a class stand next to the VAE's reconstructions.
// The models are the genai-lab package's; the page's calls into them go through the page's one
// queue (`serial`, in ui.js), so that live controls can coalesce their requests while one is in
// flight. The comparison loads its own GAN, so it never holds the GAN tab's generator. A 2-D VAE
// trained in the tab's "Train it yourself" part can take the map's place: its export and its test
// images' encodings come in a USE_WEIGHTS event on the tab's panel (ui.js).
import { standardNormal } from './genai-lab/worker.js';
import {
  SIDE, PIXELS, serial, coalesced, once, drawPixels, trainingSet, classNames, whenShown, plural,
  drawingPad, USE_WEIGHTS, TRAINED, chooseTrained,
} from './ui.js';
import { fetchJson } from './integrity.js';
import { share, changed } from './route.js';

const SAMPLES = 16; // prior samples in the grid
const TILES = 12; // the map is TILES x TILES decoded images
const EXTENT = 3; // the map covers [-EXTENT, EXTENT] on both axes
const MAP_SCALE = 2; // map canvas pixels per image pixel
const STEPS = 10; // interpolation steps, both ends included
const REPARAM = 4; // decoded draws from the encoded image's cloud
const SHOWN = 8; // images per row in "GAN and VAE side by side"

// Tableau 10: distinguishable on the grey tiles, one per class.
const COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const els = {};
const state = {
  lab: null,
  models: new Map(), // data set key -> Promise of { key, title, vae, latent, vae2d, map, classes }
  trained: null, // the same with the 2-D VAE trained below (not a promise), or null
  gans: new Map(), // data set key -> Promise of { gan, latent }
  model: null, // the model the tab shows
  seed: 1,
  point: { x: 0, y: 0 }, // the handle's latent point
  tiles: null, // the decoded map tiles, a canvas of TILES * SIDE pixels a side
  image: new Float32Array(PIXELS), // the drawing pad
  encoded: null, // { key, mean, image }: the last image encoded, for the interpolation
  encodeToken: 0, // an encoding shows its result only if no newer one or data set came since
  vsToken: 0,
  noiseSeed: 0, // seeds for the reparameterisation draws and the GAN's noise
  controlsOn: false,
};

// ---- Models ------------------------------------------------------------------------------

async function loadModel(key) {
  const [vae, vae2d, map] = await Promise.all([
    state.lab.loadVae({ dataset: key }),
    state.lab.loadVae({ dataset: key, latent: 2 }),
    fetchJson(`models/vae2d_${key}_map.json`),
  ]);
  if (!Array.isArray(map.means) || map.labels?.length !== map.means.length) {
    throw new Error(`vae2d_${key}_map.json does not list a label for each of its means`);
  }
  const { card } = vae;
  return { key, title: card.data?.title ?? key, vae, latent: vae.latent, vae2d, map, classes: classNames(card) };
}

async function loadGan(key) {
  const gan = await state.lab.loadGan({ dataset: key });
  return { gan, latent: gan.latent };
}

// The models a data set menu entry names: the shipped ones, or those with the 2-D VAE trained below.
const model = (choice) => (choice === TRAINED ? state.trained : once(state.models, choice, loadModel));
const ganModel = (key) => once(state.gans, key, loadGan);

// ---- Helpers -----------------------------------------------------------------------------

const image = (pixels, k) => pixels.subarray(k * PIXELS, (k + 1) * PIXELS);
const fixed = (v) => v.toFixed(2).replace('-', '−');
const article = (name) => (/^[aeiou8]/i.test(name) ? 'an' : 'a');

// `count` distinct random entries of `list`.
function choose(list, count) {
  const pool = [...list];
  for (let i = 0; i < Math.min(count, pool.length); i++) {
    const j = i + Math.floor(Math.random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count);
}

// A row of `count` canvases in `parent`, made once and reused.
function canvases(parent, count) {
  while (parent.children.length < count) {
    const canvas = document.createElement('canvas');
    canvas.width = SIDE;
    canvas.height = SIDE;
    parent.append(canvas);
  }
  return [...parent.children];
}

const bump = (el, name) => { el.dataset[name] = String(Number(el.dataset[name] ?? 0) + 1); };

function setStatus(text, kind = 'ready') {
  els.status.textContent = text;
  els.status.dataset.state = kind;
}

function showError(e) {
  console.error(e);
  setStatus(`The VAE failed: ${e.message ?? e}`, 'error');
}

function readyStatus() {
  setStatus(`${state.model.title} · seed ${state.seed}`);
}

// ---- Samples from the prior --------------------------------------------------------------

async function renderSamples() {
  const { vae, key } = state.model;
  const seed = state.seed;
  const { pixels } = await vae.sample({ count: SAMPLES, seed });
  canvases(els.samples, SAMPLES).forEach((canvas, k) => drawPixels(canvas, image(pixels, k)));
  els.samples.dataset.dataset = key;
  els.samples.dataset.seed = String(seed);
  bump(els.samples, 'generation');
}

const requestSamples = coalesced(renderSamples);

// ---- The latent map ----------------------------------------------------------------------

// Latent point <-> fraction of the map's width and height (y grows upwards).
const toFraction = (x, y) => [(x + EXTENT) / (2 * EXTENT), (EXTENT - y) / (2 * EXTENT)];
const clamp = (v) => Math.min(EXTENT, Math.max(-EXTENT, v));

// One decode call for every tile: tile (row r, column c) shows the point at its centre.
async function renderMap() {
  const m = state.model;
  const step = (2 * EXTENT) / TILES;
  const z = new Float32Array(TILES * TILES * 2);
  for (let r = 0; r < TILES; r++) {
    for (let c = 0; c < TILES; c++) {
      z[2 * (r * TILES + c)] = -EXTENT + (c + 0.5) * step;
      z[2 * (r * TILES + c) + 1] = EXTENT - (r + 0.5) * step;
    }
  }
  const { images } = await m.vae2d.decode(z);
  const side = TILES * SIDE;
  const tiles = Object.assign(document.createElement('canvas'), { width: side, height: side });
  const ctx = tiles.getContext('2d');
  images.forEach((tile, t) => ctx.putImageData(tile, (t % TILES) * SIDE, Math.floor(t / TILES) * SIDE));
  state.tiles = { canvas: tiles, key: m.key };
  drawMap();
  els.map.dataset.dataset = m.key;
  bump(els.map, 'generation');
}

const requestMap = coalesced(renderMap);

// The tiles, the axes and (if wanted) the encoded test images as dots.
function drawMap() {
  const { canvas: tiles } = state.tiles;
  const { width, height } = els.map;
  const ctx = els.map.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tiles, 0, 0, width, height);
  ctx.strokeStyle = 'rgba(255, 255, 255, 0.25)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(width / 2, 0);
  ctx.lineTo(width / 2, height);
  ctx.moveTo(0, height / 2);
  ctx.lineTo(width, height / 2);
  ctx.stroke();
  if (!els.dots.checked) return;
  const { means, labels } = state.model.map;
  const radius = 1.6 * MAP_SCALE;
  ctx.lineWidth = 0.8;
  ctx.strokeStyle = 'rgba(0, 0, 0, 0.7)';
  means.forEach(([x, y], i) => {
    if (Math.abs(x) > EXTENT || Math.abs(y) > EXTENT) return;
    const [fx, fy] = toFraction(x, y);
    ctx.beginPath();
    ctx.arc(fx * width, fy * height, radius, 0, 2 * Math.PI);
    ctx.fillStyle = COLOURS[labels[i] % COLOURS.length];
    ctx.fill();
    ctx.stroke();
  });
}

function buildLegend(classes) {
  els.legend.replaceChildren(...classes.map((name, i) => {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'vae-swatch';
    swatch.style.background = COLOURS[i];
    item.append(swatch, name);
    return item;
  }));
}

function place(el, x, y) {
  const [fx, fy] = toFraction(clamp(x), clamp(y));
  el.style.left = `${fx * 100}%`;
  el.style.top = `${fy * 100}%`;
}

// ---- The handle --------------------------------------------------------------------------

async function renderPoint() {
  const { x, y } = state.point;
  const { pixels } = await state.model.vae2d.decode(Float32Array.of(x, y));
  drawPixels(els.pointCanvas, pixels);
  els.pointCanvas.dataset.x = String(x);
  els.pointCanvas.dataset.y = String(y);
  bump(els.pointCanvas, 'version');
}

const requestPoint = coalesced(renderPoint);

function setPoint(x, y) {
  state.point = { x, y };
  place(els.point, x, y);
  els.point.dataset.x = String(x);
  els.point.dataset.y = String(y);
  const text = `(${fixed(x)}, ${fixed(y)})`;
  els.pointCoords.textContent = text;
  els.point.setAttribute('aria-valuetext', text);
  if (state.model) requestPoint().catch(showError);
}

function pointFromEvent(event) {
  const rect = els.mapWrap.getBoundingClientRect();
  const x = -EXTENT + (2 * EXTENT * (event.clientX - rect.left)) / rect.width;
  const y = EXTENT - (2 * EXTENT * (event.clientY - rect.top)) / rect.height;
  return [clamp(x), clamp(y)];
}

function wireMap() {
  let dragging = null;
  els.mapWrap.addEventListener('pointerdown', (event) => {
    if (!state.controlsOn || event.button !== 0) return;
    dragging = event.pointerId;
    els.mapWrap.setPointerCapture(event.pointerId);
    els.point.classList.add('is-dragging');
    setPoint(...pointFromEvent(event));
    els.point.focus({ preventScroll: true });
    event.preventDefault();
  });
  els.mapWrap.addEventListener('pointermove', (event) => {
    if (event.pointerId === dragging) setPoint(...pointFromEvent(event));
  });
  const stop = (event) => {
    if (event.pointerId !== dragging) return;
    dragging = null;
    els.point.classList.remove('is-dragging');
  };
  els.mapWrap.addEventListener('pointerup', stop);
  els.mapWrap.addEventListener('pointercancel', stop);
  els.point.addEventListener('keydown', (event) => {
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    const move = moves[event.key];
    if (!move || !state.controlsOn) return;
    const step = event.shiftKey ? 0.5 : 0.1;
    setPoint(clamp(state.point.x + move[0] * step), clamp(state.point.y + move[1] * step));
    event.preventDefault();
  });
  els.dots.addEventListener('change', () => { if (state.tiles) drawMap(); });
}

// ---- The drawing pad ---------------------------------------------------------------------

function showDrawing() {
  drawPixels(els.draw, state.image);
}

function wireDrawing() {
  drawingPad(els.draw, state.image, (first) => {
    if (first) els.drawCaption.textContent = 'your drawing';
    showDrawing();
  });
  els.clear.addEventListener('click', () => {
    state.image.fill(0);
    els.drawCaption.textContent = 'Draw here, or pick an image.';
    showDrawing();
  });
  els.pick.addEventListener('click', () => pickImage().catch(showError));
}

async function pickImage() {
  const { key, classes } = state.model;
  els.pick.disabled = true;
  try {
    setStatus('loading the training images…', 'busy');
    const set = await trainingSet(state.lab, key);
    const k = Math.floor(Math.random() * set.count);
    state.image.set(image(set.images, k));
    const name = classes[set.labels[k]];
    els.drawCaption.textContent = `training image #${set.trainIndices[k]}, ${article(name)} ${name}`;
    showDrawing();
    readyStatus();
  } finally {
    els.pick.disabled = !state.controlsOn;
  }
}

// ---- Encoding ----------------------------------------------------------------------------

// Clears what was shown about an encoded image (after a new data set, say).
function forgetEncoding() {
  state.encodeToken++;
  state.encoded = null;
  els.marker.hidden = true;
  els.spread.hidden = true;
  delete els.marker.dataset.x;
  delete els.marker.dataset.y;
  els.code.textContent = '';
  for (const canvas of [els.recon, ...els.reparam.children, ...els.interp.querySelectorAll('canvas')]) {
    canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
  }
  els.interpNew.disabled = true;
}

async function encode() {
  const token = ++state.encodeToken;
  const m = state.model;
  const pixels = Float32Array.from(state.image);
  els.encode.disabled = true;
  try {
    // The 2-number VAE: its mean goes on the map (the spread as an ellipse), and the handle.
    const flat = await serial(() => m.vae2d.encode(pixels));
    if (token !== state.encodeToken) return;
    const [x, y] = flat.mean;
    const [sx, sy] = Array.from(flat.logVariance, (lv) => Math.exp(lv / 2));
    els.marker.dataset.x = String(x);
    els.marker.dataset.y = String(y);
    place(els.marker, x, y);
    place(els.spread, x, y);
    els.spread.style.width = `${(sx / EXTENT) * 100}%`; // 2 spreads of the map's 2 * EXTENT
    els.spread.style.height = `${(sy / EXTENT) * 100}%`;
    els.marker.hidden = false;
    els.spread.hidden = false;
    // The ellipse is one spread each way; under the ring's size it cannot be seen.
    const speck = (Math.max(sx, sy) / EXTENT) * els.mapWrap.clientWidth < 28;
    els.code.textContent = `Ringed on the map: mean (${fixed(x)}, ${fixed(y)}), spread ` +
      `(${sx.toFixed(2)}, ${sy.toFixed(2)}); ${speck ? 'the encoder is sure: its cloud is a speck ' +
      'inside the ring' : 'the dashed ellipse is one spread each way'}.`;
    setPoint(x, y);

    // The 16-number VAE: decode(mean), then decode(mean + spread × noise) a few times.
    const seed = ++state.noiseSeed;
    const [full, noise] = await serial(() => Promise.all([
      m.vae.encode(pixels),
      m.vae.standardNormal(REPARAM, seed),
    ]));
    if (token !== state.encodeToken) return;
    const latent = m.latent;
    const { mean } = full;
    const sigma = full.logVariance.map((lv) => Math.exp(lv / 2));
    const z = new Float32Array((1 + REPARAM) * latent);
    z.set(mean);
    for (let k = 0; k < REPARAM; k++) {
      for (let d = 0; d < latent; d++) {
        z[(k + 1) * latent + d] = mean[d] + sigma[d] * noise[k * latent + d];
      }
    }
    const { pixels: decoded } = await serial(() => m.vae.decode(z));
    if (token !== state.encodeToken) return;
    drawPixels(els.recon, image(decoded, 0));
    canvases(els.reparam, REPARAM).forEach((canvas, k) => drawPixels(canvas, image(decoded, k + 1)));
    bump(els.recon, 'version');
    state.encoded = { key: m.key, mean, image: pixels };
    await interpolate(token);
  } finally {
    if (token === state.encodeToken) els.encode.disabled = !state.controlsOn;
  }
}

// From the encoded image to a random training image: STEPS points on the line between their
// means, decoded in one call, with the two images themselves at the ends.
async function interpolate(token = state.encodeToken) {
  const { key, mean: a, image: from } = state.encoded;
  const m = state.model;
  els.interpNew.disabled = true;
  try {
    const set = await trainingSet(state.lab, key);
    if (token !== state.encodeToken) return;
    const k = Math.floor(Math.random() * set.count);
    const to = image(set.images, k);
    const latent = m.latent;
    const b = (await serial(() => m.vae.encode(to))).mean;
    if (token !== state.encodeToken) return;
    const z = new Float32Array(STEPS * latent);
    for (let s = 0; s < STEPS; s++) {
      const t = s / (STEPS - 1);
      for (let d = 0; d < latent; d++) z[s * latent + d] = (1 - t) * a[d] + t * b[d];
    }
    const { pixels } = await serial(() => m.vae.decode(z));
    if (token !== state.encodeToken) return;
    const row = canvases(els.interp, STEPS + 2);
    drawPixels(row[0], from);
    for (let s = 0; s < STEPS; s++) drawPixels(row[s + 1], image(pixels, s));
    drawPixels(row[STEPS + 1], to);
    row[0].title = 'your image';
    row[STEPS + 1].title = `training image #${set.trainIndices[k]}, ${m.classes[set.labels[k]]}`;
    bump(els.interp, 'version');
  } finally {
    if (token === state.encodeToken) els.interpNew.disabled = !state.controlsOn || !state.encoded;
  }
}

// ---- GAN and VAE side by side ------------------------------------------------------------

function setVsStatus(text, kind = 'ready') {
  els.vsStatus.textContent = text;
  els.vsStatus.dataset.state = kind;
}

async function compare() {
  const token = ++state.vsToken;
  const m = state.model;
  const label = Number(els.vsClass.value);
  els.vsNew.disabled = true;
  try {
    setVsStatus('loading the GAN and the training images…', 'busy');
    const [{ gan, latent: ganLatent }, set] = await Promise.all([ganModel(m.key), trainingSet(state.lab, m.key)]);
    if (token !== state.vsToken) return;
    setVsStatus('generating…', 'busy');
    const seed = ++state.noiseSeed;
    const z = standardNormal(SHOWN * ganLatent, seed);
    const { pixels: generated } = await serial(() => gan.generate({ z, labels: new Array(SHOWN).fill(label) }));
    const picks = choose(set.labels.flatMap((l, i) => (l === label ? [i] : [])), SHOWN);
    const originals = new Float32Array(picks.length * PIXELS);
    picks.forEach((k, j) => originals.set(image(set.images, k), j * PIXELS));
    const { mean } = await serial(() => m.vae.encode(originals));
    const { pixels: rebuilt } = await serial(() => m.vae.decode(mean));
    if (token !== state.vsToken) return;
    canvases(els.vsGan, SHOWN).forEach((c, k) => drawPixels(c, image(generated, k)));
    canvases(els.vsVae, picks.length).forEach((c, k) => drawPixels(c, image(rebuilt, k)));
    canvases(els.vsTrain, picks.length).forEach((c, k) => drawPixels(c, image(originals, k)));
    els.vsGan.dataset.label = String(label);
    setVsStatus('');
  } finally {
    if (token === state.vsToken) els.vsNew.disabled = !state.controlsOn;
  }
}

function showVsError(e) {
  console.error(e);
  setVsStatus(`The comparison failed: ${e.message ?? e}`, 'error');
}

function fillClassPicker(classes) {
  const chosen = els.vsClass.value;
  els.vsClass.replaceChildren(...classes.map((name, i) => new Option(name, String(i))));
  els.vsClass.value = chosen || '0';
}

// ---- Controls ----------------------------------------------------------------------------

function enableControls(on) {
  state.controlsOn = on;
  for (const el of [els.dataset, els.seed, els.sample, els.pick, els.encode, els.vsClass, els.vsNew]) {
    el.disabled = !on;
  }
  els.interpNew.disabled = !on || !state.encoded;
}

async function switchDataset(key) {
  enableControls(false);
  forgetEncoding();
  state.vsToken++;
  setStatus('loading the VAEs…', 'busy');
  try {
    const next = await model(key);
    state.model = next;
    fillClassPicker(next.classes);
    buildLegend(next.classes);
    await Promise.all([requestSamples(), requestMap(), requestPoint()]);
    readyStatus();
  } catch (e) {
    if (state.model) els.dataset.value = state.model === state.trained ? TRAINED : state.model.key;
    throw e;
  } finally {
    enableControls(Boolean(state.model));
  }
  compare().catch(showVsError);
}

// A 2-D VAE trained below (that part's export, { dataset, files, steps, map: { means, labels } }
// of its test images) takes the map, under a menu entry of its own; the one it replaces is disposed.
async function useTrained({ dataset, files, steps, map }) {
  const [shipped, vae2d] = await Promise.all([model(dataset), state.lab.loadVae({ dataset, latent: 2, files })]);
  const old = state.trained;
  state.trained = { ...shipped, vae2d, map, title: `${shipped.title}, the map your 2-D VAE draws after ${plural(steps, 'training step')}` };
  chooseTrained(els.dataset, `${shipped.title}, the 2-D VAE trained below (${plural(steps, 'step')})`);
  await switchDataset(TRAINED);
  if (old) serial(() => old.vae2d.dispose()).catch(() => {});
  els.map.scrollIntoView({ block: 'nearest' });
}

function readSeed() {
  const seed = Math.floor(Number(els.seed.value));
  state.seed = Number.isFinite(seed) ? Math.min(2 ** 32 - 1, Math.max(0, seed)) : 0;
  els.seed.value = String(state.seed);
}

// The settings a link carries: data set and seed (a VAE trained here is not in it: the link shows
// its data set's shipped VAEs).
const readSettings = () => ({ dataset: state.model?.key ?? els.dataset.value, seed: state.seed });

// Takes the settings of a link (unknown or missing ones keep their value).
function takeSettings({ dataset, seed }) {
  if ([...els.dataset.options].some((o) => o.value === dataset)) els.dataset.value = dataset;
  if (seed !== undefined) els.seed.value = seed;
  readSeed();
}

async function applySettings(settings) {
  const before = els.dataset.value;
  takeSettings(settings);
  if (!state.model) return; // the first load, still to come, reads them
  if (els.dataset.value !== before) await switchDataset(els.dataset.value).catch(showError);
  else resample();
}

function resample() {
  readyStatus();
  requestSamples().catch(showError);
}

function findElements() {
  const ids = {
    lab: 'vae-lab', dataset: 'vae-dataset', seed: 'vae-seed', sample: 'vae-sample',
    status: 'vae-status', samples: 'vae-samples', map: 'vae-map', mapWrap: 'vae-map-wrap',
    marker: 'vae-marker', spread: 'vae-spread', point: 'vae-point', pointCanvas: 'vae-point-canvas',
    pointCoords: 'vae-point-coords', dots: 'vae-dots', legend: 'vae-legend', draw: 'vae-draw',
    drawCaption: 'vae-draw-caption', clear: 'vae-clear', pick: 'vae-pick', encode: 'vae-encode',
    code: 'vae-code', recon: 'vae-recon', reparam: 'vae-reparam', interp: 'vae-interp',
    interpNew: 'vae-interp-new', vsClass: 'vae-class', vsNew: 'vae-vs-new',
    vsStatus: 'vae-vs-status', vsGan: 'vae-vs-gan-row', vsVae: 'vae-vs-vae-row',
    vsTrain: 'vae-vs-train-row',
  };
  for (const [name, id] of Object.entries(ids)) els[name] = document.getElementById(id);
}

// Shows the VAE controls; the models load the first time the tab is shown.
export async function initVaeTab(lab) {
  state.lab = lab;
  findElements();
  els.lab.hidden = false;
  els.map.width = TILES * SIDE * MAP_SCALE;
  els.map.height = TILES * SIDE * MAP_SCALE;
  canvases(els.samples, SAMPLES);
  canvases(els.reparam, REPARAM);
  canvases(els.interp, STEPS + 2);
  for (const row of [els.vsGan, els.vsVae, els.vsTrain]) canvases(row, SHOWN);
  enableControls(false);
  setPoint(0, 0);
  showDrawing();
  wireMap();
  wireDrawing();
  takeSettings(share('vae', { read: readSettings, apply: applySettings }));
  els.dataset.addEventListener('change', () => {
    switchDataset(els.dataset.value).then(() => changed('vae'), showError);
  });
  els.seed.addEventListener('change', () => {
    readSeed();
    changed('vae');
    resample();
  });
  els.sample.addEventListener('click', () => {
    readSeed();
    state.seed = (state.seed + 1) % 2 ** 32;
    els.seed.value = String(state.seed);
    changed('vae');
    resample();
  });
  els.encode.addEventListener('click', () => encode().catch(showError));
  document.getElementById('panel-vae').addEventListener(USE_WEIGHTS, (e) => useTrained(e.detail).catch(showError));
  els.interpNew.addEventListener('click', () => {
    if (state.encoded) interpolate().catch(showError);
  });
  els.vsClass.addEventListener('change', () => compare().catch(showVsError));
  els.vsNew.addEventListener('click', () => compare().catch(showVsError));

  await whenShown('panel-vae');
  await switchDataset(els.dataset.value).catch(showError);
}
