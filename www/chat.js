// The Transformer tab's second model: SmolLM2-135M-Instruct, a small pretrained chat model, in
// 4-bit GGUF form, loaded by the genai-lab package. Its 98 MB are fetched only when the reader
// asks, with a progress bar, checked against the SHA-256 in the page's manifest and kept in the
// browser's cache by the package, so a reload does not fetch them again. The conversation is a
// list of { role, content }; each turn hands the whole list to the model, which renders its chat
// template and answers one token per step, as a stream that Stop aborts. On request, each step
// also reads the prediction out after every layer (the logit lens) or what the newest token
// attends to in a chosen layer and head. The page redraws at most once per animation frame.
import { isCached } from './genai-lab/worker.js';
import { plural, showMessage, inputNumber, frameRenderer, percent, lensTable, likeliest } from './ui.js';
import { manifestEntry } from './integrity.js';
import { shareFields, changed } from './route.js';

const FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const URL_PATH = `models/${FILE}`;
const TITLE = 'SmolLM2-135M-Instruct'; // the file's own name ("smollm2 135M") says less
const TOP = 5; // probability bars, and guesses per row of the layer-by-layer table
const ATTENDED = 8; // rows of the attention table: the tokens weighed most

const els = {};
const state = {
  lab: null,
  loading: null, // Promise of the model while it loads
  model: null, // { chat, name, context } once loaded
  messages: [], // the conversation: { role: 'user' | 'assistant', content }
  turn: null, // the answer being written or last written (see newTurn)
  turns: 0, // answers asked for, for the page test
  running: false,
  stop: null, // the AbortController of the answer being written
  drawLensTable: null, // see lensTable: made on the first step that reads the lens
};

// ---- Helpers -----------------------------------------------------------------------------

const megabytes = (bytes) => (bytes / 1e6).toFixed(1);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const duration = (ms) => (ms < 10_000 ? `${Math.round(ms)} ms` : seconds(ms));
// Spaces and newlines drawn so they can be seen (a token often starts with a space).
const shown = (token) => (token === '' ? '(part of a character)'
  : token.replaceAll(' ', '␣').replaceAll('\n', '↵').replaceAll('\t', '⇥'));

function setStatus(text, kind = 'ready') {
  els.status.textContent = text;
  els.status.dataset.state = kind;
}

const errorText = (e) => e?.message ?? String(e);

function readSettings() {
  return {
    temperature: inputNumber(els.temperature, 'temperature'),
    topK: inputNumber(els.topK, 'top-k'),
    topP: inputNumber(els.topP, 'top-p'),
    seed: inputNumber(els.seed, 'seed'),
    maxTokens: inputNumber(els.max, 'number of tokens'),
  };
}

// ---- Loading -----------------------------------------------------------------------------

// Draws the progress bar, at most once per animation frame.
function progressMeter() {
  let last = null;
  let frame = 0;
  const draw = () => {
    frame = 0;
    const { loaded, total, cached } = last;
    const verb = cached ? 'Read from the cache:' : 'Downloaded';
    els.progress.max = total || 1;
    els.progress.value = total ? Math.min(loaded, total) : 0;
    els.progressText.textContent = total ? `${verb} ${megabytes(loaded)} of ${megabytes(total)} MB`
      : `${verb} ${megabytes(loaded)} MB`;
  };
  return {
    update(progress) {
      last = progress;
      frame ||= requestAnimationFrame(draw);
    },
    // Draws the last progress at once; says where the bytes came from and when they were all in.
    finish() {
      cancelAnimationFrame(frame);
      if (last) draw();
      return last;
    },
  };
}

// A missing file is the usual trouble on a new server: say how to get it.
function loadError(e) {
  const message = errorText(e);
  if (e?.code !== 'network' || e.status !== 404) return message;
  return `${message}. The file is not part of the repository: whoever runs the server must fetch ` +
    'it with scripts/fetch-smollm.sh.';
}

async function load() {
  const begin = performance.now();
  setStatus('Fetching the model…', 'busy');
  els.download.hidden = false;
  const { sha256 } = await manifestEntry(URL_PATH);
  const meter = progressMeter();
  let fetched = 0;
  const chat = await state.lab.loadChat({
    url: URL_PATH,
    sha256,
    onProgress(progress) {
      meter.update(progress);
      // Every byte is in (from the cache, or from the network after a damaged cached copy).
      if (progress.total && progress.loaded === progress.total) {
        fetched = performance.now();
        setStatus(`Loading ${megabytes(progress.total)} MB onto the GPU…`, 'busy');
      }
    },
  });
  const loaded = performance.now();
  const last = meter.finish();
  fetched ||= loaded;
  return {
    chat,
    name: chat.name,
    context: chat.context,
    size: last?.total ?? 0,
    source: last?.cached ? 'cache' : 'network',
    fetchMs: fetched - begin,
    loadMs: loaded - fetched,
  };
}

async function startLoading() {
  if (state.loading || state.model) return;
  els.load.disabled = true;
  showMessage(els.error, '');
  state.loading = load();
  try {
    const m = await state.loading;
    state.model = m;
    const from = m.source === 'cache' ? `read ${megabytes(m.size)} MB from this browser's cache`
      : `downloaded ${megabytes(m.size)} MB in ${seconds(m.fetchMs)}`;
    setStatus(`${TITLE} (Q4_1) · ${plural(m.context, 'token')} of context · ${from}, ` +
      `loaded in ${seconds(m.loadMs)}`);
    els.status.dataset.source = m.source;
    els.status.dataset.name = m.name;
    els.status.dataset.loadMs = String(Math.round(m.fetchMs + m.loadMs));
    els.intro.hidden = true;
    els.ui.hidden = false;
  } catch (e) {
    // A missing file or a bad one: the message says what to do; the button may try again.
    setStatus('The model did not load.', 'error');
    showMessage(els.error, loadError(e));
    els.download.hidden = true;
    els.load.disabled = false;
    await showCached();
  } finally {
    state.loading = null;
  }
}

// Says whether the file is already in this browser's cache, and names the button to match.
async function showCached() {
  const cached = await isCached(URL_PATH).catch(() => false);
  els.cacheNote.dataset.cached = String(cached);
  if (cached) {
    els.cacheNote.textContent = 'Cached in this browser: it loads without downloading.';
    els.load.textContent = 'Load (cached, 98 MB)';
  }
}

// ---- Answering ---------------------------------------------------------------------------

function newTurn(element, maxTokens) {
  return {
    element, // the assistant's message
    maxTokens,
    answer: '',
    steps: 0,
    promptTokens: 0,
    prefillMs: 0, // the first step: reading the conversation (the prefill) and drawing one token
    firstEnd: 0,
    lastEnd: 0,
    top: null, // the last step's candidates: { tokens, probabilities, text }
    stopped: false,
    ended: false,
  };
}

function addMessage(role, content) {
  els.messages.querySelector('.chat-empty')?.remove();
  const div = document.createElement('div');
  div.className = 'chat-msg';
  div.dataset.role = role;
  div.textContent = content;
  els.messages.append(div);
  els.messages.scrollTop = els.messages.scrollHeight;
  return div;
}

// Takes what the page needs from one step.
function record(turn, step, ms) {
  turn.answer += step.text;
  turn.steps++;
  turn.lastEnd = performance.now();
  if (turn.steps === 1) {
    turn.promptTokens = step.promptTokens;
    turn.prefillMs = ms;
    turn.firstEnd = turn.lastEnd;
  }
  turn.top = { tokens: step.topTokens, probabilities: step.topProbabilities, text: step.text };
  const { lensTokens: tokens, lensProbabilities: probabilities, changes } = step;
  turn.lens = tokens.length ? { tokens, probabilities, changes, text: step.text } : null;
  const { keyTokens: keys, attention: weights, scores } = step;
  turn.attention = keys.length ? { keys, weights, scores } : null;
  turn.ended = step.done;
}

function setRunning(on) {
  state.running = on;
  els.send.disabled = on;
  els.reset.disabled = on;
  els.stop.disabled = !on;
  if (on) els.messages.dataset.state = 'running';
}

async function send() {
  const m = state.model;
  const text = els.input.value.trim();
  if (!m || state.running || !text) return;
  els.messages.dataset.turn = String(++state.turns);
  showMessage(els.error, '');
  const messages = [...state.messages, { role: 'user', content: text }];
  let settings;
  try {
    settings = readSettings();
  } catch (e) {
    showMessage(els.error, errorText(e));
    els.messages.dataset.state = 'error';
    return;
  }
  const stop = new AbortController();
  const previous = state.turn;
  const asked = addMessage('user', text);
  els.input.value = '';
  const turn = newTurn(addMessage('assistant', ''), settings.maxTokens);
  turn.element.classList.add('streaming');
  state.turn = turn;
  state.stop = stop;
  setRunning(true);
  let outcome = 'done';
  try {
    let begin = performance.now();
    const options = { ...settings, lens: els.lensOn.checked, attention: els.attentionOn.checked, signal: stop.signal };
    for await (const step of m.chat.chat(messages, options)) {
      record(turn, step, performance.now() - begin);
      renderer.request();
      begin = performance.now();
    }
  } catch (e) {
    if (stop.signal.aborted) {
      turn.stopped = true;
    } else if (turn.steps === 0) {
      // Refused before its first token (bad settings, a conversation longer than the context):
      // the question goes back to the input, to send again.
      asked.remove();
      turn.element.remove();
      state.turn = previous;
      els.input.value = text;
      showMessage(els.error, errorText(e));
      outcome = 'error';
    } else {
      console.error(e);
      showMessage(els.error, `The model failed: ${errorText(e)}`);
      outcome = 'error';
    }
  } finally {
    // What it said so far is part of the conversation, even when stopped.
    if (turn.steps > 0 || turn.stopped) state.messages = [...messages, { role: 'assistant', content: turn.answer }];
    turn.element.classList.remove('streaming');
    setRunning(false);
    renderer.now();
    els.messages.dataset.state = outcome;
  }
}

function reset() {
  if (state.running) return;
  state.messages = [];
  state.turn = null;
  els.messages.replaceChildren();
  const empty = document.createElement('p');
  empty.className = 'chat-empty gpt-note';
  empty.textContent = 'Ask it something.';
  els.messages.append(empty);
  els.messages.dataset.state = 'idle';
  showMessage(els.error, '');
  els.speed.textContent = '';
  delete els.speed.dataset.tokensPerSecond;
  els.barsCaption.textContent = 'Send a message to see what the model chooses between.';
  clearBars();
  els.lensScroll.hidden = true;
  els.attention.hidden = true;
  els.input.focus();
}

// ---- Drawing -----------------------------------------------------------------------------

const renderer = frameRenderer(render);

function render() {
  const turn = state.turn;
  if (!turn) return;
  const list = els.messages;
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  turn.element.textContent = turn.answer;
  if (atBottom) list.scrollTop = list.scrollHeight;
  drawSpeed(turn);
  drawBars(turn);
  drawLens(turn);
  drawAttention(turn);
}

// For the chosen layer and head, the tokens the newest token weighs most: each one's raw score
// beside its softmax weight.
function drawAttention(turn) {
  const seen = turn.attention;
  els.attention.hidden = !seen;
  if (!seen) return;
  const { layers, heads } = state.model.chat;
  const pick = (input, n) => Math.min(n, Math.max(1, Math.round(Number(input.value)) || 1));
  const [layer, head] = [pick(els.layer, layers), pick(els.head, heads)];
  const keys = seen.keys.length;
  const at = ((layer - 1) * heads + (head - 1)) * keys;
  const weights = seen.weights.subarray(at, at + keys);
  const scores = seen.scores.subarray(at, at + keys);
  const heaviest = likeliest(weights, ATTENDED);
  const query = seen.keys[keys - 1];
  els.attentionCaption.textContent = `Layer ${layer}, head ${head}: what “${shown(query)}”, the token read ` +
    `last, weighs most among the ${plural(keys, 'token')} so far (position 1 is the first).`;
  els.attentionTable.dataset.layer = String(layer);
  els.attentionTable.dataset.head = String(head);
  els.attentionTable.tBodies[0].replaceChildren(...heaviest.map((j) => {
    const row = document.createElement('tr');
    const cells = [shown(seen.keys[j]), String(j + 1), scores[j].toFixed(2)].map((text) => {
      const cell = document.createElement('td');
      cell.textContent = text;
      return cell;
    });
    const weight = document.createElement('td');
    weight.innerHTML = '<span class="gpt-lens-change" aria-hidden="true"><span class="gpt-fill"></span></span> ';
    weight.querySelector('.gpt-fill').style.width = `${weights[j] * 100}%`;
    weight.append(percent(weights[j]));
    row.dataset.weight = String(weights[j]);
    row.dataset.score = String(scores[j]);
    row.append(...cells, weight);
    return row;
  }));
}

// The likeliest tokens after each part of the model, when this answer reads the lens.
function drawLens(turn) {
  const lens = turn.lens;
  els.lensScroll.hidden = !lens;
  if (!lens) return;
  const rows = lens.tokens.length / TOP;
  state.drawLensTable ??= lensTable(els.lens, (rows - 1) / 2, TOP, 'tokens');
  state.drawLensTable(Array.from({ length: rows }, (_, i) => Array.from({ length: TOP }, (_, k) => {
    const token = lens.tokens[i * TOP + k];
    return { text: shown(token), p: lens.probabilities[i * TOP + k], chosen: lens.text !== '' && token === lens.text };
  })), lens.changes);
}

// Prefill: the first step reads the whole rendered conversation. Decode: the steps after it,
// one token each, over the time from the end of the first step to the end of the last.
function drawSpeed(turn) {
  const parts = [];
  if (turn.steps > 0) {
    parts.push(`prefill: ${plural(turn.promptTokens, 'prompt token')} in ${duration(turn.prefillMs)}`);
  }
  if (turn.steps > 1) {
    const perSecond = ((turn.steps - 1) * 1000) / (turn.lastEnd - turn.firstEnd);
    els.speed.dataset.tokensPerSecond = String(perSecond);
    parts.push(`decode: ${plural(turn.steps - 1, 'token')} at ${perSecond.toFixed(perSecond < 1 ? 2 : 1)} tokens/s`);
  } else {
    delete els.speed.dataset.tokensPerSecond;
  }
  if (turn.stopped) parts.push('stopped');
  else if (turn.ended && turn.steps >= turn.maxTokens) parts.push(`cut at the ${turn.maxTokens}-token limit`);
  else if (turn.ended) parts.push('the model ended its turn');
  els.speed.textContent = parts.join(' · ');
}

// The five likeliest tokens (at temperature 1) the step just taken drew from; the one drawn is
// marked when it is among them and wrote a whole token's text.
function drawBars(turn) {
  const top = turn.top;
  if (!top) return;
  els.barsCaption.textContent = `Token ${turn.steps} of the answer: the model chose between`;
  [...els.bars.children].forEach((row, i) => {
    const token = top.tokens[i];
    const p = top.probabilities[i];
    row.hidden = token === undefined;
    if (token === undefined) return;
    // The end-of-turn token writes no text: mark it by its special-token look.
    const chosen = top.text !== '' ? token === top.text : turn.ended && /^<\|.+\|>$/.test(token);
    row.querySelector('.gpt-char').textContent = shown(token);
    row.querySelector('.gpt-fill').style.width = `${p * 100}%`;
    row.querySelector('.gpt-percent').textContent = percent(p);
    row.classList.toggle('chosen', chosen);
    row.setAttribute('aria-label', `${JSON.stringify(token)}: ${percent(p)}${chosen ? ', drawn' : ''}`);
  });
}

function clearBars() {
  for (const row of els.bars.children) {
    row.hidden = false;
    row.classList.remove('chosen');
    row.querySelector('.gpt-char').textContent = '';
    row.querySelector('.gpt-fill').style.width = '0';
    row.querySelector('.gpt-percent').textContent = '';
    row.removeAttribute('aria-label');
  }
}

// ---- Start -------------------------------------------------------------------------------

function buildBars() {
  els.bars.replaceChildren(...Array.from({ length: TOP }, () => {
    const row = document.createElement('div');
    row.className = 'gpt-bar chat-bar';
    row.setAttribute('role', 'listitem');
    row.innerHTML = '<span class="gpt-char"></span><span class="gpt-track" aria-hidden="true">' +
      '<span class="gpt-fill"></span></span><span class="gpt-percent"></span>';
    return row;
  }));
}

function findElements() {
  const ids = {
    lab: 'chat-lab', intro: 'chat-intro', cacheNote: 'chat-cache-note', load: 'chat-load',
    download: 'chat-download', progress: 'chat-progress', progressText: 'chat-progress-text',
    status: 'chat-status', error: 'chat-error', ui: 'chat-ui', temperature: 'chat-temperature',
    topP: 'chat-top-p', topK: 'chat-top-k', seed: 'chat-seed', max: 'chat-max',
    messages: 'chat-messages', form: 'chat-form', input: 'chat-input', send: 'chat-send',
    stop: 'chat-stop', reset: 'chat-reset', speed: 'chat-speed', bars: 'chat-bars',
    barsCaption: 'chat-bars-caption', lensOn: 'chat-lens-on', lens: 'chat-lens',
    lensScroll: 'chat-lens-scroll', attentionOn: 'chat-attention-on', attention: 'chat-attention',
    layer: 'chat-layer', head: 'chat-head', attentionCaption: 'chat-attention-caption',
    attentionTable: 'chat-attention-table',
  };
  for (const [name, id] of Object.entries(ids)) els[name] = document.getElementById(id);
}

// The Transformer tab's model picker: the character GPT, the chat model or the image GPT. Works
// without WebGPU too, to show each model's explanation.
export function initModelPicker() {
  const picker = document.getElementById('tf-model');
  const show = () => {
    const choice = picker.querySelector('input:checked')?.value ?? 'gpt';
    for (const input of picker.querySelectorAll('input')) document.getElementById(`tf-${input.value}`).hidden = input.value !== choice;
  };
  picker.addEventListener('change', show);
  show();
}

// Shows the chat controls; nothing is downloaded until the reader asks.
export async function initChatTab(lab) {
  state.lab = lab;
  findElements();
  buildBars();
  els.lab.hidden = false;
  els.load.addEventListener('click', () => startLoading());
  shareFields('chat', els, ['temperature', 'topP', 'topK', 'seed', 'max']); // a link's settings
  els.form.addEventListener('submit', (event) => {
    event.preventDefault();
    changed('chat');
    send();
  });
  els.stop.addEventListener('click', () => {
    state.stop?.abort();
    els.stop.disabled = true;
  });
  els.reset.addEventListener('click', reset);
  for (const input of [els.layer, els.head]) input.addEventListener('input', () => renderer.request());
  await showCached();
}
