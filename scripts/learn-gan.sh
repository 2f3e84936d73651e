#!/usr/bin/env bash
# How fast the GAN learns from scratch: the same run (initial weights, the page's 5,000 MNIST
# training images, train_gan.py's settings) on our kernels natively and in PyTorch on the CPU,
# each scored by the committed classifier's class agreement on 1,000 samples. Slow on a
# software adapter: a command, not a CI test.
#
#   scripts/learn-gan.sh [steps, default 1000] [batch, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-1000} batch=${2:-64}
python=training/.venv/bin/python
[ -x "$python" ] || { echo "learn-gan: set up training/.venv first (README, Training)" >&2; exit 1; }
folder=$(mktemp -d)
(cd training && ../"$python" learn_gan.py --export "$folder")
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR"
cargo run --locked --release --example learn_gan -- "$folder" --steps "$steps" --batch "$batch" | tee "$folder/ours.log"
(cd training && ../"$python" learn_gan.py --from "$folder" --steps "$steps" --batch "$batch") | tee "$folder/pytorch.log"
echo "== side by side"
grep -h "class agreement" "$folder/ours.log" "$folder/pytorch.log"
