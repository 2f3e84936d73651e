// Runs inside the Web Worker that createWorkerLab starts: holds the lab, its models and their
// streams, and answers the main thread's calls on them (see worker.js for the messages).
import { createLab } from './index.js';
import { serializable } from './errors.js';

const objects = new Map([[0, { createLab }]]); // id -> lab, model or stream
const controllers = new Map(); // call id -> the AbortController standing for its signal
let nextId = 1;

const plain = (v) => v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
const AsyncGeneratorFunction = (async function* () {}).constructor;

// The public methods of `object`'s class and its ancestors (not the constructor, getters, or
// names with a leading _), split into those that stream (async generators) and the others.
function methodsOf(object) {
  const methods = new Set();
  const streams = new Set();
  for (let p = Object.getPrototypeOf(object); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const [name, { value }] of Object.entries(Object.getOwnPropertyDescriptors(p))) {
      if (typeof value !== 'function' || name === 'constructor' || name.startsWith('_')) continue;
      (value instanceof AsyncGeneratorFunction ? streams : methods).add(name);
    }
  }
  return { methods: [...methods], streams: [...streams] };
}

// An object's own data, as the main thread's twin shows it.
const infoOf = (object) => Object.fromEntries(Object.entries(object).filter(([key]) => !key.startsWith('_')));

// The buffers of the typed arrays in a result, moved to the main thread rather than copied.
function buffers(value, found = new Set()) {
  if (ArrayBuffer.isView(value)) found.add(value.buffer);
  else if (Array.isArray(value) || plain(value)) Object.values(value).forEach((v) => buffers(v, found));
  return [...found];
}

// Options as the main thread sent them, with signal and onProgress made real again.
function revive(call, arg) {
  if (!plain(arg)) return arg;
  const out = { ...arg };
  if (arg.signal) {
    const controller = new AbortController();
    controllers.set(call, controller);
    out.signal = controller.signal;
  } else delete out.signal;
  if (arg.onProgress) out.onProgress = (progress) => postMessage({ call, progress });
  else delete out.onProgress;
  return out;
}

// A result as it can cross: a model or a stream stays here under an id; data goes as it is.
function send(call, result) {
  if (result?.[Symbol.asyncIterator]) {
    const id = nextId++;
    objects.set(id, { stream: result, call });
    return { stream: id };
  }
  controllers.delete(call);
  if (result?.kind) {
    const id = nextId++;
    objects.set(id, result);
    return { remote: id, info: infoOf(result), ...methodsOf(result) };
  }
  return result;
}

async function answer({ call, target, method, args }) {
  const object = objects.get(target);
  if (!object) throw new Error(`genai-lab: the worker holds no object ${target}`);
  if (object.stream) {
    const result = await object.stream[method]();
    if (result.done) release(target);
    return result;
  }
  // A disposed model stays listed, so that a call on it throws the model's own message.
  return send(call, await object[method](...args.map((a) => revive(call, a))));
}

function release(id) {
  const entry = objects.get(id);
  objects.delete(id);
  controllers.delete(entry?.call);
  return entry?.stream.return();
}

onmessage = async ({ data }) => {
  if (data.abort !== undefined) controllers.get(data.abort)?.abort();
  else if (data.release !== undefined) await release(data.release)?.catch(() => {});
  else {
    try {
      const value = await answer(data);
      postMessage({ call: data.call, value }, buffers(value));
    } catch (e) {
      controllers.delete(data.call);
      postMessage({ call: data.call, error: serializable(e) });
    }
  }
};
