#!/usr/bin/env bash
# Builds the wasm package into www/pkg (the page imports it from there) and shrinks it with
# npm binaryen's wasm-opt (Debian's older wasm-opt emits modules Chromium rejects).
set -euo pipefail
cd "$(dirname "$0")/.."
wasm-pack build --target web --release --mode no-install --out-dir www/pkg
node_modules/.bin/wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  www/pkg/genai_lab_bg.wasm -o www/pkg/genai_lab_bg.wasm
echo "wasm: $(stat -c %s www/pkg/genai_lab_bg.wasm) bytes, $(gzip -9c www/pkg/genai_lab_bg.wasm | wc -c) gzipped"
