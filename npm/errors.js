// What every failure of the package throws: one class per kind, so that code can tell a bad
// argument from a damaged file or a lost device without reading messages. Each has a `name`
// (the class's own name) and a `code`, which survive a trip through the worker; `instanceof` works
// on the thread that called.

/**
 * The base class: every error the package throws is one. Thrown as itself for what the classes
 * below do not cover: the wasm module or the worker did not start, the adapter refused a device.
 */
export class GenaiLabError extends Error {
  static title = 'GenaiLabError';
  static code = 'genai-lab';

  constructor(message, options) {
    super(message, options);
    this.name = new.target.title; // a string, so that minifying the class names keeps it
    this.code = new.target.code;
  }
}

/** An argument or setting out of range, of the wrong type, or a call out of order. */
export class InvalidArgumentError extends GenaiLabError {
  static title = 'InvalidArgumentError';
  static code = 'invalid-argument';
}

/** A downloaded (or cached) file whose SHA-256 is not the one the package expects. */
export class IntegrityError extends GenaiLabError {
  static title = 'IntegrityError';
  static code = 'integrity';

  constructor(message, { url, ...options } = {}) {
    super(message, options);
    this.url = url;
  }
}

/** A file that could not be downloaded: `url`, and `status` when the server answered. */
export class NetworkError extends GenaiLabError {
  static title = 'NetworkError';
  static code = 'network';

  constructor(message, { url, status, ...options } = {}) {
    super(message, options);
    this.url = url;
    this.status = status;
  }
}

/** A file that is not a model the package can run, or a model this device cannot run. */
export class UnsupportedModelError extends GenaiLabError {
  static title = 'UnsupportedModelError';
  static code = 'unsupported-model';
}

/** The GPU device was lost (a driver reset, the GPU taken away): the next call makes a new one. */
export class DeviceLostError extends GenaiLabError {
  static title = 'DeviceLostError';
  static code = 'device-lost';
}

/** The work needs more memory than the device gives: use fewer images at once. */
export class OutOfMemoryError extends GenaiLabError {
  static title = 'OutOfMemoryError';
  static code = 'out-of-memory';
}

/** A call on a lab or model after its dispose(). */
export class DisposedError extends GenaiLabError {
  static title = 'DisposedError';
  static code = 'disposed';
}

/** A call whose signal was aborted; the signal's reason is its `cause`. */
export class AbortError extends GenaiLabError {
  static title = 'AbortError';
  static code = 'abort';
}

const CLASSES = Object.fromEntries([GenaiLabError, InvalidArgumentError, IntegrityError, NetworkError,
  UnsupportedModelError, DeviceLostError, OutOfMemoryError, DisposedError, AbortError]
  .map((c) => [c.title, c]));

const PREFIX = 'genai-lab: ';

/** An error of the class `name` names (a plain GenaiLabError for an unknown one). */
export function errorOf(name, message, details = {}) {
  const Class = CLASSES[name] ?? GenaiLabError;
  return new Class(message.startsWith(PREFIX) ? message : PREFIX + message, details);
}

/**
 * `e` as one of the classes above: the wasm module's errors (a JS Error whose name is a class's
 * name) and an aborted signal's reason become ours; ours pass through.
 */
export function typed(e) {
  if (e instanceof GenaiLabError) return e;
  if (e?.name === 'AbortError') return new AbortError(`${PREFIX}aborted`, { cause: e });
  if (e instanceof Error && CLASSES[e.name]) return errorOf(e.name, e.message);
  return e;
}

/** Throws an AbortError if `signal` was aborted. */
export function throwIfAborted(signal) {
  if (signal?.aborted) throw new AbortError(`${PREFIX}aborted`, { cause: signal.reason });
}

/** The fields of an error that a structured clone would drop: what crosses from the worker. */
export function serializable(e) {
  const t = typed(e);
  return { name: t?.name ?? 'Error', message: t?.message ?? String(e), url: t?.url, status: t?.status };
}
