// Assembles the npm package in target/npm/genai-lab/ from npm/ (the hand-written JS, types,
// README and package.json), the licence files, target/wasm-pkg/ (the wasm-pack output) and the small models of www/models/.
// Writes files.js: the package version and, per model file, a literal
// new URL('./models/<file>', import.meta.url) (so bundlers emit it as an asset) with its size
// and SHA-256 from www/models/manifest.json.
//   node scripts/npm-package.mjs
import { copyFile, cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const OUT = `${root}target/npm/genai-lab/`;
const MODELS = ['gan_generator', 'gan_discriminator', 'vae', 'vae2d', 'diffusion', 'vqvae', 'imagegpt']
  .flatMap((m) => ['fashion', 'mnist'].map((d) => `${m}_${d}`))
  .concat('gpt_shakespeare')
  .flatMap((m) => [`${m}.json`, `${m}.safetensors`]);
const WASM = ['genai_lab.js', 'genai_lab.d.ts', 'genai_lab_bg.wasm'];

const cargo = await readFile(`${root}Cargo.toml`, 'utf8');
const version = cargo.match(/^version = "([^"]+)"$/m)?.[1];
if (!version) throw new Error('Cargo.toml names no version');
const { files } = JSON.parse(await readFile(`${root}www/models/manifest.json`, 'utf8'));

await rm(OUT, { recursive: true, force: true });
await mkdir(`${OUT}models`, { recursive: true });
await mkdir(`${OUT}pkg`);
for (const name of await readdir(`${root}npm`)) {
  if (name !== 'package.json') await cp(`${root}npm/${name}`, OUT + name);
}
for (const name of ['LICENSE-MIT', 'LICENSE-APACHE']) await copyFile(`${root}${name}`, OUT + name);
for (const name of WASM) await copyFile(`${root}target/wasm-pkg/${name}`, `${OUT}pkg/${name}`);
for (const name of MODELS) await copyFile(`${root}www/models/${name}`, `${OUT}models/${name}`);

const pkg = JSON.parse(await readFile(`${root}npm/package.json`, 'utf8'));
await writeFile(`${OUT}package.json`, `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);

const entries = MODELS.map((name) => {
  const { size, sha256 } = files[name];
  return `  '${name}': { url: new URL('./models/${name}', import.meta.url), size: ${size}, sha256: '${sha256}' },`;
});
await writeFile(`${OUT}files.js`, `// Written by scripts/npm-package.mjs: the package version and its model files.
export const VERSION = '${version}';
export const FILES = {
${entries.join('\n')}
};
`);
console.log(`npm package: ${OUT} (version ${version}, ${MODELS.length} model files)`);
