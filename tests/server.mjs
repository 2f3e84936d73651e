// The static server (scripts/static-server.mjs) on a root of its own in a temporary folder:
// a malformed URL answers 400 and the server goes on; no spelling of a path (encoded slashes,
// backslashes, double encoding, NUL bytes, `..`, links out of the root) serves the secret in the
// root's sibling www-secret/; the page's types come back br or gzip as the request allows, with
// the same bytes, and whole with their Content-Length when it allows neither, the GGUF always
// whole; the page's types, CSP and nosniff headers; HEAD. Raw requests, since fetch would
// normalize the paths.
//   node tests/server.mjs
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { serve } from '../scripts/static-server.mjs';

const failures = [];
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures.push(what); };
// A server that throws leaves its request unanswered; the run goes on to say what else holds.
process.on('unhandledRejection', (e) => check(false, `the server threw: ${e.message}`));

// Some KB each, half random so that compression has work but cannot make it up.
const filler = (n) => Buffer.from(Array.from({ length: n }, (_, i) => `${i} ${randomBytes(6).toString('hex')}\n`).join(''));
const FILES = {
  'index.html': Buffer.concat([Buffer.from('<!doctype html><title>root</title>\n'), filler(200)]),
  'app.js': Buffer.concat([Buffer.from('export const x = 1;\n//'), filler(200)]),
  'style.css': Buffer.concat([Buffer.from('body { margin: 0 }\n/*'), filler(200), Buffer.from('*/')]),
  'data.json': Buffer.from(JSON.stringify({ lines: filler(200).toString().split('\n') })),
  'app.wasm': Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), filler(300)]),
  'w.safetensors': Buffer.concat([Buffer.alloc(8, 0), filler(300)]),
  'm.gguf': Buffer.concat([Buffer.from('GGUF'), filler(300)]),
  'nested/index.html': Buffer.from('<!doctype html><title>nested</title>\n'),
};
const TYPES = {
  'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8', 'data.json': 'application/json', 'app.wasm': 'application/wasm',
  'w.safetensors': 'application/octet-stream', 'm.gguf': 'application/octet-stream',
};
const SECRET = 'the secret beside the root';

const dir = await mkdtemp(join(tmpdir(), 'static-server-'));
const root = join(dir, 'www');
await mkdir(join(root, 'nested'), { recursive: true });
await mkdir(join(root, 'linked'));
await mkdir(join(dir, 'www-secret'));
await writeFile(join(dir, 'www-secret/key.txt'), SECRET);
await writeFile(join(dir, 'www-secret/index.html'), SECRET);
for (const [name, bytes] of Object.entries(FILES)) await writeFile(join(root, name), bytes);
await symlink(join(dir, 'www-secret/key.txt'), join(root, 'key.txt')); // a file out of the root
await symlink('../www-secret', join(root, 'out')); // a folder out of the root
await symlink(join(dir, 'www-secret/index.html'), join(root, 'linked/index.html')); // an index out of it
await symlink('app.js', join(root, 'alias.js')); // a link within the root, which may be served

const server = await serve(root, 0);
const { port } = server.address();

// One request on its own connection, the path sent as written.
function get(path, { method = 'GET', headers = {} } = {}) {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', fail).end();
  });
}
// Runs one group of checks; a request that fails is a failed check, not the end of the run.
async function step(what, run) {
  try {
    await run();
  } catch (e) {
    check(false, `${what}: ${e.message}`);
  }
}

await step('malformed URL', async () => {
  const bad = await get('/%E0%A4%A');
  check(bad.status === 400, `GET /%E0%A4%A answers 400 (${bad.status})`);
  const next = await get('/');
  check(next.status === 200 && next.body.equals(FILES['index.html']), `the next request is still served (${next.status})`);
});

const TRAVERSALS = [
  '/..%2fwww-secret/key.txt', '/../www-secret/key.txt', '/%2e%2e/www-secret/key.txt',
  '/.%2e/www-secret/key.txt', '/%2e%2e%2fwww-secret%2fkey.txt', '/..%5cwww-secret%5ckey.txt',
  '/..\\www-secret\\key.txt', '/%252e%252e%252fwww-secret%252fkey.txt', '/nested/..%2f..%2fwww-secret/key.txt',
  '/..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc/passwd', `/${encodeURIComponent(join(dir, 'www-secret/key.txt'))}`,
  '/app.js%00/../../www-secret/key.txt', '/%00../www-secret/key.txt',
  `http://127.0.0.1:${port}/..%2fwww-secret/key.txt`, '//..%2fwww-secret/key.txt',
  '/key.txt', '/out/key.txt', '/out/', '/linked/', '/linked/index.html',
];
for (const path of TRAVERSALS) {
  await step(path, async () => {
    const r = await get(path);
    const leaked = r.body.includes(SECRET);
    check([400, 403, 404].includes(r.status) && !leaked, `GET ${path} answers ${r.status}${leaked ? ' with the secret' : ''}`);
  });
}
await step('a link within the root', async () => {
  const r = await get('/alias.js');
  check(r.status === 200 && r.body.equals(FILES['app.js']), `a link within the root is served (${r.status})`);
});

const DECODE = { br: brotliDecompressSync, gzip: gunzipSync };
for (const name of ['index.html', 'app.js', 'style.css', 'data.json', 'app.wasm', 'w.safetensors']) {
  await step(name, async () => {
    for (const [accept, want] of [['br, gzip', 'br'], ['gzip', 'gzip']]) {
      const r = await get(`/${name}`, { headers: { 'accept-encoding': accept } });
      const { 'content-encoding': encoding = 'identity', 'content-length': length = 'none', vary = 'none' } = r.headers;
      check(r.status === 200 && encoding === want && DECODE[want](r.body).equals(FILES[name]) &&
        /accept-encoding/i.test(vary) && length === 'none',
        `${name} with Accept-Encoding "${accept}" is ${want}, the same bytes once decoded, Vary: Accept-Encoding, ` +
        `no Content-Length (${r.status}, ${encoding}, Vary: ${vary}, Content-Length: ${length})`);
    }
    const r = await get(`/${name}`);
    check(r.status === 200 && !r.headers['content-encoding'] && r.body.equals(FILES[name]) &&
      r.headers['content-length'] === String(FILES[name].length),
      `${name} without Accept-Encoding: whole, Content-Length ${r.headers['content-length']}`);
    check(r.headers['content-type'] === TYPES[name], `${name} is ${r.headers['content-type']}`);
  });
}

await step('m.gguf', async () => {
  const r = await get('/m.gguf', { headers: { 'accept-encoding': 'br, gzip' } });
  check(r.status === 200 && !r.headers['content-encoding'] && r.body.equals(FILES['m.gguf']) &&
    r.headers['content-length'] === String(FILES['m.gguf'].length) && r.headers['content-type'] === TYPES['m.gguf'],
    `m.gguf with Accept-Encoding "br, gzip": whole, ${r.headers['content-type']}, Content-Length ${r.headers['content-length']}`);
});

await step('headers', async () => {
  const r = await get('/');
  const csp = r.headers['content-security-policy'] ?? '';
  check(csp.startsWith("default-src 'self'; script-src 'self' 'wasm-unsafe-eval';") && csp.includes("frame-ancestors 'none'"),
    'the Content-Security-Policy header is the page\'s');
  check(r.headers['x-content-type-options'] === 'nosniff', 'X-Content-Type-Options: nosniff');
  check(r.headers['content-type'] === TYPES['index.html'] && r.body.equals(FILES['index.html']), '/ is index.html');
  const nested = await get('/nested/');
  check(nested.status === 200 && nested.body.equals(FILES['nested/index.html']), '/nested/ is nested/index.html');
});

await step('HEAD', async () => {
  for (const name of ['m.gguf', 'app.wasm']) {
    const r = await get(`/${name}`, { method: 'HEAD', headers: { 'accept-encoding': 'br, gzip' } });
    check(r.status === 200 && r.body.length === 0 && r.headers['content-type'] === TYPES[name] &&
      r.headers['content-length'] === String(FILES[name].length),
      `HEAD /${name}: ${r.status}, ${r.headers['content-type']}, Content-Length ${r.headers['content-length']}, no body`);
  }
  const missing = await get('/missing.js', { method: 'HEAD' });
  check(missing.status === 404, `HEAD /missing.js: ${missing.status}`);
});

server.close();
await rm(dir, { recursive: true, force: true });
console.log(failures.length ? `\n${failures.length} check(s) failed` : '\nall static server checks passed');
process.exit(failures.length ? 1 : 0);
