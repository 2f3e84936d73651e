// The service worker that lets the page reload with the network off. Network first: while
// online every request goes to the server, so a new build is always what runs, and each answer
// is kept in one cache; offline, the kept answer is served. On install it keeps the page's shell
// and the genai-lab package's code (its worker's requests are not all this worker's to see); the
// page's data files are kept as the page fetches them (those fetched before this worker took over
// are sent to it by main.js). Model files are left alone: the package keeps them in its own
// cache. The page still checks every data file against the manifest, whichever way it came.
// Bump VERSION when what is kept changes shape: activation deletes every other version.
const VERSION = 6;
const CACHE = `genai-lab-shell-v${VERSION}`;
const SHELL = [
  './', 'index.html', 'style.css', 'main.js', 'gan.js', 'gan-train.js', 'vae.js', 'vae-train.js', 'diffusion.js',
  'gpt.js', 'chat.js', 'imagegpt.js', 'integrity.js', 'ui.js', 'route.js', 'overview.js', 'models/manifest.json',
  ...['worker.js', 'worker-thread.js', 'index.js', 'models.js', 'trainers.js', 'fetch.js', 'files.js', 'images.js',
    'errors.js', 'pkg/genai_lab.js', 'pkg/genai_lab_bg.wasm'].map((file) => `genai-lab/${file}`),
];

// Same-origin GETs, except model files (the package's, and the chat model's GGUF).
const kept = (url, method = 'GET') => method === 'GET' && url.origin === self.location.origin &&
  !url.pathname.includes('/genai-lab/models/') && !url.pathname.endsWith('.gguf');

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith('genai-lab-shell-') && n !== CACHE)
      .map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

async function networkFirst(event) {
  const { request } = event;
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) event.waitUntil(cache.put(request, response.clone()).catch(() => {}));
    return response;
  } catch (e) {
    const cached = await cache.match(request);
    if (cached) return cached;
    throw e;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (!kept(new URL(request.url), request.method) || request.headers.has('range')) return;
  event.respondWith(networkFirst(event));
});

// { keep: [url, …] }: files the page loaded before this worker controlled it.
self.addEventListener('message', (event) => {
  const urls = (event.data?.keep ?? []).filter((u) => kept(new URL(u, self.location)));
  event.waitUntil(caches.open(CACHE).then((cache) => Promise.all(urls.map(async (url) => {
    if (!(await cache.match(url))) await cache.add(url).catch(() => {});
  }))));
});
