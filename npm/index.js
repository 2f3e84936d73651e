// genai-lab: a GAN, VAEs, a diffusion model, a character GPT and a chat model on WebGPU (or, for the small models,
// on the CPU where there is no WebGPU), run by hand-written WGSL kernels compiled to wasm.
import init, { Lab as RawLab } from './pkg/genai_lab.js';
import { FILES } from './files.js';
import { dropOldCaches, fetchFiles } from './fetch.js';
import { Chat, Diffusion, Gan, Gpt, ImageGpt, ImageIndex, Vae } from './models.js';
import { GanTrainer, VaeTrainer, trainingImages, trainingLabels } from './trainers.js';
import { randomSeed } from './images.js';
import { DisposedError, GenaiLabError, InvalidArgumentError, UnsupportedModelError, throwIfAborted, typed } from './errors.js';

export { standardNormal, toImageData } from './images.js';
export { isCached } from './fetch.js';
export * from './errors.js';

const DATASETS = ['fashion', 'mnist'];

let wasm = null;
function loadWasm() {
  wasm ??= init({ module_or_path: new URL('./pkg/genai_lab_bg.wasm', import.meta.url) }).catch((e) => {
    wasm = null; // a failed start may be retried
    throw new GenaiLabError(`genai-lab: the wasm module did not start (${e.message}): serve .wasm files as ` +
      "application/wasm and allow 'wasm-unsafe-eval' in the Content-Security-Policy's script-src");
  });
  return wasm;
}

// Runs calls one after another, in the order they were asked for; what they throw comes out as
// the package's error classes.
class Queue {
  #tail = Promise.resolve();

  run(fn) {
    const result = this.#tail.then(fn).catch((e) => {
      throw typed(e);
    });
    this.#tail = result.catch(() => {});
    return result;
  }
}

function dataset(name) {
  if (!DATASETS.includes(name)) throw new InvalidArgumentError(`genai-lab: dataset must be 'fashion' or 'mnist'; got ${name}`);
  return name;
}

// The files of one model: the package's copies, or the same names under `baseUrl`, checked
// against the package's SHA-256 unless `verify` is false (your own weights).
function modelFiles(names, { baseUrl, verify = true }) {
  return names.map((name) => ({
    name,
    url: baseUrl ? new URL(name, new URL(baseUrl, globalThis.location?.href)) : FILES[name].url,
    size: baseUrl && !verify ? undefined : FILES[name].size,
    sha256: verify ? FILES[name].sha256 : undefined,
  }));
}

const text = (bytes) => new TextDecoder().decode(bytes);

// The files `names` from `files` (name -> bytes, or text for a card), as a trainer's export()
// gives them: weights loaded without a download.
function givenFiles(names, files) {
  return names.map((name) => {
    const file = files[name];
    if (typeof file === 'string') return new TextEncoder().encode(file);
    if (file instanceof Uint8Array) return file;
    throw new InvalidArgumentError(`genai-lab: files must hold ${names.join(', ')}; ${name} is ${file === undefined ? 'missing' : 'not bytes or text'}`);
  });
}

class Lab {
  #raw;
  _queue = new Queue();
  _models = new Set();

  constructor(raw) {
    this.#raw = raw;
    this.kind = 'Lab';
    this.backend = raw.backend;
    this.backendReason = raw.backendReason;
    this.noGpuReason = raw.noGpuReason ?? null;
    this.adapter = raw.adapterName;
    this.fallbackAdapter = raw.isFallbackAdapter;
  }

  // Runs `fn(raw)` after the calls before it, unless the lab was disposed.
  #call(fn) {
    return this._queue.run(() => {
      if (!this.#raw) throw new DisposedError('genai-lab: this lab was disposed: create another with createLab()');
      return fn(this.#raw);
    });
  }

  async #load(names, options, make) {
    const bytes = options.files ? givenFiles(names, options.files) : await fetchFiles(modelFiles(names, options), options);
    return this.#call((raw) => {
      throwIfAborted(options.signal);
      const model = make(raw, bytes);
      this._models.add(model);
      return model;
    });
  }

  loadGan({ dataset: data = 'fashion', ...options } = {}) {
    const d = dataset(data);
    const names = [`gan_generator_${d}.json`, `gan_generator_${d}.safetensors`,
      `gan_discriminator_${d}.json`, `gan_discriminator_${d}.safetensors`];
    return this.#load(names, options, (raw, [gc, g, dc, dw]) =>
      new Gan(this, raw.loadGan(text(gc), g, text(dc), dw), d, JSON.parse(text(gc))));
  }

  loadVae({ dataset: data = 'fashion', latent = 16, ...options } = {}) {
    if (latent !== 16 && latent !== 2) throw new InvalidArgumentError(`genai-lab: latent must be 16 or 2; got ${latent}`);
    const name = `${latent === 2 ? 'vae2d' : 'vae'}_${dataset(data)}`;
    return this.#load([`${name}.json`, `${name}.safetensors`], options,
      (raw, [card, weights]) => new Vae(this, raw.loadVae(text(card), weights), data, JSON.parse(text(card))));
  }

  loadDiffusion({ dataset: data = 'fashion', ...options } = {}) {
    const name = `diffusion_${dataset(data)}`;
    return this.#load([`${name}.json`, `${name}.safetensors`], options,
      (raw, [card, weights]) => new Diffusion(this, raw.loadDiffusion(text(card), weights), data, JSON.parse(text(card))));
  }

  loadImageGpt({ dataset: data = 'mnist', ...options } = {}) {
    const d = dataset(data);
    const names = [`imagegpt_${d}.json`, `imagegpt_${d}.safetensors`, `vqvae_${d}.json`, `vqvae_${d}.safetensors`];
    return this.#load(names, options, (raw, [gc, g, vc, v]) =>
      new ImageGpt(this, raw.loadImageGpt(text(gc), g, text(vc), v), d, { ...JSON.parse(text(gc)), vqvae: JSON.parse(text(vc)) }));
  }

  loadGpt(options = {}) {
    return this.#load(['gpt_shakespeare.json', 'gpt_shakespeare.safetensors'], options,
      (raw, [card, weights]) => new Gpt(this, raw.loadGpt(text(card), weights), JSON.parse(text(card))));
  }

  async loadChat({ url, sha256, onProgress, signal } = {}) {
    if (!url) throw new InvalidArgumentError('genai-lab: loadChat needs the url of a GGUF file (such as SmolLM2-135M-Instruct.Q4_1.gguf)');
    if (this.noGpuReason !== null) {
      throw new UnsupportedModelError(`genai-lab: the chat model needs WebGPU, and there is none here: ${this.noGpuReason}`);
    }
    const file = { name: String(url).split('/').pop(), url: new URL(url, globalThis.location?.href), sha256 };
    const [bytes] = await fetchFiles([file], { onProgress, signal });
    return this.#call((raw) => {
      throwIfAborted(signal);
      const chat = new Chat(this, raw.loadChat(bytes));
      this._models.add(chat);
      return chat;
    });
  }

  // A trainer made by `make(raw, images)` on `images` of `data`, with `settings` applied; the
  // card of the package's model of that kind (`cardName`) gives its exports' data and licence.
  async #trainer(data, cardName, images, { signal, ...settings }, make) {
    const pixels = trainingImages(images);
    const [card] = await fetchFiles(modelFiles([cardName], {}), { signal });
    const trainer = await this.#call((raw) => {
      throwIfAborted(signal);
      const made = make(raw, pixels, { dataset: data, card: JSON.parse(text(card)), images: pixels.length / (28 * 28),
        adapter: this.backend === 'cpu' ? 'the CPU (no WebGPU)' : this.adapter || 'a WebGPU adapter' });
      this._models.add(made);
      return made;
    });
    try {
      await trainer.configure(settings);
    } catch (e) {
      await trainer.dispose();
      throw e;
    }
    return trainer;
  }

  /** A conditional GAN that learns from fresh weights on `images` of classes `labels` (see index.d.ts). */
  trainGan({ dataset: data = 'fashion', images, labels, seed = randomSeed(), ...settings } = {}) {
    const d = dataset(data);
    return this.#trainer(d, `gan_generator_${d}.json`, images, settings, (raw, pixels, info) =>
      new GanTrainer(this, raw.trainGan(pixels, trainingLabels(labels, info.images), seed), info));
  }

  /** A VAE (2 latent numbers, or 16) that learns from fresh weights on `images` (see index.d.ts). */
  trainVae({ dataset: data = 'fashion', images, latent = 2, seed = randomSeed(), ...settings } = {}) {
    const d = dataset(data);
    if (latent !== 16 && latent !== 2) throw new InvalidArgumentError(`genai-lab: latent must be 16 or 2; got ${latent}`);
    return this.#trainer(d, `${latent === 2 ? 'vae2d' : 'vae'}_${d}.json`, images, settings, (raw, pixels, info) =>
      new VaeTrainer(this, raw.trainVae(pixels, latent, seed), info));
  }

  /** Stores images (`pixels` numbers each, one after another) on the GPU to search. */
  createImageIndex(images, pixels = 28 * 28) {
    return this.#call((raw) => {
      const index = new ImageIndex(this, raw.imageIndex(images, pixels), images.length / pixels, pixels);
      this._models.add(index);
      return index;
    });
  }

  memory() {
    return this.#call((raw) => ({ liveBuffers: raw.liveBuffers, liveBytes: raw.liveBytes }));
  }

  /** Counts of the device's work so far: subtract two to see what a call cost. */
  stats() {
    return this.#call((raw) => raw.stats());
  }

  checkKernels() {
    return this.#call((raw) => raw.checkKernels());
  }

  /**
   * Destroys the GPU device at once, as a driver reset would, to try an app's recovery (as
   * WEBGL_lose_context does for WebGL): a call in progress rejects with DeviceLostError, and the
   * next call on a model loads it onto a new device. Nothing happens on the CPU backend.
   */
  async loseDevice() {
    this.#raw?.destroy();
  }

  /** Frees every model, then the device. Idempotent; any later call throws. */
  dispose() {
    return this._queue.run(() => {
      for (const model of [...this._models]) model._free();
      this.#raw?.destroy();
      this.#raw?.free();
      this.#raw = null;
    });
  }
}

/**
 * Starts the wasm module and a WebGPU device, or the CPU reference device that runs the GAN, the
 * VAEs, the diffusion model and the GPT: `backend` says which. `backend: 'auto'` (the default)
 * takes WebGPU unless there is none or its adapter is a software one (there the CPU is faster
 * for those models, and the chat model alone runs on WebGPU); 'webgpu' or 'cpu' forces one.
 */
export async function createLab(options = {}) {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('genai-lab: createLab takes an options object, such as { backend: \'cpu\' }');
  await loadWasm();
  await dropOldCaches();
  return new Lab(await RawLab.create(options.backend).catch((e) => { // the wasm checks the backend's name
    throw typed(e);
  }));
}
