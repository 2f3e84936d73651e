#!/usr/bin/env bash
# Installs what building, serving and testing need on a fresh Debian 12 machine.
# Idempotent: every step checks first and skips what is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_PACK_VERSION=0.15.1
WASM_BINDGEN_VERSION=0.2.130

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# curl and unzip fetch the chat model (scripts/fetch-smollm.sh) and rustup; build-essential
# gives Rust its linker.
apt_packages=(chromium chromium-driver mesa-vulkan-drivers libvulkan1 curl ca-certificates unzip
  build-essential)
# Node.js builds the npm package and serves the page, and Debian 12's own (18) does both; use the
# machine's own when it has one. The tests need 20.19 or newer: scripts/test.sh brings a pinned
# one for them when the machine's is older (scripts/node-for-tests.sh).
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_packages+=(nodejs npm)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install: apt packages ${missing[*]}"
  sudo_if_needed apt-get update -q
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
export PATH="$HOME/.cargo/bin:$PATH"
command -v rustup >/dev/null 2>&1 ||
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

version_of() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | awk '{print $2}'; }
[ "$(version_of wasm-pack)" = "$WASM_PACK_VERSION" ] ||
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
# wasm-bindgen-cli's own lockfile pins a yanked crate, so no --locked here.
[ "$(version_of wasm-bindgen)" = "$WASM_BINDGEN_VERSION" ] ||
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"

# playwright-core drives Debian's Chromium in the page test; binaryen gives a wasm-opt Chromium accepts;
# send and compression serve the page. npm ci when any of package.json's devDependencies is missing
# from node_modules or is there in another version (they are pinned exactly).
if ! node -e 'const want = require("./package.json").devDependencies;
  const got = (name) => { try { return require(`./node_modules/${name}/package.json`).version; } catch {} };
  process.exit(Object.entries(want).every(([name, version]) => got(name) === version) ? 0 : 1)'; then
  npm ci --no-audit --no-fund
fi
