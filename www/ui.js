// What more than one part of the page needs: messages, numbers from inputs, drawing at most once
// per animation frame, the one queue every model call goes through, loading once (with a retry
// after a failure), drawing images, the training images, and knowing when a tab is first shown
// and whether the reader asked for less motion. No tab imports another; they all import this.
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
