#!/usr/bin/env bash
# The benchmark suite in headless Chromium through WebGPU: builds the wasm into www/pkg, then
# runs www/bench.html (scripts/bench-web.mjs); arguments go to it.
#   scripts/bench-web.sh [--quick] [--only matmul/,gpt.] [--json FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/build-web.sh
node scripts/bench-web.mjs "$@"
