#!/usr/bin/env bash
# The one command: makes the Python environment, fetches the data (SHA-256 checked), trains
# every model, exports weights and model cards to www/models/, writes the golden fixtures to
# tests/fixtures/ and prints the metrics table. Uses the GPU when there is one.
#   training/run.sh            everything
#   training/run.sh --quick    a few steps of each, to check the pipeline end to end (written
#                              to a temporary folder, never over the committed models)
set -euo pipefail
cd "$(dirname "$0")"
quick=("$@")
if [ "${1:-}" = --quick ]; then
  export GENAI_MODELS GENAI_FIXTURES
  GENAI_MODELS=$(mktemp -d)/models GENAI_FIXTURES=$(mktemp -d)/fixtures
  echo "quick run: writing to $GENAI_MODELS and $GENAI_FIXTURES, not over the committed models"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c 'import torch, numpy' 2>/dev/null || .venv/bin/pip install -q -r requirements.txt
py=.venv/bin/python

$py fetch_data.py
$py export_subset.py
for ds in fashion mnist; do
  $py train_classifier.py --dataset "$ds" "${quick[@]}"
  $py train_vae.py --dataset "$ds" --latent 16 "${quick[@]}"
  $py train_vae.py --dataset "$ds" --latent 2 "${quick[@]}"
  $py train_gan.py --dataset "$ds" "${quick[@]}"
  $py train_diffusion.py --dataset "$ds" "${quick[@]}"
  $py train_vqvae.py --dataset "$ds" "${quick[@]}"
  $py train_image_gpt.py --dataset "$ds" "${quick[@]}" # reads the classifier and the VQ-VAE
done
$py train_gpt.py "${quick[@]}"
$py make_fixtures.py
$py report.py
