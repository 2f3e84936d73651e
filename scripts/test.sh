#!/usr/bin/env bash
# Every test: installs what is missing, then runs the kernel tests natively (Vulkan, lavapipe
# when there is no GPU) and in headless Chromium (WebGPU on SwiftShader), then loads the page.
# Any test that finds no adapter fails; nothing is skipped, and the two runs must agree on how
# many tests they ran.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/fetch-smollm.sh # the pretrained chat model (98 MB), when missing
# The page and package tests need Node.js 20.19 or newer; on an older one (Debian 12's is 18)
# they run on a pinned newer one, fetched here, and the builds on the machine's own.
tests_node_bin=$(scripts/node-for-tests.sh)
# cargo install puts wasm-pack and wasm-bindgen here; a fresh shell may not have it on PATH.
export PATH="$HOME/.cargo/bin:$PATH"

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR"
logs=$(mktemp -d)

# The number of tests the first "test result" line of a log says passed.
passed() { grep -m1 -o 'test result: ok\. [0-9]* passed' "$1" | grep -o '[0-9]*'; }

echo "== native tests (cargo test)"
cargo test --locked 2>&1 | tee "$logs/native"
cargo build --locked --benches

echo "== browser tests (wasm-pack test, headless Chromium)"
# Exactly as the README prints it: its time limit (for the whole run, in headless mode) is in .cargo/config.toml.
wasm-pack test --headless --chrome 2>&1 | tee "$logs/browser"

native=$(passed "$logs/native") browser=$(passed "$logs/browser")
echo "kernel tests passed: $native native, $browser in the browser"
if [ "${native:-0}" -eq 0 ] || [ "$native" != "$browser" ]; then
  echo "the native and browser runs must run the same, non-zero number of tests" >&2
  exit 1
fi

echo "== page test (Playwright driving Chromium)"
node scripts/models-manifest.mjs --check # the page refuses any model file the manifest does not match
scripts/build-web.sh # the npm package in target/npm/genai-lab, and its copy the page imports (www/genai-lab)
[ -z "$tests_node_bin" ] || export PATH="$tests_node_bin:$PATH" # from here on, only tests
node tests/server.mjs # the server the page test and the package test use
node tests/e2e/page.mjs
node tests/e2e/layout.mjs # every tab on a phone and a desktop, light and dark: first screen, axe-core

echo "== npm package test (the README's examples, bundled by Vite, in Chromium)"
node tests/npm/run.mjs
