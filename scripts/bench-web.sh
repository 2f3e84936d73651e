#!/usr/bin/env bash
# The benchmark suite in headless Chromium through WebGPU: builds the wasm, suite included, into
# www/bench-pkg, then runs www/bench.html (scripts/bench-web.mjs); arguments go to it.
#   scripts/bench-web.sh [--quick] [--only matmul/,gpt.] [--json FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/build-web.sh --bench
node scripts/bench-web.mjs "$@"
