// The package's edges, through its public API, on the main thread and through the worker: what
// each misuse throws (each of the package's error classes provoked, as an instance of the class
// its name names, on the thread that called), that altered weights load from baseUrl only with verify: false, VAE sampling and the image index, training a GAN and a VAE (their settings checked, a diverging run stopped, their exports loaded), load progress, that leaving a loop ends
// a stream, that a disposed model or lab refuses calls, what the default backend chose, and
// (where the browser has no WebGPU) that the small models run on the CPU and the chat model
// explains why it cannot. tests/npm/run.mjs builds it into checks.html and reads
// window.results.
import * as genai from 'genai-lab';
import * as remote from 'genai-lab/worker';

// Per error name met: whether each was an instance of the package's class of that name (from
// either entry point: they export the same classes) and of GenaiLabError, and its code.
let kinds;

// What a call throws, as "Name: message", or "no error"; noted in `kinds`.
async function thrown(fn) {
  try {
    await fn();
    return 'no error';
  } catch (e) {
    const Class = genai[e.name];
    const instance = e instanceof genai.GenaiLabError && typeof Class === 'function' && e instanceof Class &&
      remote[e.name] === Class;
    (kinds[e.name] ??= []).push({ instance, code: e.code, url: e.url, status: e.status });
    return `${e.name}: ${e.message}`;
  }
}

async function write(gpt, prompt, options) {
  let text = '';
  for await (const step of gpt.generate(prompt, options)) text += step.text;
  return text;
}

// The backend the checks ask for (run.mjs passes ?backend=webgpu where the browser has WebGPU,
// whose adapter may be a software one); the default where none is given.
const asked = new URLSearchParams(location.search).get('backend');
const options = asked ? { backend: asked } : {};

async function check(create) {
  const lab = await create(options);
  kinds = {};
  const r = { backend: lab.backend, kinds };
  r.badBackend = await thrown(() => create({ backend: 'gpu' }));
  r.notOptions = await thrown(() => create('cpu'));
  r.abortedLoad = await thrown(() => lab.loadGpt({ signal: AbortSignal.abort() }));
  // Aborted once the first bytes arrived. On the main thread the progress callback runs inside
  // the download, so the abort always lands before it ends; through the worker the load may win.
  if (create === genai.createLab) {
    const halfway = new AbortController();
    r.abortedHalfway = await thrown(() => lab.loadGpt({
      signal: halfway.signal, onProgress: (p) => { if (p.loaded > 0) halfway.abort(); },
    }));
    r.memoryAfterAbort = await lab.memory();
  }
  r.badDataset = await thrown(() => lab.loadGan({ dataset: 'cifar' }));
  r.missingFile = await thrown(() => lab.loadGpt({ baseUrl: '/nowhere/' }));
  // Weights of one's own (run.mjs serves the GPT's, one bit changed, under /own/).
  r.ownChecked = await thrown(() => lab.loadGpt({ baseUrl: '/own/' }));
  const own = await lab.loadGpt({ baseUrl: '/own/', verify: false });
  r.ownWrote = await write(own, 'ROMEO:', { maxTokens: 8, temperature: 0 });
  await own.dispose();
  r.chat = await thrown(() => lab.loadChat({ url: '/models/none.gguf' }));
  r.notGguf = await thrown(() => lab.loadChat({ url: '/own/gpt_shakespeare.json' }));

  const gan = await lab.loadGan({ dataset: 'mnist' });
  const { scores, z } = await gan.generate({ labels: [3, 4], seed: 5 });
  r.scores = Array.from(scores);
  r.sameZ = Array.from((await gan.generate({ labels: [3, 4], z })).scores).join() === r.scores.join();
  r.shortZ = await thrown(() => gan.generate({ labels: [3, 4], z: z.subarray(0, 64) }));
  const before = await lab.stats();
  await gan.generate({ labels: [3, 4], z });
  const after = await lab.stats();
  r.stats = Object.fromEntries(Object.keys(after).map((key) => [key, after[key] - before[key]]));
  r.tooMany = await thrown(() => gan.generate({ labels: new Array(100_000).fill(0), seed: 1 }));
  // The device destroyed while a batch is on the GPU (a timer fires once the call has
  // submitted its work and awaits the read-back); the next call recovers on a new device.
  const lost = thrown(() => gan.generate({ labels: new Array(64).fill(1), seed: 2 }));
  await new Promise((done) => setTimeout(done, 0));
  await lab.loseDevice();
  r.lost = await lost;
  r.afterLoss = Array.from((await gan.generate({ labels: [3, 4], z })).scores).join() === r.scores.join();

  const vae = await lab.loadVae({ dataset: 'mnist', latent: 2 });
  const sampled = await vae.sample({ count: 3, seed: 4 });
  r.vae = { latent: vae.latent, z: sampled.z.length, images: sampled.images.length };
  const index = await lab.createImageIndex(sampled.pixels);
  r.nearest = await index.nearest(sampled.pixels.subarray(784, 2 * 784));

  // Training from scratch on the VAE's three samples: two steps each, the settings checked, a
  // run that diverges stopped with its error, and exported weights loaded from `files`.
  const images = sampled.pixels;
  const trainer = await lab.trainGan({ dataset: 'mnist', images, labels: [1, 2, 3], batch: 2, seed: 1 });
  const trained = await trainer.step(2);
  r.ganTraining = { steps: trained.steps, seen: trained.imagesSeen, history: trained.history.length,
    finite: trained.history.every((h) => [h.dLoss, h.gLoss, h.dOfReal, h.dOfFake].every(Number.isFinite)) };
  r.badBatch = await thrown(() => trainer.configure({ batch: 4 }));
  r.badRate = await thrown(() => trainer.configure({ lrD: -1 }));
  r.badLabels = await thrown(() => lab.trainGan({ images, labels: [1, 2] }));
  const { files } = await trainer.export();
  const exported = await lab.loadGan({ dataset: 'mnist', files });
  r.exported = { files: Object.keys(files).sort(), images: (await exported.generate({ labels: [5], seed: 1 })).images.length,
    card: JSON.parse(files['gan_generator_mnist.json']).data.train };
  await Promise.all([trainer.dispose(), exported.dispose()]);
  const wild = await lab.trainGan({ images, labels: [1, 2, 3], batch: 2, lrG: 1e30, lrD: 1e30 });
  r.diverged = await thrown(() => wild.step(1));
  r.stillDiverged = await thrown(() => wild.step(1));
  await wild.dispose();
  const vaeTrainer = await lab.trainVae({ dataset: 'mnist', images, batch: 3, beta: 2 });
  const vaeTrained = await vaeTrainer.step(2);
  const encoded = await vaeTrainer.encode(images);
  r.vaeTraining = { steps: vaeTrained.steps, kl: vaeTrained.history.every((h) => h.kl >= 0), mean: encoded.mean.length,
    files: Object.keys((await vaeTrainer.export()).files).sort() };
  r.badBeta = await thrown(() => vaeTrainer.configure({ beta: -1 }));
  await vaeTrainer.dispose();

  const diffusion = await lab.loadDiffusion({ dataset: 'mnist' });
  const run = async (steps) => {
    let last;
    for await (const step of steps) last = step;
    return last;
  };
  const sampled3 = await run(diffusion.sample({ labels: [3, null], steps: 3, seed: 6, watch: 'none' }));
  r.diffusion = { steps: sampled3.steps, done: sampled3.done, images: sampled3.images.length,
    watched: sampled3.noisy.pixels.length, t: sampled3.t };
  r.sameSeed = (await run(diffusion.sample({ labels: [3, null], steps: 3, seed: 6 }))).pixels.join() === sampled3.pixels.join();
  const noised = await diffusion.noise(sampled3.pixels.subarray(0, 784), { t: 500, seed: 1 });
  r.noised = noised.signalToNoise;
  r.denoised = (await run(diffusion.denoise(sampled3.pixels.subarray(0, 784), { labels: [3], t: 100, steps: 2 }))).images.length;
  r.zeroSteps = await thrown(() => run(diffusion.sample({ labels: [3], steps: 0 })));
  r.tooManySteps = await thrown(() => run(diffusion.sample({ labels: [3], steps: 1001 })));
  r.badGuidance = await thrown(() => run(diffusion.sample({ labels: [3], guidance: -1 })));
  r.nanGuidance = await thrown(() => run(diffusion.sample({ labels: [3], guidance: NaN })));
  r.badClass = await thrown(() => run(diffusion.sample({ labels: [11] })));
  r.badSampler = await thrown(() => run(diffusion.sample({ labels: [3], sampler: 'euler' })));
  r.badLevel = await thrown(() => diffusion.noise(sampled3.pixels.subarray(0, 784), { t: 1000 }));
  r.badImage = await thrown(() => run(diffusion.denoise(new Float32Array(700), { labels: [3], t: 10, steps: 2 })));
  await diffusion.dispose();

  const progress = [];
  const gpt = await lab.loadGpt({ onProgress: (p) => progress.push(p) });
  r.progress = progress.at(-1);
  // Leaving a loop early ends its stream, so the next may start.
  for await (const step of gpt.generate('ROMEO:', { maxTokens: 50 })) if (step.remaining < 48) break;
  r.greedy = [await write(gpt, 'ROMEO:', { maxTokens: 8, temperature: 0 }), await write(gpt, 'ROMEO:', { maxTokens: 8, temperature: 0 })];
  // Attention weights and the lens come back only when asked for.
  const firstStep = async (options) => {
    const steps = gpt.generate('ROMEO:', { maxTokens: 2, ...options });
    const { value } = await steps.next();
    await steps.return();
    return value;
  };
  const rows = async (options) => {
    const value = await firstStep(options);
    return [value.rows, value.attention.length, value.scores.length];
  };
  r.attention = [await rows({}), await rows({ attention: true })];
  // Each row of weights is the softmax of its raw scores, over the keys its query sees.
  const watched = await firstStep({ attention: true });
  const block = gpt.blockSize;
  r.softmaxOfScores = Array.from({ length: watched.attention.length / block }, (_, n) => {
    const seen = watched.window - watched.rows + (n % watched.rows) + 1;
    const scores = watched.scores.subarray(n * block, n * block + seen);
    const top = Math.max(...scores);
    const total = scores.reduce((sum, s) => sum + Math.exp(s - top), 0);
    const weights = watched.attention.subarray(n * block, (n + 1) * block);
    return Math.max(...Array.from(weights, (w, j) => Math.abs(w - (j < seen ? Math.exp(scores[j] - top) / total : 0))));
  }).reduce((a, b) => Math.max(a, b), 0);
  r.badAttention = await thrown(() => write(gpt, 'ROMEO:', { maxTokens: 8, attention: 'yes' }));
  // Each row of the lens a distribution, the last the step's own.
  const lensed = await firstStep({ lens: true });
  const v = gpt.vocab.length;
  const lensRows = Array.from({ length: lensed.lens.length / v }, (_, i) => lensed.lens.subarray(i * v, (i + 1) * v));
  const unwatched = await firstStep({});
  r.lens = {
    sums: lensRows.map((row) => row.reduce((a, b) => a + b, 0)),
    lastIsTheStep: lensRows.at(-1).every((p, i) => Math.abs(p - lensed.probabilities[i]) < 1e-6),
    changes: Array.from(lensed.changes),
    unwatched: [unwatched.lens.length, unwatched.changes.length],
  };
  r.badLens = await thrown(() => write(gpt, 'ROMEO:', { maxTokens: 8, lens: 1 }));
  const first = gpt.generate('ROMEO:', { maxTokens: 8 });
  await first.next();
  r.twoStreams = await thrown(() => write(gpt, 'JULIET:', { maxTokens: 8 }));
  await first.return();
  r.badPrompt = await thrown(() => write(gpt, 'Ω', { maxTokens: 8 }));
  await gpt.dispose();
  r.disposedModel = await thrown(() => write(gpt, 'ROMEO:', { maxTokens: 8 }));
  await lab.dispose();
  r.disposedLab = await thrown(() => lab.memory());
  return r;
}

// What the default backend ('auto') chose here, and why.
async function chosen(create) {
  const lab = await create();
  const r = { backend: lab.backend, reason: lab.backendReason, noGpuReason: lab.noGpuReason, fallbackAdapter: lab.fallbackAdapter };
  await lab.dispose();
  return r;
}

window.chosen = { main: await chosen(genai.createLab), worker: await chosen(remote.createWorkerLab) };
window.results = { main: await check(genai.createLab), worker: await check(remote.createWorkerLab) };
