// The benchmark page: fetches the files the suite reads (relative to the repository's root,
// one level above this page), runs the suite through WebGPU and shows each record as it comes.
// `?run` starts at once (`&quick`, `&only=matmul/,gpt.` as the controls); the body's
// data-state becomes "done" or "error" and #bench-json holds the whole run, for
// scripts/bench-web.mjs.
import init, { Lab, benchmarkFiles } from './bench-pkg/genai_lab.js';

const params = new URLSearchParams(location.search);
const adapterLine = document.getElementById('adapter');
const status = document.getElementById('bench-status');
const button = document.getElementById('bench-run');
const rows = document.querySelector('#bench-table tbody');
const output = document.getElementById('bench-json');

function finish(state, message) {
  document.body.dataset.state = state;
  status.textContent = message;
  button.disabled = false;
}

async function readFiles() {
  const files = new Map();
  for (const path of benchmarkFiles()) {
    const response = await fetch(`../${path}`);
    if (!response.ok) throw new Error(`../${path}: HTTP ${response.status} (is the repository's root served?)`);
    files.set(path, new Uint8Array(await response.arrayBuffer()));
  }
  return files;
}

function addRow(json) {
  const r = JSON.parse(json);
  const cells = [r.name, r.runs, r.gpu_ms?.toFixed(4) ?? '-', r.wall_ms.toFixed(4),
    `${r.rate.toFixed(1)} ${r.unit}`, r.max_error.toExponential(1), r.per_run.dispatches.toFixed(0),
    r.per_run.submissions.toFixed(1), r.per_run.buffersCreated.toFixed(1), r.per_run.bindGroupsCreated.toFixed(1),
    r.per_run.bytesReadBack.toFixed(0)];
  const tr = rows.insertRow();
  for (const c of cells) tr.insertCell().textContent = String(c);
}

async function run(lab) {
  button.disabled = true;
  rows.replaceChildren();
  output.hidden = true;
  document.body.dataset.state = 'running';
  try {
    status.textContent = 'fetching the models and fixtures…';
    const files = await readFiles();
    status.textContent = 'running (each case checked, then timed)…';
    const quick = document.getElementById('bench-quick').checked;
    const only = document.getElementById('bench-only').value.trim();
    output.textContent = await lab.runBenchmarks(files, quick, only, addRow);
    output.hidden = false;
    finish('done', `done: ${rows.rows.length} cases`);
  } catch (e) {
    finish('error', `failed: ${e.message ?? e}`);
  }
}

async function start() {
  if (!('gpu' in navigator)) {
    adapterLine.dataset.state = 'error';
    adapterLine.textContent = 'This browser does not offer WebGPU.';
    document.body.dataset.state = 'error';
    return;
  }
  await init();
  let lab;
  try {
    lab = await Lab.create('webgpu');
  } catch (e) {
    adapterLine.dataset.state = 'error';
    adapterLine.textContent = `No WebGPU adapter: ${e.message}`;
    document.body.dataset.state = 'error';
    return;
  }
  const info = (await navigator.gpu.requestAdapter())?.info;
  const name = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ');
  adapterLine.dataset.state = 'ready';
  adapterLine.textContent = `WebGPU adapter: ${name || lab.adapterName || 'unnamed'}` +
    `${lab.isFallbackAdapter ? ' (software fallback: correct, but slow)' : ''} · ${lab.benchmarkTiming}`;
  button.disabled = false;
  button.addEventListener('click', () => run(lab));
  document.getElementById('bench-quick').checked = params.has('quick');
  document.getElementById('bench-only').value = params.get('only') ?? '';
  if (params.has('run')) run(lab);
}

start();
