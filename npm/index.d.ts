/**
 * genai-lab: a conditional GAN, VAEs, a diffusion model, a character GPT, an image GPT and a chat model
 * (SmolLM2-135M-Instruct) running in the browser on hand-written WebGPU kernels compiled to wasm.
 * Without WebGPU the image models and the GPT run on the CPU (more slowly); the chat model needs
 * WebGPU.
 *
 * Every method that computes returns a promise and runs after the lab's earlier calls. Every
 * failure is a `GenaiLabError` of one of the classes below, whose message says what to do; tell
 * them apart with `instanceof` or by `name` / `code` (which also hold through the worker). An
 * aborted call rejects with `AbortError`, the signal's reason as its `cause`.
 */

/**
 * The base class of every error the package throws, thrown as itself (code `'genai-lab'`) for
 * what the classes below do not cover: the wasm module or the worker did not start, the adapter
 * refused a device.
 */
export class GenaiLabError extends Error {
  /** The class's name: `'InvalidArgumentError'`, ... (kept when a bundler renames classes). */
  readonly name: string;
  /** A stable code per class: `'invalid-argument'`, `'integrity'`, ... */
  readonly code: string;
  constructor(message: string, options?: ErrorOptions);
}
/** An argument or setting out of range or of the wrong type, or a call out of order. Code `'invalid-argument'`. */
export class InvalidArgumentError extends GenaiLabError {}
/** A file (downloaded or cached) whose SHA-256 is not the package's. Code `'integrity'`. */
export class IntegrityError extends GenaiLabError {
  readonly url: string;
}
/** A file that could not be downloaded. Code `'network'`. */
export class NetworkError extends GenaiLabError {
  readonly url: string;
  /** The HTTP status when the server answered (404, ...); undefined when the request failed. */
  readonly status?: number;
}
/** A file that is not a model the package can run, or a model this device cannot run (the chat model without WebGPU). Code `'unsupported-model'`. */
export class UnsupportedModelError extends GenaiLabError {}
/** The GPU device was lost during the call (see `Lab.loseDevice`); the next call loads the model onto a new one. Code `'device-lost'`. */
export class DeviceLostError extends GenaiLabError {}
/** The work needs more memory than the device gives: ask for fewer images at once. Code `'out-of-memory'`. */
export class OutOfMemoryError extends GenaiLabError {}
/**
 * A training run whose loss became NaN or infinite (its weights with it): the message says at
 * which step and what to try. The trainer refuses further steps; make a new one. Code
 * `'training-diverged'`.
 */
export class TrainingDivergedError extends GenaiLabError {}
/** A call on a lab or model after its `dispose()`. Code `'disposed'`. */
export class DisposedError extends GenaiLabError {}
/** A call whose `signal` was aborted; `cause` is the signal's reason. Code `'abort'`. */
export class AbortError extends GenaiLabError {}

/** The two image data sets the GAN and the VAEs were trained on. */
export type Dataset = 'fashion' | 'mnist';

/** Download progress of one load, in bytes over all of its files. */
export interface Progress {
  /** The file whose bytes just arrived. */
  file: string;
  loaded: number;
  /** 0 while the size of some file is not known yet. */
  total: number;
  /** The bytes came from the browser's cache (or were inlined by a bundler), not the network. */
  cached: boolean;
}

export interface LoadOptions {
  /** Called as bytes arrive (from the network or the cache). */
  onProgress?: (progress: Progress) => void;
  /** Aborting it cancels the download; the load rejects. */
  signal?: AbortSignal;
  /**
   * A folder (URL, relative to the page) holding the model's files under the names the package
   * uses (`gan_generator_fashion.json`, ...), to load them from there instead of the package's
   * copies: a CDN, or your own weights.
   */
  baseUrl?: string | URL;
  /**
   * Check each file against the SHA-256 of the package's copy (default true). Set false to load
   * your own weights (retrained, same architecture) from `baseUrl`.
   */
  verify?: boolean;
  /**
   * The model's files themselves, by name (`gan_generator_fashion.json`: text or bytes,
   * `gan_generator_fashion.safetensors`: bytes), as a trainer's `export()` gives them: loaded
   * without a download.
   */
  files?: Record<string, string | Uint8Array>;
}

/**
 * Counts of the work a device did since it was made (a new device after a loss starts at 0):
 * subtract two readings to see what one call cost. They are the same on every adapter.
 */
export interface GpuStats {
  /** Kernel dispatches, and the compute passes they opened. */
  dispatches: number;
  computePasses: number;
  /** Command buffers submitted. */
  submissions: number;
  /** Buffers made (CPU arrays on the `cpu` backend), and bind groups. */
  buffersCreated: number;
  bindGroupsCreated: number;
  /** Bytes written from the CPU into the GPU. */
  bytesUploaded: number;
  /** Reads that waited for the GPU, and their bytes. */
  readBacks: number;
  bytesReadBack: number;
}

export interface MemoryUse {
  /** GPU buffers (CPU arrays on the `cpu` backend) that the lab's models hold now. */
  liveBuffers: number;
  liveBytes: number;
}

/** A model's card: what it is, what it was trained on and how well it does (JSON from training/). */
export interface ModelCard {
  name: string;
  data?: {
    /** The training data, for people: "Fashion-MNIST", "Shakespeare, 38 plays". */
    title?: string;
    licence?: string;
    /** Class names, indexed by label (the image models). */
    classes?: string[];
    /** Training examples: images, or characters for the GPT. */
    train?: number;
    [key: string]: unknown;
  };
  parameters?: number;
  metrics?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface Disposable {
  /** Frees the GPU buffers it holds, after any call in progress. Later calls on it throw. */
  dispose(): Promise<void>;
}

export interface Lab {
  readonly kind: 'Lab';
  /**
   * Where the GAN, the VAEs, the diffusion model, the GPT and the trainers run: `'webgpu'`, or
   * `'cpu'` (the reference device) where the browser has no WebGPU, where its adapter is a
   * software one (with `backend: 'auto'`), or when asked for.
   */
  readonly backend: 'webgpu' | 'cpu';
  /** Why they run there, in a sentence. */
  readonly backendReason: string;
  /** Why there is no WebGPU device, and so no chat model; null when there is one. */
  readonly noGpuReason: string | null;
  /** The WebGPU adapter's name as the browser reports it (may be empty). */
  readonly adapter: string;
  /** The WebGPU adapter is a software one (such as SwiftShader): correct, but slow. */
  readonly fallbackAdapter: boolean;

  loadGan(options?: LoadOptions & { dataset?: Dataset }): Promise<Gan>;
  /** `latent` 16 (default) or 2: the 2-D VAE, whose latent space can be drawn as a map. */
  loadVae(options?: LoadOptions & { dataset?: Dataset; latent?: 16 | 2 }): Promise<Vae>;
  /** The class-conditional diffusion model (a U-Net that removes noise step by step). */
  loadDiffusion(options?: LoadOptions & { dataset?: Dataset }): Promise<Diffusion>;
  /** The character GPT trained on Shakespeare. */
  loadGpt(options?: LoadOptions): Promise<Gpt>;
  /**
   * The image GPT: a Transformer that writes an image of a class as 7 x 7 codes, one at a time,
   * and the VQ-VAE that turns codes into pixels (default dataset `'mnist'`).
   */
  loadImageGpt(options?: LoadOptions & { dataset?: Dataset }): Promise<ImageGpt>;
  /**
   * A Llama-architecture chat model from a GGUF file (SmolLM2-135M-Instruct, Q4_1: 98 MB), which
   * the package does not ship: give its URL. Needs WebGPU.
   */
  loadChat(options: {
    url: string | URL;
    /** Its SHA-256 (hex), checked when given; a cached copy that differs is downloaded again. */
    sha256?: string;
    onProgress?: (progress: Progress) => void;
    signal?: AbortSignal;
  }): Promise<Chat>;
  /**
   * A conditional GAN (the package's architecture) that learns from fresh weights (DCGAN's
   * initialisation, from `seed`) on `images` of classes `labels`, with train_gan.py's Adam
   * settings unless given. `dataset` names the exported files and lends its card's data and
   * licence to theirs.
   */
  trainGan(options: GanTrainingOptions & { dataset?: Dataset; seed?: number; signal?: AbortSignal }): Promise<GanTrainer>;
  /**
   * A VAE (the package's architecture; `latent` 2, the default, or 16) that learns from fresh
   * weights (PyTorch's initialisation, from `seed`) on `images`.
   */
  trainVae(options: VaeTrainingOptions & { dataset?: Dataset; latent?: 2 | 16; seed?: number; signal?: AbortSignal }): Promise<VaeTrainer>;
  /**
   * Stores images (`pixels` numbers each, one after another) on the GPU, to find the one nearest
   * to a query ("is this sample a copy of a training image?").
   */
  createImageIndex(images: Float32Array | number[], pixels?: number): Promise<ImageIndex>;
  /** What the lab's models hold: after `dispose()` of a model, this falls back by its buffers. */
  memory(): Promise<MemoryUse>;
  /** Counts of the device's work so far (dispatches, buffers made, bytes read back, ...). */
  stats(): Promise<GpuStats>;
  /** Multiplies two small matrices on the device and on the CPU: the largest difference. */
  checkKernels(): Promise<number>;
  /**
   * Destroys the GPU device at once, as a driver reset would, to try your recovery (as
   * `WEBGL_lose_context` does for WebGL): a call in progress rejects with `DeviceLostError`, and
   * the next call on a model loads it onto a new device (the chat model must be loaded again).
   * Does nothing on the `cpu` backend.
   */
  loseDevice(): Promise<void>;
  /** Frees every model, then the device (and, for a worker lab, ends the worker). */
  dispose(): Promise<void>;
}

export interface GanOutput {
  /** One 28 x 28 grey image per label, for `putImageData`. */
  images: ImageData[];
  /** The same images: 784 values in [0, 1] each (0 the background), one after another. */
  pixels: Float32Array;
  /** The discriminator's probability that each image is real. */
  scores: Float32Array;
  /** The latent vectors used: `latent` numbers per image. */
  z: Float32Array;
  labels: number[];
}

export interface Gan extends Disposable {
  readonly kind: 'Gan';
  readonly dataset: Dataset;
  /** The generator's card. */
  readonly card: ModelCard;
  /** The class names, indexed by label. */
  readonly classes: string[];
  /** Numbers per latent vector (64). */
  readonly latent: number;
  /**
   * One image per label (a class, 0 to 9; default one of each), from `z` (`latent` numbers per
   * image, standard normal) or, without it, from noise drawn from `seed` (see `standardNormal`).
   */
  generate(options?: { labels?: number[]; z?: Float32Array | number[]; seed?: number }): Promise<GanOutput>;
}

export interface VaeImages {
  images: ImageData[];
  /** 784 pixel probabilities per image, one after another. */
  pixels: Float32Array;
}

export interface Vae extends Disposable {
  readonly kind: 'Vae';
  readonly dataset: Dataset;
  readonly card: ModelCard;
  /** Numbers per latent point (16 or 2). */
  readonly latent: number;
  /** Points from the prior, decoded: `z` holds the `count * latent` numbers drawn from `seed`. */
  sample(options?: { count?: number; seed?: number }): Promise<VaeImages & { z: Float32Array }>;
  /** Images (784 values in [0, 1] each) to the mean and log-variance of q(z | x), `latent` numbers per image. */
  encode(pixels: Float32Array | number[]): Promise<{ mean: Float32Array; logVariance: Float32Array }>;
  /** Latent points (`latent` numbers each) to images. */
  decode(z: Float32Array | number[]): Promise<VaeImages>;
  /** `count * latent` standard normal numbers from `seed`, drawn by the model's own generator. */
  standardNormal(count: number, seed?: number): Promise<Float32Array>;
}

export interface GanTrainingSettings {
  /** Real images per discriminator step, 1 to 512 and at most the images given (default 32, or all of fewer). */
  batch?: number;
  /** The generator's and the discriminator's learning rates (default 2e-4 each; Adam with betas (0.5, 0.999)). */
  lrG?: number;
  lrD?: number;
  /** Discriminator steps per generator step, 1 to 10 (default 1). */
  dSteps?: number;
}

export interface GanTrainingOptions extends GanTrainingSettings {
  /** 784 values in [0, 1] per image (0 the background), one image after another. */
  images: Float32Array | number[];
  /** One class (0 to 9) per image. */
  labels: ArrayLike<number>;
}

/** One generator step's numbers (the discriminator's from its last step before it). */
export interface GanTrainingStep {
  /** Generator steps taken, counting this one. */
  step: number;
  /** The discriminator's loss: `dReal + dFake`, binary cross-entropy on the real and the generated batch. */
  dLoss: number;
  dReal: number;
  dFake: number;
  /** The generator's non-saturating loss, -log D(G(z)). */
  gLoss: number;
  /** Mean D(x) on the real batch and D(G(z)) on the generated one before the discriminator's update, and after it. */
  dOfReal: number;
  dOfFake: number;
  dOfFakeAfter: number;
}

export interface TrainingProgress<Step> {
  /** Steps taken so far (starting over from 0 if the device was lost). */
  steps: number;
  /** Training images drawn so far (with replacement). */
  imagesSeen: number;
  /** How long this call took. */
  seconds: number;
  /** This call's steps, in order. */
  history: Step[];
}

export interface GanTrainer extends Disposable {
  readonly kind: 'GanTrainer';
  readonly dataset: Dataset;
  /** Numbers per latent vector (64). */
  readonly latent: number;
  /** How many training images it draws from. */
  readonly images: number;
  /** Changes settings for the steps to come; resolves to all of them. */
  configure(settings: GanTrainingSettings): Promise<Required<GanTrainingSettings>>;
  /**
   * `count` generator steps (1 to 1000, default 1), each after `dSteps` discriminator steps on
   * random batches; reads back only their losses. Rejects with `TrainingDivergedError` when a
   * loss becomes NaN or infinite.
   */
  step(count?: number): Promise<TrainingProgress<GanTrainingStep>>;
  /** The generator's images in eval mode (as the exported weights draw them): one per label, from `z`. */
  generate(options: { z: Float32Array | number[]; labels: number[] }): Promise<Images>;
  /**
   * The four files `loadGan` reads (`gan_generator_<dataset>.json` and `.safetensors`, the same
   * for the discriminator), by name: give them as `files`, or serve them and load with
   * `baseUrl` and `verify: false`.
   */
  export(): Promise<{ files: Record<string, string | Uint8Array> }>;
}

export interface VaeTrainingSettings {
  /** Images per step, 1 to 512 and at most the images given (default 64, or all of fewer). */
  batch?: number;
  /** Adam's learning rate (default 1e-3; betas (0.9, 0.999)). */
  lr?: number;
  /** The KL term's weight, 0 to 100 (default 1): larger trades sharp images for a tidier latent space. */
  beta?: number;
}

export interface VaeTrainingOptions extends VaeTrainingSettings {
  /** 784 values in [0, 1] per image, one image after another. */
  images: Float32Array | number[];
}

/** One step's loss per image. */
export interface VaeTrainingStep {
  step: number;
  /** `reconstruction + kl`. */
  loss: number;
  /** Binary cross-entropy summed over the 784 pixels. */
  reconstruction: number;
  /** The KL divergence from the prior, times beta. */
  kl: number;
}

export interface VaeTrainer extends Disposable {
  readonly kind: 'VaeTrainer';
  readonly dataset: Dataset;
  readonly latent: number;
  readonly images: number;
  configure(settings: VaeTrainingSettings): Promise<Required<VaeTrainingSettings>>;
  /** `count` steps (1 to 1000, default 1) on random batches. Rejects with `TrainingDivergedError` on a NaN or infinite loss. */
  step(count?: number): Promise<TrainingProgress<VaeTrainingStep>>;
  encode(pixels: Float32Array | number[]): Promise<{ mean: Float32Array; logVariance: Float32Array }>;
  decode(z: Float32Array | number[]): Promise<VaeImages>;
  /** The two files `loadVae` reads (`vae2d_<dataset>.json` and `.safetensors`, or `vae_` for 16 numbers). */
  export(): Promise<{ files: Record<string, string | Uint8Array> }>;
}

export interface Images {
  images: ImageData[];
  /** 784 values per image, one after another, on the [0, 1] pixel scale. */
  pixels: Float32Array;
}

export interface SampleOptions {
  /** One class (0 to 9, or null: no class) per image; default one of each class. */
  labels?: (number | null)[];
  /** Denoising steps, 1 to `schedule` (default the card's `page_defaults`: 20). */
  steps?: number;
  /**
   * Classifier-free guidance scale: 0 ignores the class, 1 follows the model's class-conditional
   * prediction alone (one pass per step), above 1 pushes further towards the class (two passes
   * per step, run as one batch). Default the card's `page_defaults`: 1.
   */
  guidance?: number;
  /**
   * `'ddim'`: deterministic steps; `'ancestral'`: fresh noise every step (drawn from the seed: the
   * same seed still gives the same images). Default the card's `page_defaults`: `'ancestral'`.
   */
  sampler?: 'ddim' | 'ancestral';
  /** Seeds the starting noise (and the ancestral sampler's). Default: random. */
  seed?: number;
  /** Which images each step reads back: `'all'` (default), `'none'`, or one image's index. */
  watch?: 'all' | 'none' | number;
  /** Aborting it ends the run: the next step rejects with `AbortError`. */
  signal?: AbortSignal;
}

/** One denoising step. */
export interface DiffusionStep {
  /** The noise level the step started from (`schedule - 1`: pure noise; 0: clean). */
  t: number;
  /** Which step of the run this is, from 0, of `steps`. */
  step: number;
  steps: number;
  /** The index of the first image `noisy` and `predicted` hold (see `watch`). */
  first: number;
  /** The images the step started from, x_t (values stray outside [0, 1]; the ImageData clamps). */
  noisy: Images;
  /** The model's guess of the clean images at this step. */
  predicted: Images;
  /** The last step: `images` and `pixels` hold the samples, every image of the run. */
  done: boolean;
  images?: ImageData[];
  pixels?: Float32Array;
}

export interface Diffusion extends Disposable {
  readonly kind: 'Diffusion';
  readonly dataset: Dataset;
  readonly card: ModelCard;
  /** The class names, indexed by label. */
  readonly classes: string[];
  /** Steps in the training schedule (1000): noise levels run from 0 to `schedule - 1`. */
  readonly schedule: number;
  /** The sampler settings the card was scored at. */
  readonly defaults: { steps: number; guidance: number; sampler: 'ddim' | 'ancestral' };
  /** From pure noise to one image per label, one step at a time. One run at a time per model. */
  sample(options?: SampleOptions): AsyncIterableIterator<DiffusionStep>;
  /**
   * The reverse process from `pixels` (one 28 x 28 image in [0, 1] per label) noised to step `t`:
   * a small `t` gives about the same images back, a large one new images of the class. `steps`
   * is at most `t + 1`.
   */
  denoise(pixels: Float32Array | number[], options: SampleOptions & { t: number }): AsyncIterableIterator<DiffusionStep>;
  /** The forward process: images noised to step `t` (noise from `seed`), and the signal-to-noise ratio abar / (1 - abar) there. */
  noise(pixels: Float32Array | number[], options: { t: number; seed?: number }): Promise<Images & { signalToNoise: number }>;
}

export interface TextOptions {
  /** Tokens to write at most. */
  maxTokens?: number;
  /** 0 is greedy. */
  temperature?: number;
  /** Keep the k likeliest tokens; 0 keeps all. */
  topK?: number;
  /** Keep the likeliest tokens whose probabilities add up to p. */
  topP?: number;
  /** The same seed, the same text. Default: random. */
  seed?: number;
  /** Aborting it ends the stream: the next step rejects with `AbortError`. */
  signal?: AbortSignal;
}

/** One character the GPT wrote, with what the model saw when it chose it. */
export interface GptOptions extends TextOptions {
  /**
   * Read each step's attention scores back from the GPU (for a heatmap). Default false: they
   * stay there, and `attention` and `scores` are empty.
   */
  attention?: boolean;
  /**
   * Read each step's logit lens back: the prediction as it stands after every layer. Default
   * false: `lens` and `changes` are empty.
   */
  lens?: boolean;
}

export interface GptStep {
  text: string;
  /** Its token id: its index in `vocab`. */
  token: number;
  /** Next-character probabilities (temperature 1), indexed by token id. */
  probabilities: Float32Array;
  /** How many characters the model read: the last `window` of the text before this one. */
  window: number;
  /**
   * How many query rows `attention` holds: the last `rows` characters of the window; 0 unless
   * `generate` was given `attention: true`.
   */
  rows: number;
  /**
   * Attention weights `[layers, heads, rows, blockSize]`: row r is the query at window position
   * `window - rows + r`, its entry j the weight on window character j (0 after the query).
   */
  attention: Float32Array;
  /**
   * The raw scores q·k / √(head size) that `attention` is the softmax of, row by row, in the same
   * layout (0 after the query).
   */
  scores: Float32Array;
  /**
   * With `lens: true`, the logit lens: next-character probabilities `[2 layers + 1, vocab]` read
   * out of the residual stream at the last position (the final norm and head applied there),
   * after the embedding, then after each block's attention and after its MLP. The last row is
   * `probabilities`.
   */
  lens: Float32Array;
  /**
   * With `lens: true`, how much each block's attention and MLP changed the residual stream
   * there, `[2 layers]`: |change| / |stream before it|.
   */
  changes: Float32Array;
  /** The text outgrew the context: the window was cut and read again before this step. */
  slid: boolean;
  /** Characters still to write. */
  remaining: number;
}

export interface Gpt extends Disposable {
  readonly kind: 'Gpt';
  readonly card: ModelCard;
  /** The characters it knows, indexed by token id. */
  readonly vocab: string[];
  /** How many characters it reads at most. */
  readonly blockSize: number;
  readonly layers: number;
  readonly heads: number;
  /**
   * Writes after `prompt`, one character a step (defaults: 200 characters, temperature 0.8,
   * top-p 1). One stream at a time per model; leaving the loop ends it.
   */
  generate(prompt: string, options?: GptOptions): AsyncIterableIterator<GptStep>;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One token of an answer. */
export interface ChatStep {
  /** The text it adds: empty while a character's bytes are incomplete, and for the end of turn. */
  text: string;
  /** The token's id in the model's vocabulary. */
  token: number;
  /** The answer has ended (the model closed its turn, or `maxTokens` ran out). */
  done: boolean;
  /** Tokens this step read: the conversation on the first step, then 1. */
  promptTokens: number;
  /** The five likeliest next tokens at this step, most likely first. */
  topTokens: string[];
  /** Their token ids. */
  topIds: Uint32Array;
  /** Their probabilities (temperature 1). */
  topProbabilities: Float32Array;
  /**
   * With `lens: true`, the logit lens: the five likeliest next tokens read out of the residual
   * stream after the embedding, then after each block's attention and after its MLP,
   * `[2 layers + 1, 5]` row by row, most likely first; the last row is `topTokens`.
   */
  lensTokens: string[];
  /** Their probabilities (temperature 1). */
  lensProbabilities: Float32Array;
  /** With `lens: true`, how much each block's attention and MLP changed the residual stream. */
  changes: Float32Array;
  /**
   * With `attention: true`, the tokens this step read, oldest first, as text: what the new
   * token's attention is over. Empty without.
   */
  keyTokens: string[];
  /**
   * With `attention: true`, the attention weights of the token this step read last,
   * `[layers, heads, keyTokens.length]`: entry j is its weight on `keyTokens[j]`.
   */
  attention: Float32Array;
  /** The raw scores q·k / √(head size) that `attention` is the softmax of, in the same layout. */
  scores: Float32Array;
}

export interface ChatOptions extends TextOptions {
  /**
   * Read the prediction out after every layer (61 rows for SmolLM2's 30 blocks). Default false.
   * It costs a head over 61 rows a step, about 61 times the head's usual work.
   */
  lens?: boolean;
  /**
   * Read back what the newest token attends to, in every layer and head. Default false. It
   * costs no extra GPU work but reads back layers x heads x context scores a step (2.2 MB for
   * SmolLM2's 30 x 9 over 2048 positions).
   */
  attention?: boolean;
}

export interface Chat extends Disposable {
  readonly kind: 'Chat';
  readonly name: string;
  /** Tokens of conversation it reads at most. */
  readonly context: number;
  readonly layers: number;
  /** Query heads per layer. */
  readonly heads: number;
  /**
   * Answers the conversation (ending with the user's message), one token a step (defaults: 256
   * tokens, temperature 0.7, top-k 40, top-p 0.9). The earlier turns of the last conversation are
   * not read again. One stream at a time per model.
   */
  chat(messages: ChatMessage[], options?: ChatOptions): AsyncIterableIterator<ChatStep>;
}

export interface ImageGptOptions {
  /** The class to draw, by index into `classes`. Default 0. */
  label?: number;
  /** Sampling temperature; 0 always takes the likeliest code. Default 1 (the card's figures). */
  temperature?: number;
  /** Keep only the k likeliest codes; 0 (default) keeps all. */
  topK?: number;
  /** Keep the fewest likeliest codes whose probabilities sum to at least this. Default 1. */
  topP?: number;
  /** The same seed draws the same image. Default: random. */
  seed?: number;
  /** Aborting it ends the image: the next step rejects with `AbortError`. */
  signal?: AbortSignal;
}

/** One code of an image, and the picture so far. */
export interface ImageGptStep {
  /** The code written: an index into the codebook. */
  code: number;
  /** Where it goes, `row * grid + column`, from 0 (top left) to `grid * grid - 1`. */
  position: number;
  row: number;
  column: number;
  /** The model's probabilities (temperature 1) for every code at this position. */
  probabilities: Float32Array;
  /** The image so far, 28 x 28 pixels in [0, 1]: the codes written, the rest background. */
  pixels: Float32Array;
  image: ImageData;
  /** Codes still to write after this one. */
  remaining: number;
  /** The last code: `image` is the finished image. */
  done: boolean;
}

export interface ImageGpt extends Disposable {
  readonly kind: 'ImageGpt';
  readonly dataset: Dataset;
  /** The image GPT's card, with the VQ-VAE's card as `vqvae`. */
  readonly card: ModelCard & { vqvae: ModelCard };
  /** The class names, indexed by label. */
  readonly classes: string[];
  /** How many codes the codebook holds (the model's vocabulary of patches). */
  readonly codes: number;
  /** The side of the code grid: an image is `grid * grid` codes. */
  readonly grid: number;
  /**
   * The vocabulary of an image: what each code looks like, `[codes, 4, 4]` pixels in [0, 1] (the
   * middle patch of an image decoded from that code alone; a code's look also depends on its
   * neighbours), and as 4 x 4 ImageData. Found once, on the first call.
   */
  codebook(): Promise<{ patches: Float32Array; images: ImageData[] }>;
  /** Writes one image of class `label`, a code a step, row by row. One image at a time per model. */
  generate(options?: ImageGptOptions): AsyncIterableIterator<ImageGptStep>;
}

export interface ImageIndex extends Disposable {
  readonly kind: 'ImageIndex';
  readonly count: number;
  readonly pixels: number;
  /** The stored image nearest to `query` (one image) by Euclidean distance. */
  nearest(query: Float32Array | number[]): Promise<{ index: number; distance: number }>;
}

export interface LabOptions {
  /**
   * `'auto'` (default): WebGPU, except where there is none or its adapter is a software one
   * (such as SwiftShader), where the small models run on the CPU, faster there (the chat model
   * still runs on WebGPU). `'webgpu'` rejects where there is no WebGPU; `'cpu'` uses no GPU at all
   * (no chat model).
   */
  backend?: 'auto' | 'webgpu' | 'cpu';
}

/**
 * Starts the wasm module and a WebGPU device or the CPU reference device, as `options.backend`
 * says (see `Lab.backend`). Also deletes the model caches older versions of the package left in
 * the browser.
 */
export function createLab(options?: LabOptions): Promise<Lab>;

/** `length` standard normal numbers drawn from `seed` (a whole number): the same seed, the same numbers. */
export function standardNormal(length: number, seed: number): Float32Array;

/** Images of `side` x `side` values in [0, 1] (default 28), one after another, as grey ImageData. */
export function toImageData(pixels: ArrayLike<number>, side?: number): ImageData[];

/**
 * Whether the browser's cache holds a copy of the file at `url` (relative to the page) from an
 * earlier load (by any lab, in a worker or not), so that loading it again reads no network.
 */
export function isCached(url: string | URL): Promise<boolean>;
