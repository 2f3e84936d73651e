// Writes www/models/manifest.json: the size and SHA-256 of every file in www/models/, which the
// page checks each file it loads against (www/integrity.js). The chat model's GGUF is not
// committed, so its entry is pinned, not computed: its SHA-256 is read from GGUF_SHA256 in
// scripts/fetch-smollm.sh (the one place it is kept), its size from GGUF_SIZE below.
// With --check it writes nothing and fails if the committed manifest differs from the files.
//   node scripts/models-manifest.mjs [--check]
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const DIR = `${root}www/models/`;
const OUT = 'manifest.json';
const GGUF = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const GGUF_SIZE = 98362432;
// Left out: the manifest itself, and a download fetch-smollm.sh has not finished.
const SKIP = new Set([OUT, `${GGUF}.part`]);

const fetchScript = await readFile(`${root}scripts/fetch-smollm.sh`, 'utf8');
const pinned = fetchScript.match(/^GGUF_SHA256=([0-9a-f]{64})$/m)?.[1];
if (!pinned) throw new Error('scripts/fetch-smollm.sh sets no GGUF_SHA256');

const files = {};
for (const name of (await readdir(DIR)).sort()) {
  if (SKIP.has(name) || name === GGUF) continue;
  const bytes = await readFile(DIR + name);
  files[name] = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}
files[GGUF] = { size: GGUF_SIZE, sha256: pinned };

const sorted = Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)));
const text = `${JSON.stringify({ generator: 'scripts/models-manifest.mjs', files: sorted }, null, 1)}\n`;

if (process.argv.includes('--check')) {
  const committed = await readFile(DIR + OUT, 'utf8').catch(() => '');
  if (committed !== text) {
    console.error(`www/models/${OUT} is stale: run node scripts/models-manifest.mjs and commit it`);
    process.exit(1);
  }
  console.log(`www/models/${OUT}: ${Object.keys(files).length} files, up to date`);
} else {
  await writeFile(DIR + OUT, text);
  console.log(`wrote www/models/${OUT}: ${Object.keys(files).length} files`);
}
