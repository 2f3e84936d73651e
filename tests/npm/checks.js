// The package's edges, through its public API, on the main thread and through the worker: what
// each misuse throws, that altered weights load from baseUrl only with verify: false, VAE sampling and the image index, load progress, that leaving a loop ends
// a stream, that a disposed model or lab refuses calls, and (where the browser has no WebGPU)
// that the small models run on the CPU and the chat model explains why it cannot. tests/npm/run.mjs builds it into checks.html and reads
// window.results.
import { createLab } from 'genai-lab';
import { createWorkerLab } from 'genai-lab/worker';

// What a call throws, as "Name: message", or "no error".
async function thrown(fn) {
  try {
    await fn();
    return 'no error';
  } catch (e) {
    return `${e.name}: ${e.message}`;
  }
}

async function write(gpt, prompt, options) {
  let text = '';
  for await (const step of gpt.generate(prompt, options)) text += step.text;
  return text;
}

async function check(create) {
  const lab = await create();
  const r = { backend: lab.backend };
  r.abortedLoad = await thrown(() => lab.loadGpt({ signal: AbortSignal.abort() }));
  // Aborted once the first bytes arrived. On the main thread the progress callback runs inside
  // the download, so the abort always lands before it ends; through the worker the load may win.
  if (create === createLab) {
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

  const gan = await lab.loadGan({ dataset: 'mnist' });
  const { scores, z } = await gan.generate({ labels: [3, 4], seed: 5 });
  r.scores = Array.from(scores);
  r.sameZ = Array.from((await gan.generate({ labels: [3, 4], z })).scores).join() === r.scores.join();
  r.shortZ = await thrown(() => gan.generate({ labels: [3, 4], z: z.subarray(0, 64) }));

  const vae = await lab.loadVae({ dataset: 'mnist', latent: 2 });
  const sampled = await vae.sample({ count: 3, seed: 4 });
  r.vae = { latent: vae.latent, z: sampled.z.length, images: sampled.images.length };
  const index = await lab.createImageIndex(sampled.pixels);
  r.nearest = await index.nearest(sampled.pixels.subarray(784, 2 * 784));

  const progress = [];
  const gpt = await lab.loadGpt({ onProgress: (p) => progress.push(p) });
  r.progress = progress.at(-1);
  // Leaving a loop early ends its stream, so the next may start.
  for await (const step of gpt.generate('ROMEO:', { maxTokens: 50 })) if (step.remaining < 48) break;
  r.greedy = [await write(gpt, 'ROMEO:', { maxTokens: 8, temperature: 0 }), await write(gpt, 'ROMEO:', { maxTokens: 8, temperature: 0 })];
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

window.results = { main: await check(createLab), worker: await check(createWorkerLab) };
