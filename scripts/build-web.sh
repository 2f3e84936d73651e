#!/usr/bin/env bash
# Builds the wasm package into www/pkg (the page imports it from there) and shrinks it with
# npm binaryen's wasm-opt (Debian's older wasm-opt emits modules Chromium rejects). With
# --bench, the benchmark page's package instead: www/bench-pkg, with the suite compiled in (the
# page and the npm package leave it out).
set -euo pipefail
cd "$(dirname "$0")/.."
out=www/pkg cargo=()
if [ "${1:-}" = --bench ]; then out=www/bench-pkg cargo=(-- --features bench); fi
wasm-pack build --target web --release --mode no-install --out-dir "$out" "${cargo[@]}"
node_modules/.bin/wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$out/genai_lab_bg.wasm" -o "$out/genai_lab_bg.wasm"
echo "wasm: $(stat -c %s "$out/genai_lab_bg.wasm") bytes, $(gzip -9c "$out/genai_lab_bg.wasm" | wc -c) gzipped"
