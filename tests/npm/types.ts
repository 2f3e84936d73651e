// Compiled (never run) by tests/npm/run.mjs against the installed package, with tsc --strict:
// every export and method is used as the README documents it, so a declaration that is missing
// or disagrees with the documented use fails the test.
import {
  AbortError, createLab, DeviceLostError, DisposedError, GenaiLabError, IntegrityError, InvalidArgumentError, isCached,
  NetworkError, OutOfMemoryError, standardNormal, toImageData, TrainingDivergedError, UnsupportedModelError, type Lab, type Progress,
} from 'genai-lab';
import { createWorkerLab, isCached as cachedHere, NetworkError as RemoteNetworkError } from 'genai-lab/worker';

// What an error says, by its class: every class the package exports.
function explain(e: unknown): string {
  if (e instanceof NetworkError || e instanceof RemoteNetworkError) return `${e.url} ${e.status ?? 'no answer'}`;
  if (e instanceof IntegrityError) return `${e.url} damaged`;
  const kinds = [InvalidArgumentError, UnsupportedModelError, DeviceLostError, OutOfMemoryError, TrainingDivergedError, DisposedError, AbortError];
  if (kinds.some((Kind) => e instanceof Kind)) return (e as GenaiLabError).code;
  return e instanceof GenaiLabError ? `${e.name} ${e.code} ${e.message}` : String(e);
}

async function use(lab: Lab, signal: AbortSignal): Promise<string> {
  const onProgress = (p: Progress): string => `${p.file} ${p.loaded}/${p.total} ${p.cached}`;
  const backend: 'webgpu' | 'cpu' = lab.backend;
  const reason: string | null = lab.noGpuReason;
  const gan = await lab.loadGan({ dataset: 'mnist', onProgress, signal, baseUrl: '/models/', verify: true });
  const { images, pixels, scores, z, labels } = await gan.generate({ labels: [1], z: standardNormal(gan.latent, 1) });
  const firstImage: ImageData = images[0] ?? toImageData(pixels)[0]!;
  const vae = await lab.loadVae({ dataset: 'fashion', latent: 2 });
  const { mean, logVariance } = await vae.encode(pixels);
  const decoded: ImageData[] = (await vae.decode(mean)).images;
  const sampled: Float32Array = (await vae.sample({ count: 4, seed: 2 })).z;
  const noise: Float32Array = await vae.standardNormal(4, 3);
  const diffusion = await lab.loadDiffusion({ dataset: 'mnist', onProgress, signal });
  let film = `${diffusion.schedule} ${diffusion.classes[0]} ${diffusion.defaults.steps} ${diffusion.defaults.guidance}`;
  for await (const step of diffusion.sample({ labels: [1, null], steps: 2, guidance: 2, sampler: 'ancestral', seed: 1, watch: 1, signal })) {
    film += `${step.t}${step.step}${step.steps}${step.first}${step.noisy.images[0]?.width}${step.predicted.pixels[0]}${step.done}`;
    if (step.done) film += `${step.images?.length}${step.pixels?.[0]}`;
  }
  for await (const step of diffusion.denoise(pixels, { t: 10, labels: [1], steps: 2, watch: 'all' })) film += `${step.t}`;
  const { images: noisy, signalToNoise } = await diffusion.noise(pixels, { t: 500, seed: 2 });
  film += `${noisy.length}${signalToNoise}`;
  const imageGpt = await lab.loadImageGpt({ dataset: 'fashion', onProgress, signal });
  const sheet: { patches: Float32Array; images: ImageData[] } = await imageGpt.codebook();
  film += `${imageGpt.classes[0]}${imageGpt.codes}${imageGpt.grid}${imageGpt.card.vqvae.name}${sheet.patches[0]}${sheet.images.length}`;
  for await (const step of imageGpt.generate({ label: 2, temperature: 0.8, topK: 10, topP: 0.9, seed: 1, signal })) {
    film += `${step.code}${step.position}${step.row}${step.column}${step.probabilities[0]}${step.pixels[0]}${step.image.width}${step.remaining}${step.done}`;
  }
  await imageGpt.dispose();
  const trainer = await lab.trainGan({ dataset: 'mnist', images: pixels, labels: [1], batch: 1, lrG: 1e-4, lrD: 1e-4, dSteps: 2, seed: 1, signal });
  const settings: { batch: number; lrG: number; lrD: number; dSteps: number } = await trainer.configure({ batch: 1 });
  const taken = await trainer.step(2);
  const last = taken.history[taken.history.length - 1]!;
  film += `${taken.steps}${taken.imagesSeen}${taken.seconds}${last.step}${last.dLoss}${last.dReal}${last.dFake}${last.gLoss}${last.dOfReal}${last.dOfFake}${last.dOfFakeAfter}`;
  film += `${settings.dSteps}${trainer.latent}${trainer.images}${trainer.dataset}${(await trainer.generate({ z: standardNormal(64, 1), labels: [2] })).images.length}`;
  const exported: Record<string, string | Uint8Array> = (await trainer.export()).files;
  const ownGan = await lab.loadGan({ dataset: 'mnist', files: exported });
  const vaeTrainer = await lab.trainVae({ dataset: 'fashion', images: pixels, latent: 2, batch: 1, lr: 1e-3, beta: 0.5 });
  const vaeStep = (await vaeTrainer.step()).history[0]!;
  film += `${vaeStep.loss}${vaeStep.reconstruction}${vaeStep.kl}${(await vaeTrainer.configure({ beta: 1 })).beta}`;
  film += `${(await vaeTrainer.encode(pixels)).mean[0]}${(await vaeTrainer.decode([0, 0])).pixels[0]}`;
  const ownVae = await lab.loadVae({ dataset: 'fashion', latent: 2, files: (await vaeTrainer.export()).files });
  await Promise.all([trainer, ownGan, vaeTrainer, ownVae].map((m) => m.dispose()));
  const gpt = await lab.loadGpt();
  let text = `${film} ${backend} ${reason} ${gan.classes[labels[0]!]} ${scores[0]} ${z.length} ${firstImage.width} ${gan.card.data?.train} ${vae.card.name} ${gpt.card.parameters}`;
  for await (const step of gpt.generate('ROMEO:', { maxTokens: 5, temperature: 0, topK: 0, topP: 1, seed: 1, signal })) {
    text += `${step.text}${step.token}${step.probabilities[0]}${step.attention.length}${step.scores.length}${step.window}${step.rows}${step.slid}${step.remaining}`;
  }
  const chat = await lab.loadChat({ url: '/chat.gguf', sha256: '00', onProgress, signal });
  for await (const step of chat.chat([{ role: 'user', content: 'Hi' }], { maxTokens: 4, lens: false, attention: true })) {
    text += `${step.text}${step.token}${step.done}${step.promptTokens}${step.topTokens[0]}${step.topIds[0]}${step.topProbabilities[0]}${step.lensTokens.length}${step.changes.length}`;
    text += `${step.keyTokens[0]}${step.attention[0]}${step.scores[0]}${chat.layers}${chat.heads}`;
  }
  const index = await lab.createImageIndex(pixels, 784);
  const { index: nearest, distance } = await index.nearest(pixels);
  const { liveBuffers, liveBytes } = await lab.memory();
  const { dispatches, computePasses, submissions, buffersCreated, bindGroupsCreated, bytesUploaded, readBacks, bytesReadBack } = await lab.stats();
  text += `${dispatches}${computePasses}${submissions}${buffersCreated}${bindGroupsCreated}${bytesUploaded}${readBacks}${bytesReadBack}`;
  const error: number = await lab.checkKernels();
  await lab.loseDevice();
  text += await gan.generate().then(() => 'recovered', explain);
  const cached: boolean = (await isCached('/chat.gguf')) && (await cachedHere(new URL('/chat.gguf', location.href)));
  await Promise.all([gan, vae, diffusion, gpt, chat, index].map((m) => m.dispose()));
  await lab.dispose();
  return `${text} ${logVariance[0]} ${decoded.length} ${sampled[0]} ${noise[0]} ${nearest} ${distance} ${liveBuffers} ${liveBytes} ${error} ${chat.name} ${chat.context} ${gpt.vocab[0]} ${gpt.blockSize} ${gpt.layers} ${gpt.heads} ${vae.latent} ${index.count} ${cached}`;
}

export const direct = async (signal: AbortSignal) => use(await createLab(), signal);
export const remote = async (signal: AbortSignal) => use(await createWorkerLab(), signal);
