// createWorkerLab: the same API as createLab, with the lab and its models in a Web Worker, so a
// long generation never freezes the page. Messages to the worker: { call, target, method, args }
// (target 0 is the worker itself), { abort: call } when a call's signal aborts, { release: stream }
// when a stream is left. Answers: { call, value } or { call, error }, and { call, progress }. A
// lab or model comes back as { remote: id, info, methods, streams }: its data, and the names of
// its methods and of those that stream (worker-thread.js reads them off its class).
import { DisposedError, GenaiLabError, abortError, errorOf } from './errors.js';

export { standardNormal, toImageData } from './images.js';
export { isCached } from './fetch.js';
export * from './errors.js';

const plain = (v) => v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
const signalOf = (args) => args.find(plain)?.signal;

const revive = ({ name, message, url, status }) => errorOf(name, message, { url, status });

// What a call that met `error` rejects with: as without a worker, AbortError once its signal aborted.
const aborted = (signal, error) => (signal?.aborted ? abortError(signal.reason) : error);

class Link {
  #worker;
  #pending = new Map(); // call id -> { resolve, reject, onProgress }
  #next = 1;
  #closed = null; // the error every call meets once the worker has ended

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      const pending = this.#pending.get(data.call);
      if (data.progress) return pending?.onProgress?.(data.progress);
      this.#pending.delete(data.call);
      if (data.error) pending?.reject(revive(data.error));
      else pending?.resolve(data.value);
    };
    worker.onerror = (e) => this.close(new GenaiLabError(`genai-lab: the worker failed (${e.message ?? 'it did not start'}): ` +
      "serve its module from the page's origin and allow worker-src 'self' in the Content-Security-Policy"));
  }

  post(message) {
    this.#worker.postMessage(message);
  }

  // Calls `method` on the worker's object `target`. Functions cannot cross, so a signal and an
  // onProgress callback in an options object travel as flags, and relative URLs are resolved
  // against this page, not the worker's script.
  async call(target, method, args = []) {
    if (this.#closed) throw this.#closed;
    const call = this.#next++;
    let onProgress;
    const sent = args.map((arg) => {
      if (!plain(arg)) return arg;
      const { signal, ...rest } = arg;
      onProgress ??= rest.onProgress;
      for (const key of ['url', 'baseUrl']) if (rest[key]) rest[key] = new URL(rest[key], document.baseURI).href;
      if (signal) {
        if (signal.aborted) throw aborted(signal);
        signal.addEventListener('abort', () => this.post({ abort: call }), { once: true });
      }
      return { ...rest, signal: Boolean(signal), onProgress: Boolean(onProgress) };
    });
    const value = await new Promise((resolve, reject) => {
      this.#pending.set(call, { resolve, reject, onProgress });
      this.post({ call, target, method, args: sent });
    }).catch((e) => {
      throw aborted(signalOf(args), e);
    });
    return this.#wrap(value);
  }

  async* stream(target, method, args) {
    const { stream } = await this.call(target, method, args);
    try {
      for (;;) {
        const { done, value } = await this.call(stream, 'next').catch((e) => {
          throw aborted(signalOf(args), e);
        });
        if (done) return;
        yield value;
      }
    } finally {
      this.post({ release: stream });
    }
  }

  #wrap(value) {
    return value?.remote ? this.#remote(value) : value;
  }

  #remote({ remote: id, info, methods, streams }) {
    const object = { ...info };
    for (const m of methods) object[m] = (...args) => this.call(id, m, args);
    for (const m of streams) object[m] = (...args) => this.stream(id, m, args);
    if (info.kind === 'Lab') {
      object.dispose = () => this.call(id, 'dispose').finally(() =>
        this.close(new DisposedError('genai-lab: this lab was disposed: create another with createWorkerLab()')));
    }
    return object;
  }

  // Ends the worker and fails every call still waiting.
  close(error) {
    this.#closed = error;
    this.#worker.terminate();
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }
}

/**
 * Starts a Web Worker that runs a lab (see createLab, whose options it takes), and returns that
 * lab's remote twin.
 */
export async function createWorkerLab(options = {}) {
  const worker = new Worker(new URL('./worker-thread.js', import.meta.url), { type: 'module' });
  return new Link(worker).call(0, 'createLab', [options]);
}
