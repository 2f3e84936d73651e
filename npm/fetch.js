// Downloads model files with progress, checks each against its SHA-256, and keeps them in the
// browser's Cache API under a name that carries the package version, so a second load reads no
// network and a new version's files replace the old ones.
import { VERSION } from './files.js';
import { GenaiLabError, IntegrityError, NetworkError, throwIfAborted, typed } from './errors.js';

const PREFIX = 'genai-lab-models-';
const CACHE = `${PREFIX}${VERSION}`;

// The Cache API exists only in secure contexts (https, localhost); elsewhere every load downloads.
const hasCache = () => typeof caches !== 'undefined';

/** Deletes the caches that older (or other) versions of the package left behind. */
export async function dropOldCaches() {
  if (!hasCache()) return;
  const names = await caches.keys();
  await Promise.all(names.filter((n) => n.startsWith(PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
}

/**
 * Whether the browser's cache holds a copy of the file at `url` (relative to the page) from an
 * earlier load, so that loading it again reads no network.
 */
export async function isCached(url) {
  if (!hasCache()) return false;
  const cache = await caches.open(CACHE);
  return Boolean(await cache.match(String(new URL(url, globalThis.location?.href))));
}

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

async function sha256(bytes) {
  if (!crypto.subtle) {
    throw new GenaiLabError('genai-lab: the browser offers SHA-256 only to pages served over https or from ' +
      'localhost, so model files cannot be checked: serve the page from one of those');
  }
  return hex(await crypto.subtle.digest('SHA-256', bytes));
}

// The body of `response` as bytes, calling `onBytes(received, total)` as they arrive.
async function readBody(response, onBytes) {
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  onBytes(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onBytes(received, total);
  }
  const bytes = new Uint8Array(received);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

// Waits before another try of a download that failed.
const RETRY_MS = [250, 500, 1000];

async function download(url, signal, onBytes) {
  for (let tries = 0; ; tries++) {
    let response;
    try {
      response = await fetch(url, { signal });
      if (response.ok) return await readBody(response, onBytes);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      // Chromium fails some of several fetches of one URL made at once ("Failed to fetch"), and
      // a body can break off: a failure that is not the server's answer is tried again.
      if (tries < RETRY_MS.length) {
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS[tries]));
        throwIfAborted(signal);
        continue;
      }
      throw new NetworkError(`genai-lab: could not download ${url} (${e.message}): check the network, and ` +
        'that the page may fetch it (same origin, or CORS and the Content-Security-Policy allow it)', { url });
    }
    throw new NetworkError(`genai-lab: ${url} answered HTTP ${response.status}: serve the file there, or pass ` +
      'the URL where it is served', { url, status: response.status });
  }
}

// The bytes a data: URL holds. Bundlers inline small files (Vite: under 4 KB) this way, and a
// Content-Security-Policy's connect-src may refuse to fetch it, so it is decoded here.
function dataUrlBytes(url) {
  const comma = url.indexOf(',');
  const payload = url.slice(comma + 1);
  if (url.slice(0, comma).endsWith(';base64')) return Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
  return new TextEncoder().encode(decodeURIComponent(payload));
}

async function checked(file, bytes) {
  if (file.sha256 && (await sha256(bytes)) !== file.sha256) {
    throw new IntegrityError(`genai-lab: ${file.name} does not match its SHA-256: the file is damaged or is another ` +
      'version; serve the file this package ships (or, for your own weights, load them with verify: false)',
    { url: String(file.url) });
  }
  return bytes;
}

// One file's bytes, from the cache when it holds a copy whose SHA-256 matches, else from the
// network (then cached). `file`: { url, sha256? }; `onBytes(received, total, cached)`.
async function fetchFile(file, { signal, onBytes }) {
  const key = String(file.url);
  if (key.startsWith('data:')) {
    const bytes = dataUrlBytes(key);
    onBytes(bytes.length, bytes.length, true);
    return checked(file, bytes);
  }
  const cache = hasCache() ? await caches.open(CACHE) : null;
  const hit = await cache?.match(key);
  if (hit) {
    // A copy that cannot be read whole is fetched again, as a stale one is.
    const kept = await readBody(hit, (got, total) => onBytes(got, total, true)).catch(() => null);
    if (kept && (!file.sha256 || (await sha256(kept)) === file.sha256)) return kept;
    await cache.delete(key).catch(() => {}); // stale, damaged or unreadable: fetch it again
  }
  const bytes = await checked(file, await download(key, signal, (got, total) => onBytes(got, total, false)));
  // A full disk or quota must not fail the load: the file is simply not kept.
  await cache?.put(key, new Response(bytes, { headers: { 'content-length': String(bytes.length) } }))
    .catch(() => {});
  return bytes;
}

/**
 * The bytes of every file in `files` ([{ name, url, size?, sha256? }]), fetched together.
 * `onProgress({ file, loaded, total, cached })` reports bytes over all of them (`total` 0 while a
 * size is unknown); `signal` cancels the downloads.
 */
export async function fetchFiles(files, { onProgress, signal } = {}) {
  throwIfAborted(signal);
  const got = files.map((f) => ({ loaded: 0, total: f.size ?? 0 }));
  const report = (i, loaded, total, cached) => {
    got[i] = { loaded, total: total || files[i].size || 0 };
    const sum = (key) => got.reduce((s, g) => s + g[key], 0);
    const known = got.every((g) => g.total > 0);
    onProgress?.({ file: files[i].name, loaded: sum('loaded'), total: known ? sum('total') : 0, cached });
  };
  // The first file that fails cancels the others: the load has failed, their bytes are of no use.
  const all = new AbortController();
  const cancel = () => all.abort(signal.reason);
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    const bytes = await Promise.all(files.map((f, i) =>
      fetchFile(f, { signal: all.signal, onBytes: (loaded, total, cached) => report(i, loaded, total, cached) })
        .catch((e) => { all.abort(e); throw e; })));
    throwIfAborted(signal);
    return bytes;
  } catch (e) {
    throwIfAborted(signal);
    throw typed(e);
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
}
