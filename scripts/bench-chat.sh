#!/usr/bin/env bash
# SmolLM2-135M-Instruct speed, ours next to a CPU peer, on the same GGUF in the same run:
# benches/chat.rs (our kernels on the adapter present) and benches/peer (candle's quantized
# Llama on the CPU, built here on first use, about 5 minutes), both from the same prompt ids.
#   scripts/bench-chat.sh [DECODE_STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/fetch-smollm.sh
steps="${1:-32}"
ids=$(python3 -c "import json; print(','.join(map(str, json.load(open('tests/fixtures/smollm2_tokens.json'))['chat']['question']['ids'])))")
echo "== ours (cargo bench --bench chat)"
cargo bench --locked --bench chat -- "$steps" 2>&1 | grep -v '^\s*\(Compiling\|Finished\|Running\)'
echo "== peer: candle, CPU"
cargo build --locked --release --manifest-path benches/peer/Cargo.toml 2>&1 | tail -1
benches/peer/target/release/candle-peer www/models/SmolLM2-135M-Instruct.Q4_1.gguf "$ids" "$steps"
