// The static file server for www/: `send` serves the files (HEAD, index.html, ETags, errors) and
// `compression` compresses them, both from the expressjs project. Ours are the MIME types the
// page needs (.wasm must be application/wasm for streaming compilation), the page's
// Content-Security-Policy, which files are compressed, and that nothing outside the root is
// served, not even through a symbolic link (send checks only the path's spelling).
import { createServer } from 'node:http';
import { realpath } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import compression from 'compression';
import send from 'send';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.safetensors': 'application/octet-stream',
  '.gguf': 'application/octet-stream', '.ts': 'text/plain; charset=utf-8',
};
// Sent br or gzip when the browser accepts it. Not .gguf: quantized weights barely shrink, and a
// compressed answer has no Content-Length, which the page's download progress reads.
const COMPRESSED = new Set(['.html', '.js', '.css', '.json', '.wasm', '.safetensors', '.svg', '.ts']);

// The page's own policy (the meta tag in www/index.html), plus what only a header can say.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
  "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; object-src 'none'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function fail(res, status) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`HTTP ${status}\n`);
}

// Whether `file` (an absolute, normalized path) and, once links are followed, what it names are
// inside `root`. A directory stands for its index.html. What does not exist is inside: send
// answers 404 for it.
async function inside(root, file) {
  const within = (path) => path === root || path.startsWith(join(root, sep));
  if (!within(file)) return false;
  try {
    const real = await realpath(file);
    return within(real) && within(await realpath(join(real, 'index.html')).catch(() => real));
  } catch {
    return true;
  }
}

export async function serve(root, port) {
  root = await realpath(resolve(root));
  const compressible = new WeakSet(); // the responses that carry a file of a type in COMPRESSED
  const compress = compression({ filter: (req, res) => compressible.has(res) });

  async function respond(req, res) {
    let pathname, path;
    try {
      pathname = new URL(req.url, 'http://x').pathname;
      path = decodeURIComponent(pathname);
    } catch {
      return fail(res, 400); // a malformed URL or percent-escape
    }
    if (path.includes('\0')) return fail(res, 400);
    if (!(await inside(root, join(root, path)))) return fail(res, 403);
    // send decodes `pathname` the same way, so it serves the file just checked. No ranges: a
    // compressed part of a file would not be the part asked for.
    send(req, pathname, { root, acceptRanges: false })
      .on('headers', (_, file) => {
        res.setHeader('content-type', TYPES[extname(file)] ?? 'application/octet-stream');
        res.setHeader('content-security-policy', CSP);
        res.setHeader('x-content-type-options', 'nosniff');
        if (COMPRESSED.has(extname(file))) compressible.add(res);
      })
      .on('error', (e) => fail(res, e.status ?? 500))
      .pipe(res);
  }

  const server = createServer((req, res) => compress(req, res, () => respond(req, res).catch(() => fail(res, 500))));
  return new Promise((done, failed) => {
    server.once('error', failed);
    server.listen(port, '127.0.0.1', () => done(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [root = 'www', port = '8080'] = process.argv.slice(2);
  const server = await serve(root, Number(port));
  console.log(`serving ${resolve(root)} on http://localhost:${server.address().port}/`);
}
