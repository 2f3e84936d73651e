// Models that learn in the browser: a GAN or a VAE from fresh weights, trained a few steps per
// call on the images given, and exported as the files loadGan / loadVae read (safetensors and a
// model card), so that trained weights load like the package's own.
import { toImageData } from './images.js';
import { InvalidArgumentError } from './errors.js';
import { Model, numbers } from './models.js';

const PIXELS = 28 * 28;

// One class (0 to 9) per image.
export function trainingLabels(labels, count) {
  if (!(labels?.length === count)) {
    throw new InvalidArgumentError(`genai-lab: labels must give one class (0 to 9) for each of the ${count} images; ` +
      `got ${labels?.length ?? labels}`);
  }
  return Float64Array.from(labels);
}

// Training images as the wasm package takes them: 784 values in [0, 1] per image.
export const trainingImages = (images) => numbers('images', images, PIXELS, 'image (28 x 28)');

// The card of weights trained here, from the card of the package's model of the same kind
// (`base`): its data, licence and architecture, with this run's training and no metrics (they
// were measured for the package's weights, not these).
function trainedCard(base, { name, parameters, trainer, optimizer }) {
  const { metrics, baselines, evaluated_with: evaluated, training_seconds: seconds, trained_on: on, ...kept } = base;
  return `${JSON.stringify({
    ...kept,
    name,
    parameters,
    trained_on: `${trainer.adapter} (in the browser, with genai-lab's trainer)`,
    training_seconds: Math.round(trainer._seconds * 10) / 10,
    data: { ...base.data, train: trainer.images, note: `${trainer.images} training images given to the trainer` },
    // JSON.stringify leaves out the undefined: the package's run's epochs, seed and schedule.
    architecture: { ...base.architecture, optimizer, optimiser: undefined, batch: trainer._settings.batch, steps: trainer._steps,
      epochs: undefined, seed: undefined, quick: undefined },
  }, null, 2)}\n`;
}

class Trainer extends Model {
  _steps = 0;
  _imagesSeen = 0;
  _seconds = 0;

  constructor(lab, raw, kind, { dataset, card, images, adapter, settings }) {
    super(lab, raw, kind);
    this.dataset = dataset;
    this.latent = raw.latent;
    this.images = images;
    this.adapter = adapter;
    this._base = card;
    this._settings = { ...settings, batch: Math.min(settings.batch, images) }; // a default batch fits any set
  }

  // `count` steps of `raw.step`, whose numbers come `per` a step, as { steps, imagesSeen,
  // seconds, history } with `entry(numbers, step)` per step; `perStep` images seen a step.
  async _train(count, per, perStep, entry) {
    const start = performance.now();
    const { losses, steps } = await this._call(async (raw) => ({ losses: await raw.step(count), steps: raw.steps }));
    const seconds = (performance.now() - start) / 1000;
    if (steps < this._steps + count) this._imagesSeen = 0; // a lost device started it over
    this._steps = steps;
    this._seconds += seconds;
    this._imagesSeen += count * perStep;
    const history = Array.from({ length: count }, (_, i) =>
      entry(losses.subarray(i * per, (i + 1) * per), steps - count + i + 1));
    return { steps, imagesSeen: this._imagesSeen, seconds, history };
  }

  // The settings with `changes` applied, sent to the trainer by `send(raw, settings)`.
  async _configure(changes, names, send) {
    const unknown = Object.keys(changes ?? {}).filter((k) => !names.includes(k));
    if (unknown.length) throw new InvalidArgumentError(`genai-lab: unknown setting ${unknown[0]}; the settings are ${names.join(', ')}`);
    const settings = { ...this._settings, ...Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) };
    await this._call((raw) => send(raw, settings));
    this._settings = settings;
    return { ...settings };
  }
}

const GAN_SETTINGS = ['batch', 'lrG', 'lrD', 'dSteps'];

export class GanTrainer extends Trainer {
  constructor(lab, raw, options) {
    super(lab, raw, 'GanTrainer', { ...options, settings: { batch: 32, lrG: 2e-4, lrD: 2e-4, dSteps: 1 } });
  }

  /** Changes the batch size, the learning rates or the discriminator's steps per generator step. */
  configure(changes = {}) {
    return this._configure(changes, GAN_SETTINGS, (raw, s) => raw.configure(s.batch, s.lrG, s.lrD, s.dSteps));
  }

  /** `count` generator steps, each after `dSteps` discriminator steps (see index.d.ts). */
  step(count = 1) {
    const { batch, dSteps } = this._settings;
    return this._train(count, 6, batch * dSteps, (l, step) => ({
      step, dLoss: l[0] + l[2], dReal: l[0], dFake: l[2], gLoss: l[4], dOfReal: l[1], dOfFake: l[3], dOfFakeAfter: l[5],
    }));
  }

  /** The generator's images (in eval mode) from `z`, one per label. */
  async generate({ z, labels }) {
    if (!(labels?.length > 0)) throw new InvalidArgumentError('genai-lab: labels must list one class (0 to 9) per image');
    const noise = numbers('z', z, this.latent, 'image (the latent size)');
    if (noise.length !== labels.length * this.latent) {
      throw new InvalidArgumentError(`genai-lab: z holds ${noise.length / this.latent} latent vectors for ${labels.length} labels`);
    }
    const pixels = await this._call((raw) => raw.generate(noise, labels));
    return { images: toImageData(pixels), pixels };
  }

  /** The trained networks as the four files loadGan reads, by name. */
  async export() {
    const [g, d] = await this._call(async (raw) => [await raw.exportGenerator(), await raw.exportDiscriminator()]);
    const files = {};
    const optimizer = `Adam, lr ${this._settings.lrG} (generator) and ${this._settings.lrD} (discriminator), betas (0.5, 0.999); ` +
      `${this._settings.dSteps} discriminator step(s) per generator step`;
    for (const [net, checkpoint] of [['generator', g], ['discriminator', d]]) {
      const name = `gan_${net}_${this.dataset}`;
      files[`${name}.json`] = trainedCard(this._base, { name, parameters: checkpoint.parameters, trainer: this, optimizer });
      files[`${name}.safetensors`] = checkpoint.bytes;
      checkpoint.free();
    }
    return { files };
  }
}

const VAE_SETTINGS = ['batch', 'lr', 'beta'];

export class VaeTrainer extends Trainer {
  constructor(lab, raw, options) {
    super(lab, raw, 'VaeTrainer', { ...options, settings: { batch: 64, lr: 1e-3, beta: 1 } });
  }

  /** Changes the batch size, the learning rate or the KL weight beta. */
  configure(changes = {}) {
    return this._configure(changes, VAE_SETTINGS, (raw, s) => raw.configure(s.batch, s.lr, s.beta));
  }

  /** `count` steps; each entry's losses are per image (see index.d.ts). */
  step(count = 1) {
    return this._train(count, 2, this._settings.batch, (l, step) => ({
      step, loss: l[0] + l[1], reconstruction: l[0], kl: l[1],
    }));
  }

  async encode(pixels) {
    const images = trainingImages(pixels);
    const both = await this._call((raw) => raw.encode(images));
    const half = both.length / 2;
    return { mean: both.subarray(0, half), logVariance: both.subarray(half) };
  }

  async decode(z) {
    const points = numbers('z', z, this.latent, 'point (the latent size)');
    const pixels = await this._call((raw) => raw.decode(points));
    return { images: toImageData(pixels), pixels };
  }

  /** The trained VAE as the two files loadVae reads, by name. */
  async export() {
    const checkpoint = await this._call((raw) => raw.export());
    const name = `${this.latent === 2 ? 'vae2d' : 'vae'}_${this.dataset}`;
    const optimizer = `Adam, lr ${this._settings.lr}, betas (0.9, 0.999); KL weight beta ${this._settings.beta}`;
    const files = {
      [`${name}.json`]: trainedCard(this._base, { name, parameters: checkpoint.parameters, trainer: this, optimizer }),
      [`${name}.safetensors`]: checkpoint.bytes,
    };
    checkpoint.free();
    return { files };
  }
}

