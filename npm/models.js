// The models as people use them: each wraps one object of the wasm package, runs every call
// through its lab's queue (a wasm object refuses a call while one of its own is pending), and
// returns plain data: typed arrays, ImageData, objects.
import { randomSeed, standardNormal, toImageData } from './images.js';
import { DisposedError, InvalidArgumentError, throwIfAborted } from './errors.js';

const PIXELS = 28 * 28;

// Copies what `raw` (a step or output object of the wasm package) holds, then frees it.
function take(raw, names) {
  const out = Object.fromEntries(names.map((n) => [n, raw[n]]));
  raw.free();
  return out;
}

// Resolves in a task of its own, not a microtask: on the CPU backend a step resolves at once, and
// a stream that only awaited steps would hold the thread until its end, with no click, frame or
// worker message (an abort) let in between.
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

export function numbers(name, values, per, what) {
  if (!(values?.length > 0) || values.length % per !== 0) {
    throw new InvalidArgumentError(`genai-lab: ${name} must hold ${per} numbers per ${what}; got ${values?.length ?? values}`);
  }
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

export class Model {
  #lab;
  #raw;

  constructor(lab, raw, kind, card) {
    this.#lab = lab;
    this.#raw = raw;
    this.kind = kind;
    if (card) this.card = card;
  }

  // Runs `fn(raw)` when the lab's earlier calls are done.
  _call(fn) {
    return this.#lab._queue.run(() => {
      if (!this.#raw) {
        throw new DisposedError(`genai-lab: this ${this.kind} was disposed: load it again to use it`);
      }
      return fn(this.#raw);
    });
  }

  /** Frees the model's GPU buffers (after any call in progress). Further calls throw. */
  dispose() {
    return this.#lab._queue.run(() => this._free());
  }

  // Frees at once; the lab calls it from inside its queue.
  _free() {
    this.#raw?.free();
    this.#raw = null;
    this.#lab._models.delete(this);
  }
}

export class Gan extends Model {
  constructor(lab, raw, dataset, card) {
    super(lab, raw, 'Gan', card);
    this.dataset = dataset;
    this.classes = card.data?.classes ?? [];
    this.latent = raw.latent;
  }

  async generate({ labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], z, seed = randomSeed() } = {}) {
    if (!(labels?.length > 0)) throw new InvalidArgumentError('genai-lab: labels must list one class (0 to 9) per image');
    z = z === undefined ? standardNormal(labels.length * this.latent, seed)
      : numbers('z', z, this.latent, 'image (the latent size)');
    if (z.length !== labels.length * this.latent) {
      throw new InvalidArgumentError(`genai-lab: z holds ${z.length / this.latent} latent vectors for ${labels.length} labels; ` +
        'give one per label');
    }
    const { pixels, scores } = await this._call(async (raw) => take(await raw.generate(z, labels), ['pixels', 'scores']));
    return { images: toImageData(pixels), pixels, scores, z, labels: [...labels] };
  }
}

export class Vae extends Model {
  constructor(lab, raw, dataset, card) {
    super(lab, raw, 'Vae', card);
    this.dataset = dataset;
    this.latent = raw.latent;
  }

  standardNormal(count, seed = randomSeed()) {
    return this._call((raw) => raw.standardNormal(count, seed));
  }

  async encode(pixels) {
    const images = numbers('pixels', pixels, PIXELS, 'image (28 x 28)');
    const both = await this._call((raw) => raw.encode(images));
    const half = both.length / 2;
    return { mean: both.subarray(0, half), logVariance: both.subarray(half) };
  }

  async decode(z) {
    const points = numbers('z', z, this.latent, 'point (the latent size)');
    const pixels = await this._call((raw) => raw.decode(points));
    return { images: toImageData(pixels), pixels };
  }

  async sample({ count = 16, seed = randomSeed() } = {}) {
    const z = await this.standardNormal(count, seed);
    return { ...(await this.decode(z)), z };
  }
}

// Text models share the stream: start, then one step at a time, each checked against the
// signal before and after, until a step says it is the last.
class TextModel extends Model {
  #streaming = false;

  async* _stream(start, fields, last, signal) {
    if (this.#streaming) {
      throw new InvalidArgumentError(`genai-lab: this ${this.kind} is already writing: end the first stream (break out ` +
        'of its loop or abort its signal) before starting another');
    }
    this.#streaming = true;
    try {
      throwIfAborted(signal);
      await this._call(start);
      for (;;) {
        await nextTask();
        throwIfAborted(signal);
        const step = await this._call(async (raw) => take(await raw.step(), fields));
        throwIfAborted(signal);
        yield step;
        if (last(step)) return;
      }
    } finally {
      this.#streaming = false;
    }
  }
}

export class Gpt extends TextModel {
  constructor(lab, raw, card) {
    super(lab, raw, 'Gpt', card);
    this.vocab = raw.vocab;
    this.blockSize = raw.blockSize;
    this.layers = raw.layers;
    this.heads = raw.heads;
  }

  async* generate(prompt, { maxTokens = 200, temperature = 0.8, topK = 0, topP = 1, seed = randomSeed(), attention = false, lens = false, signal } = {}) {
    trueOrFalse('attention', attention);
    trueOrFalse('lens', lens);
    yield* this._stream((raw) => raw.start(prompt, temperature, topK, topP, seed, maxTokens, attention, lens),
      ['text', 'token', 'probabilities', 'window', 'rows', 'attention', 'scores', 'lens', 'changes', 'slid', 'remaining'],
      (s) => s.remaining === 0, signal);
  }
}

export class ImageGpt extends TextModel {
  #patches;

  constructor(lab, raw, dataset, card) {
    super(lab, raw, 'ImageGpt', card);
    this.dataset = dataset;
    this.classes = raw.classes;
    this.codes = raw.codes;
    this.grid = raw.grid;
  }

  /** The vocabulary of an image: what each code looks like, a 4 x 4 patch (see index.d.ts). */
  async codebook() {
    this.#patches ??= await this._call((raw) => raw.patches());
    return { patches: this.#patches, images: toImageData(this.#patches, 4) };
  }

  /** One image of class `label`, a code at a time, row by row (see index.d.ts). */
  async* generate({ label = 0, temperature = 1, topK = 0, topP = 1, seed = randomSeed(), signal } = {}) {
    const steps = this._stream((raw) => raw.start(label, temperature, topK, topP, seed),
      ['code', 'position', 'probabilities', 'pixels', 'remaining'], (s) => s.remaining === 0, signal);
    for await (const step of steps) {
      yield { ...step, row: Math.floor(step.position / this.grid), column: step.position % this.grid,
        image: toImageData(step.pixels)[0], done: step.remaining === 0 };
    }
  }
}

function trueOrFalse(name, value) {
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`genai-lab: ${name} must be true or false; got ${value}`);
}

export class Chat extends TextModel {
  constructor(lab, raw) {
    super(lab, raw, 'Chat');
    this.name = raw.name;
    this.context = raw.context;
    this.layers = raw.layers;
    this.heads = raw.heads;
  }

  async* chat(messages, { maxTokens = 256, temperature = 0.7, topK = 40, topP = 0.9, seed = randomSeed(), lens = false, attention = false, signal } = {}) {
    trueOrFalse('lens', lens);
    trueOrFalse('attention', attention);
    yield* this._stream((raw) => raw.start(JSON.stringify(messages), temperature, topK, topP, seed, maxTokens, lens, attention),
      ['text', 'token', 'done', 'promptTokens', 'topTokens', 'topIds', 'topProbabilities', 'lensTokens', 'lensProbabilities', 'changes',
        'keyTokens', 'attention', 'scores'],
      (s) => s.done, signal);
  }
}

export class ImageIndex extends Model {
  constructor(lab, raw, count, pixels) {
    super(lab, raw, 'ImageIndex');
    this.count = count;
    this.pixels = pixels;
  }

  async nearest(query) {
    const [index, distance] = await this._call((raw) => raw.nearest(numbers('query', query, this.pixels, 'image')));
    return { index, distance };
  }
}

const SAMPLERS = ['ddim', 'ancestral'];

// A sampling run's labels as the wasm package takes them: null (no class) is 10.
function runLabels(labels, classes) {
  if (!(labels?.length > 0)) throw new InvalidArgumentError('genai-lab: labels must list one class (0 to 9, or null for none) per image');
  return labels.map((c) => (c === null ? classes : c));
}

export class Diffusion extends Model {
  #running = false;

  constructor(lab, raw, dataset, card) {
    super(lab, raw, 'Diffusion', card);
    this.dataset = dataset;
    this.classes = card.data?.classes ?? [];
    this.schedule = raw.schedule;
    this.defaults = { steps: 10, guidance: 1.5, sampler: 'ddim', ...card.architecture?.page_defaults };
  }

  // Runs `start`, then one step at a time until the last, each checked against the signal;
  // `watch` says which images each step reads back.
  async* #run(start, { watch = 'all', signal }, count) {
    if (this.#running) {
      throw new InvalidArgumentError('genai-lab: this Diffusion is already sampling: end the first run (break out of ' +
        'its loop or abort its signal) before starting another');
    }
    const [first, n] = watch === 'all' ? [0, count] : watch === 'none' ? [0, 0]
      : Number.isInteger(watch) && watch >= 0 && watch < count ? [watch, 1] : [-1, 0];
    if (first < 0) throw new InvalidArgumentError(`genai-lab: watch must be 'all', 'none' or an image index below ${count}; got ${watch}`);
    this.#running = true;
    try {
      throwIfAborted(signal);
      await this._call(start);
      for (;;) {
        await nextTask();
        throwIfAborted(signal);
        const step = await this._call(async (raw) => {
          const s = take(await raw.step(first, n), ['t', 'index', 'steps', 'noisy', 'predicted']);
          return s.index + 1 === s.steps ? { ...s, final: await raw.images() } : s;
        });
        throwIfAborted(signal);
        const { t, index, steps, noisy, predicted, final } = step;
        const out = { t, step: index, steps, first, noisy: { images: toImageData(noisy), pixels: noisy },
          predicted: { images: toImageData(predicted), pixels: predicted }, done: final !== undefined };
        if (final) Object.assign(out, { images: toImageData(final), pixels: final });
        yield out;
        if (final) return;
      }
    } finally {
      this.#running = false;
    }
  }

  #settings({ labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], steps = this.defaults.steps, guidance = this.defaults.guidance,
    sampler = this.defaults.sampler, seed = randomSeed() }) {
    if (!SAMPLERS.includes(sampler)) throw new InvalidArgumentError(`genai-lab: sampler must be 'ddim' or 'ancestral'; got ${sampler}`);
    return [runLabels(labels, this.classes.length), steps, guidance, sampler, seed];
  }

  /** From pure noise to one image per label, step by step (see index.d.ts). */
  async* sample(options = {}) {
    const [labels, ...rest] = this.#settings(options);
    yield* this.#run((raw) => raw.start(labels, ...rest), options, labels.length);
  }

  /** The reverse process from `pixels` (one image per label) noised to step `t`. */
  async* denoise(pixels, { t, ...options } = {}) {
    const [labels, ...rest] = this.#settings(options);
    const images = numbers('pixels', pixels, PIXELS, 'image (28 x 28)');
    yield* this.#run((raw) => raw.startFrom(images, t, labels, ...rest), options, labels.length);
  }

  /** The forward process: images noised to step `t`, and the signal-to-noise ratio there. */
  async noise(pixels, { t, seed = randomSeed() } = {}) {
    const images = numbers('pixels', pixels, PIXELS, 'image (28 x 28)');
    return this._call((raw) => {
      const noisy = raw.noised(images, t, seed);
      return { images: toImageData(noisy), pixels: noisy, signalToNoise: raw.signalToNoise(t) };
    });
  }
}
