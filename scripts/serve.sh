#!/usr/bin/env bash
# Main job: installs what is missing, builds the wasm package and serves www/ on localhost.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/build-web.sh
exec node scripts/static-server.mjs www "${PORT:-8080}"
