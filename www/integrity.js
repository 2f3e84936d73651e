// The page's own data files under models/ (the VAE's map of test images, the training images the
// GAN's samples are compared with) are checked against models/manifest.json (size and SHA-256,
// written by scripts/models-manifest.mjs) before anything reads them: a file that does not match,
// or that the manifest does not list, is an error, never used. The models themselves come from
// the genai-lab package, which checks its own files; the chat model's SHA-256 is read from here.
// The manifest is fetched once per page (again after a failed fetch).

const MANIFEST = 'models/manifest.json';

let manifest = null; // Promise of { name: { size, sha256 } }

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}

function loadManifest() {
  if (!manifest) {
    manifest = fetchOk(MANIFEST).then((r) => r.json()).then((m) => {
      if (typeof m?.files !== 'object') throw new Error(`${MANIFEST} lists no files`);
      return m.files;
    });
    manifest.catch(() => { manifest = null; }); // a failed fetch may be retried
  }
  return manifest;
}

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

// The manifest's { size, sha256 } of the file at `url` (a path under models/).
async function manifestEntry(url) {
  const entry = (await loadManifest())[url.replace(/^models\//, '')];
  if (!entry) throw new Error(`${url} is not listed in ${MANIFEST}, so it cannot be checked and is not used`);
  return entry;
}

// Resolves if `bytes` are the file at `url` that the manifest lists; throws an error that says
// what is wrong otherwise.
async function checkBytes(url, bytes) {
  const entry = await manifestEntry(url);
  if (!crypto.subtle) {
    throw new Error(`${url} cannot be checked: the browser offers SHA-256 only to pages served over https or from localhost`);
  }
  if (bytes.length !== entry.size || hex(await crypto.subtle.digest('SHA-256', bytes)) !== entry.sha256) {
    throw new Error(`${url} does not match its SHA-256 in the manifest: the file is corrupt or was replaced`);
  }
}

// The bytes of a file under models/, checked.
async function fetchChecked(url) {
  const [bytes] = await Promise.all([
    fetchOk(url).then((r) => r.arrayBuffer()).then((b) => new Uint8Array(b)),
    loadManifest(),
  ]);
  await checkBytes(url, bytes);
  return bytes;
}

const fetchJson = async (url) => JSON.parse(new TextDecoder().decode(await fetchChecked(url)));

export { manifestEntry, fetchChecked, fetchJson };
