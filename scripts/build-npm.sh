#!/usr/bin/env bash
# Builds the npm package into target/npm/genai-lab/: the wasm as scripts/build-web.sh builds it
# (wasm-pack, then wasm-opt), the package's JS and types from npm/, and the small models.
# `npm pack target/npm/genai-lab` then makes the tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-web.sh
node scripts/npm-package.mjs
