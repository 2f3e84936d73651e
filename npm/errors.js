// What every failure of the package throws: one class per kind, so that code can tell a bad
// argument from a damaged file or a lost device without reading messages. Each has a `name`
// (the class's own name) and a `code`, which survive a trip through the worker; `instanceof` works
// on the thread that called.

const PREFIX = 'genai-lab: ';

/**
 * The base class: every error the package throws is one. Thrown as itself for what the classes
 * below do not cover: the wasm module or the worker did not start, the adapter refused a device.
 * `url` and `status` are set where they apply (IntegrityError, NetworkError).
 */
export class GenaiLabError extends Error {
  static title = 'GenaiLabError';
  static code = 'genai-lab';

  constructor(message, { url, status, ...options } = {}) {
    super(message, options);
    this.name = new.target.title; // a string, so that minifying the class names keeps it
    this.code = new.target.code;
    if (url !== undefined) this.url = url;
    if (status !== undefined) this.status = status;
  }
}

// A subclass of GenaiLabError named `title`, with `code`.
const kind = (title, code) => class extends GenaiLabError {
  static title = title;
  static code = code;
};

/** An argument or setting out of range, of the wrong type, or a call out of order. */
export const InvalidArgumentError = kind('InvalidArgumentError', 'invalid-argument');
/** A downloaded (or cached) file, `url`, whose SHA-256 is not the one the package expects. */
export const IntegrityError = kind('IntegrityError', 'integrity');
/** A file that could not be downloaded: `url`, and `status` when the server answered. */
export const NetworkError = kind('NetworkError', 'network');
/** A file that is not a model the package can run, or a model this device cannot run. */
export const UnsupportedModelError = kind('UnsupportedModelError', 'unsupported-model');
/** The GPU device was lost (a driver reset, the GPU taken away): the next call makes a new one. */
export const DeviceLostError = kind('DeviceLostError', 'device-lost');
/** The work needs more memory than the device gives: use fewer images at once. */
export const OutOfMemoryError = kind('OutOfMemoryError', 'out-of-memory');
/** A training run whose loss became NaN or infinite: make a new trainer, with smaller learning rates. */
export const TrainingDivergedError = kind('TrainingDivergedError', 'training-diverged');
/** A call on a lab or model after its dispose(). */
export const DisposedError = kind('DisposedError', 'disposed');
/** A call whose signal was aborted; the signal's reason is its `cause`. */
export const AbortError = kind('AbortError', 'abort');

const CLASSES = Object.fromEntries([GenaiLabError, InvalidArgumentError, IntegrityError, NetworkError,
  UnsupportedModelError, DeviceLostError, OutOfMemoryError, TrainingDivergedError, DisposedError, AbortError]
  .map((c) => [c.title, c]));

/** An error of the class `name` names (a plain GenaiLabError for an unknown one). */
export function errorOf(name, message, details = {}) {
  const Class = CLASSES[name] ?? GenaiLabError;
  return new Class(message.startsWith(PREFIX) ? message : PREFIX + message, details);
}

/** The AbortError of a signal aborted for `reason`. */
export const abortError = (reason) => new AbortError(`${PREFIX}aborted`, { cause: reason });

/**
 * `e` as one of the classes above: the wasm module's errors (a JS Error whose name is a class's
 * name) and an aborted signal's reason become ours; ours pass through.
 */
export function typed(e) {
  if (e instanceof GenaiLabError) return e;
  if (e?.name === 'AbortError') return abortError(e);
  if (e instanceof Error && CLASSES[e.name]) return errorOf(e.name, e.message);
  return e;
}

/** Throws an AbortError if `signal` was aborted. */
export function throwIfAborted(signal) {
  if (signal?.aborted) throw abortError(signal.reason);
}

/** The fields of an error that a structured clone would drop: what crosses from the worker. */
export function serializable(e) {
  const t = typed(e);
  return { name: t?.name ?? 'Error', message: t?.message ?? String(e), url: t?.url, status: t?.status };
}
