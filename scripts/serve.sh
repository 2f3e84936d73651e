#!/usr/bin/env bash
# Main job: installs what is missing, builds the npm package (the page imports its copy in www/genai-lab) and serves www/ on localhost.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/fetch-smollm.sh # the pretrained chat model (98 MB), when missing
# cargo install puts wasm-pack and wasm-bindgen here; a fresh shell may not have it on PATH.
export PATH="$HOME/.cargo/bin:$PATH"
scripts/build-web.sh
exec node scripts/static-server.mjs www "${PORT:-8080}"
