#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of everything that reads untrusted bytes:
# the GGUF reader with the tokenizer and chat template it carries, the safetensors reader, the
# JSON reader and chat messages, and both tokenizers (the BPE must give back what it encoded).
# Installs a nightly toolchain and cargo-fuzz when missing. Seeds are in fuzz/corpus/<target>
# (committed); the inputs libFuzzer finds go to fuzz/work/<target>, crashes to
# fuzz/artifacts/<target> (neither committed: a crash becomes a test instead).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]    (default: 60 s, every target)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gguf safetensors json tokenizers)
cd fuzz
for target in "${targets[@]}"; do
  echo "== fuzzing $target for $seconds s"
  # No sanitizer: the code is safe Rust, so what we look for are panics, which libFuzzer catches.
  mkdir -p "work/$target"
  cargo +nightly fuzz run --sanitizer none "$target" "work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 2>&1 | grep -E '^(#|INFO: -max|stat::|==|thread)' | tail -n 8
done
