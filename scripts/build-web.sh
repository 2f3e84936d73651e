#!/usr/bin/env bash
# Builds the npm package `genai-lab` and puts a copy in www/genai-lab/, where the page imports it
# from like any embedder: the wasm (wasm-pack into target/wasm-pkg, shrunk by npm binaryen's
# wasm-opt: Debian's older wasm-opt emits modules Chromium rejects), then scripts/npm-package.mjs
# assembles target/npm/genai-lab/ (`npm pack` it to publish). With --bench, only the benchmark
# page's wasm instead: www/bench-pkg, with the suite compiled in (the page and the package leave
# it out).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/wasm-pkg cargo=()
if [ "${1:-}" = --bench ]; then out=www/bench-pkg cargo=(-- --features bench); fi
wasm-pack build --target web --release --mode no-install --out-dir "$out" "${cargo[@]}"
node_modules/.bin/wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$out/genai_lab_bg.wasm" -o "$out/genai_lab_bg.wasm"
echo "wasm: $(stat -c %s "$out/genai_lab_bg.wasm") bytes, $(gzip -9c "$out/genai_lab_bg.wasm" | wc -c) gzipped"
[ "${1:-}" = --bench ] && exit 0
node scripts/npm-package.mjs
rm -rf www/genai-lab
cp -r target/npm/genai-lab www/genai-lab
