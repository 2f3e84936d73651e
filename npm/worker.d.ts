import type { Lab, LabOptions } from './index.js';

export type * from './index.js';
export { isCached, standardNormal, toImageData } from './index.js';
export {
  AbortError, DeviceLostError, DisposedError, GenaiLabError, IntegrityError, InvalidArgumentError,
  NetworkError, OutOfMemoryError, TrainingDivergedError, UnsupportedModelError,
} from './index.js';

/**
 * Starts a module Web Worker running a lab, and returns its twin here: the same `Lab` API as
 * `createLab()`, with every model call, stream, progress callback and abort signal passed across,
 * so that generation never blocks the page. `dispose()` also ends the worker.
 */
export function createWorkerLab(options?: LabOptions): Promise<Lab>;
