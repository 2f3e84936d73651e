#!/usr/bin/env bash
# Every test: installs what is missing, then runs the kernel tests natively (Vulkan, lavapipe
# when there is no GPU) and in headless Chromium (WebGPU on SwiftShader), then loads the page.
# Any test that finds no adapter fails; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR"

echo "== native tests (cargo test)"
cargo test --locked
cargo build --locked --benches

echo "== browser tests (wasm-pack test, headless Chromium)"
WASM_BINDGEN_TEST_TIMEOUT=300 wasm-pack test --headless --chrome --mode no-install -- --locked

echo "== page test (Playwright driving Chromium)"
scripts/build-web.sh
node tests/e2e/page.mjs
