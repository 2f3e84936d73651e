// The overview at the top of the page: one live thumbnail per family, each a link to its tab. A
// GAN sample, a VAE decode, a diffusion sample and a line of the character GPT, made here by models of their own (so
// that no tab's model is busy for it), after the first tab has drawn.
import { serial, drawPixels, reducedMotion } from './ui.js';

const SEED = 3;
const LINE = 'ROMEO:\n';
const LINE_TOKENS = 60;

async function drawGan(lab) {
  const gan = await lab.loadGan({ dataset: 'fashion' });
  const { pixels } = await serial(() => gan.generate({ labels: [7], seed: SEED })); // a sneaker
  drawPixels(document.getElementById('overview-gan'), pixels);
}

async function drawVae(lab) {
  const vae = await lab.loadVae({ dataset: 'fashion' });
  const { pixels } = await serial(() => vae.sample({ count: 1, seed: SEED }));
  drawPixels(document.getElementById('overview-vae'), pixels);
}

// Noise turning into a bag (class 8), the model's guess drawn at every step.
async function drawDiffusion(lab) {
  const diffusion = await lab.loadDiffusion({ dataset: 'fashion' });
  const canvas = document.getElementById('overview-diffusion');
  await serial(async () => {
    for await (const step of diffusion.sample({ labels: [8], seed: SEED, watch: 0 })) {
      if (!reducedMotion() || step.done) drawPixels(canvas, step.done ? step.pixels : step.predicted.pixels);
    }
  });
  canvas.dataset.done = 'true';
}

// Writes a line as the model writes it (all at once where the reader asked for less motion).
async function writeLine(lab) {
  const gpt = await lab.loadGpt();
  const el = document.getElementById('overview-gpt');
  let text = LINE;
  for await (const step of gpt.generate(LINE, { maxTokens: LINE_TOKENS, seed: SEED })) {
    text += step.text;
    if (!reducedMotion()) el.textContent = text;
  }
  el.textContent = text;
  el.dataset.done = 'true';
}

// Fills the thumbnails one after another; a family that fails keeps an empty one, and says why in
// the console.
export async function initOverview(lab) {
  for (const fill of [drawGan, drawVae, drawDiffusion, writeLine]) {
    await fill(lab).catch((e) => console.warn(`overview: ${fill.name} failed: ${e.message ?? e}`));
  }
}
