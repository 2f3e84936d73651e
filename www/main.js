// Page start-up: start the genai-lab package's lab in a Web Worker (so a long generation never
// freezes the page), say which adapter it found (or why there is none, in which case the small
// models run on the CPU), hand the lab to the tabs that run models, and switch tabs. The page
// uses the package through its public API only, as any embedder would.
import { createWorkerLab } from './genai-lab/worker.js';
import { initGanTab } from './gan.js';
import { initVaeTab } from './vae.js';
import { initGptTab } from './gpt.js';
import { initModelPicker, initChatTab } from './chat.js';

const adapterLine = document.getElementById('adapter');

function showNoWebGPU(reason, state = 'error', line = 'No WebGPU adapter') {
  adapterLine.dataset.state = state;
  adapterLine.textContent = line;
  document.getElementById('no-webgpu-reason').textContent = reason;
  document.getElementById('no-webgpu').hidden = false;
}

// wgpu passes on only the adapter's description, which browsers often leave empty for privacy;
// the vendor and architecture they do report name it well enough.
async function describeAdapter(lab) {
  const info = (await navigator.gpu.requestAdapter())?.info;
  const parts = info ? [info.vendor, info.architecture, info.description] : [];
  return parts.filter(Boolean).join(' ') || lab.adapter || 'an unnamed adapter';
}

// Resolves to the lab once its kernels are checked, or to null (with the notice shown).
async function startGpu() {
  let lab;
  try {
    lab = await createWorkerLab();
  } catch (e) {
    showNoWebGPU(e.message);
    return null;
  }
  if (lab.backend === 'cpu') {
    showNoWebGPU(lab.noGpuReason, 'reference',
      'No WebGPU: the small models run in plain Rust on the CPU (the same results, slower)');
    return lab;
  }
  const name = await describeAdapter(lab);
  const kind = lab.fallbackAdapter ? ' (software fallback: correct, but slow)' : '';
  adapterLine.textContent = `WebGPU adapter: ${name}${kind} · checking kernels…`;
  const error = await lab.checkKernels();
  const ok = error < 1e-4;
  adapterLine.dataset.state = ok ? 'ready' : 'error';
  adapterLine.dataset.adapter = name;
  adapterLine.textContent = `WebGPU adapter: ${name}${kind} · kernels ${ok ? 'verified' : 'WRONG'}` +
    ` (largest difference from the CPU: ${error.toExponential(1)})`;
  return lab;
}

function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute('aria-selected', String(selected));
    document.getElementById(other.getAttribute('aria-controls')).hidden = !selected;
  }
}

// The service worker keeps the page and the model files it has used, so a reload works offline
// (sw.js). Files fetched before it took charge of this page are sent to it to keep as well.
function startOffline() {
  if (!('serviceWorker' in navigator)) return;
  const sendLoaded = (worker) => worker?.postMessage({
    keep: performance.getEntriesByType('resource').map((entry) => entry.name),
  });
  navigator.serviceWorker.register('sw.js').catch((e) => console.warn(`no offline use: ${e.message ?? e}`));
  navigator.serviceWorker.ready.then((registration) => sendLoaded(registration.active));
  navigator.serviceWorker.addEventListener('controllerchange', () => sendLoaded(navigator.serviceWorker.controller));
}

startOffline();
for (const tab of document.querySelectorAll('[role="tab"]')) {
  tab.addEventListener('click', () => selectTab(tab));
}
initModelPicker(); // the Transformer tab's two models, explained even without WebGPU

const lab = await startGpu().catch((e) => {
  showNoWebGPU(`Starting the GPU failed: ${e.message ?? e}`);
  return null;
});
if (lab) {
  const gan = initGanTab(lab); // first: it gives the shared GAN helpers the Lab
  initVaeTab(lab); // loads its models when its tab is first shown
  initGptTab(lab); // likewise
  if (lab.backend === 'webgpu') initChatTab(lab); // downloads its model only when asked
  await gan;
}
