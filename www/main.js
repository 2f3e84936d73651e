// Page start-up: start the genai-lab package's lab in a Web Worker (so a long generation never
// freezes the page), say which adapter it found and where the small models run (on the CPU
// where there is no WebGPU or its adapter is a software one), hand the lab to the tabs and the
// overview, and show the view the address names (route.js). The page uses the package through
// its public API only, as any embedder would.
import { createWorkerLab } from './genai-lab/worker.js';
import { initGanTab } from './gan.js';
import { initVaeTab } from './vae.js';
import { initGanTraining } from './gan-train.js';
import { initVaeTraining } from './vae-train.js';
import { initDiffusionTab } from './diffusion.js';
import { initGptTab } from './gpt.js';
import { initModelPicker, initChatTab } from './chat.js';
import { initImageGptTab } from './imagegpt.js';
import { initOverview } from './overview.js';
import { route, changed } from './route.js';

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

// The address may choose where the small models run (?backend=webgpu or ?backend=cpu); by
// default the package does: WebGPU, unless there is none or its adapter is a software one.
const askedBackend = new URLSearchParams(location.search).get('backend') ?? 'auto';

// Resolves to the lab once its kernels are checked, or to null (with the notice shown).
async function startGpu() {
  let lab;
  try {
    lab = await createWorkerLab({ backend: askedBackend });
  } catch (e) {
    showNoWebGPU(e.message);
    return null;
  }
  adapterLine.dataset.backend = lab.backend;
  if (lab.noGpuReason !== null) {
    showNoWebGPU(lab.noGpuReason, 'reference',
      'No WebGPU: the small models run in plain Rust on the CPU (the same results, slower)');
    return lab;
  }
  const name = await describeAdapter(lab);
  // On a software adapter the small models run on the CPU (unless ?backend=webgpu): say so, and,
  // on hover, why and how to choose.
  const onCpu = lab.backend === 'cpu';
  const kind = onCpu ? ' (software: the small models run on the CPU, faster here)'
    : lab.fallbackAdapter ? ' (software fallback: correct, but slow)' : '';
  if (onCpu) adapterLine.title = `${lab.backendReason}. Add ?backend=webgpu to the address to run them on the adapter.`;
  adapterLine.textContent = `WebGPU adapter: ${name}${kind} · checking kernels…`;
  const error = await lab.checkKernels();
  const ok = error < 1e-4;
  adapterLine.dataset.state = ok ? 'ready' : 'error';
  adapterLine.dataset.adapter = name;
  adapterLine.textContent = `WebGPU adapter: ${name}${kind} · kernels ${ok ? 'verified' : 'WRONG'}` +
    ` against the CPU (${error.toExponential(1)})`;
  return lab;
}

// The views the address can name: a tab, and in the Transformer tab its model.
const VIEWS = { gan: ['tab-gan'], vae: ['tab-vae'], diffusion: ['tab-diffusion'], gpt: ['tab-transformer', 'gpt'], chat: ['tab-transformer', 'chat'],
  imagegpt: ['tab-transformer', 'imagegpt'] };
const modelPicker = document.getElementById('tf-model');
const pickedModel = () => modelPicker.querySelector('input:checked')?.value ?? 'gpt';

function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute('aria-selected', String(selected));
    const panel = document.getElementById(other.getAttribute('aria-controls'));
    const shown = panel.hidden && selected;
    const left = !panel.hidden && !selected;
    panel.hidden = !selected;
    if (shown) panel.dispatchEvent(new Event('shown')); // tabs load their models when first shown
    if (left) panel.dispatchEvent(new Event('hidden')); // and pause what runs in them when left
  }
}

// The view a tab shows: its own, or the Transformer tab's picked model.
const viewOf = (tab) => Object.keys(VIEWS).find(
  (view) => VIEWS[view][0] === tab.id && (!VIEWS[view][1] || VIEWS[view][1] === pickedModel()));

// Shows `view` (the GAN tab for an empty address); false for a name it does not know.
function showView(view) {
  const [tabId, model] = VIEWS[view || 'gan'] ?? [];
  if (!tabId) return false;
  if (model && model !== pickedModel()) {
    const input = modelPicker.querySelector(`input[value="${model}"]`);
    input.checked = true;
    input.dispatchEvent(new Event('change', { bubbles: true }));
  }
  selectTab(document.getElementById(tabId));
  return true;
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
initModelPicker(); // the Transformer tab's three models, explained even without WebGPU
for (const tab of document.querySelectorAll('[role="tab"]')) {
  tab.addEventListener('click', () => {
    selectTab(tab);
    changed(viewOf(tab));
  });
}
modelPicker.addEventListener('change', () => changed(pickedModel()));
route(showView);

const lab = await startGpu().catch((e) => {
  showNoWebGPU(`Starting the GPU failed: ${e.message ?? e}`);
  return null;
});
if (lab) {
  const gan = initGanTab(lab); // first: it gives the shared GAN helpers the Lab
  initVaeTab(lab); // loads its models when its tab is first shown
  initDiffusionTab(lab); // likewise
  initGptTab(lab); // likewise
  initImageGptTab(lab); // likewise, when its model is picked
  if (lab.noGpuReason === null) initChatTab(lab); // downloads its model only when asked (WebGPU only)
  initGanTraining(lab); // "Train it yourself" in the GAN and the VAE tab: they load only when asked
  initVaeTraining(lab);
  await gan;
  await initOverview(lab); // after the first tab's samples, so as not to delay them
}
