#!/usr/bin/env bash
# Ours against PyTorch on a GPU machine that has CUDA and PyTorch but no Rust and no network,
# in one call of a few minutes: benches/suite.rs (our WGSL through wgpu on Vulkan), then
# benches/torch_suite.py (the same cases in PyTorch on CUDA), then our time / PyTorch's per case.
#
#   scripts/bench-gpu.sh build   # here: the suite's release binary into .device/, the Vulkan
#                                # loader's package into .gl/ (both ignored by git)
#   scripts/bench-gpu.sh [OUT]   # there, with .device and .gl carried: writes ours.json,
#                                # torch.json and bench.txt into OUT (default: $OUT or /tmp/bench)
# QUICK=1 runs both suites' short forms (a check of the script on a machine without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = build ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
  binary=$(cargo build --locked --release --bench suite --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "suite" and m.get("executable"):
        print(m["executable"])')
  mkdir -p .device .gl
  cp "$binary" .device/suite
  echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' with uncommitted changes')" >.device/commit
  if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    lists=/tmp/amd64-lists
    o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
    mkdir -p "$lists/partial"
    apt-get $o update >/dev/null
    (cd .gl && apt-get $o download libvulkan1)
  fi
  echo "built .device/suite ($(cat .device/commit)); carry .device and .gl"
  exit 0
fi

out="${1:-${OUT:-/tmp/bench}}"
mkdir -p "$out"
# The loader from .gl; the NVIDIA driver's Vulkan manifest where the machine keeps it.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cat .device/commit)"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true
  echo "== ours: .device/suite (wgpu, Vulkan)"
  timeout 140 .device/suite ${QUICK:+--quick} --json "$out/ours.json"
  echo "== PyTorch: benches/torch_suite.py"
  timeout 140 "${PYTHON:-python3}" benches/torch_suite.py ${QUICK:+--quick} --json "$out/torch.json" \
    --ours "$out/ours.json"
} 2>&1 | tee "$out/bench.txt"
