#!/usr/bin/env bash
# Writes the SmolLM2-135M-Instruct reference fixtures (tests/fixtures/smollm2_*), once: fetches
# the GGUF, makes the Python environment, adds transformers and gguf to it when they are missing
# (requirements-smollm.txt), then runs smollm_fixtures.py on the CPU (about a minute).
#   training/smollm_fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-smollm.sh

cd training
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c 'import torch, numpy' 2>/dev/null || .venv/bin/pip install -q -r requirements.txt
# Each pinned version installed, or install them all.
.venv/bin/python - <<'EOF' 2>/dev/null || .venv/bin/pip install -q -r requirements-smollm.txt
import importlib.metadata as m
for line in open("requirements-smollm.txt"):
    if "==" in line:
        name, version = line.strip().split("==")
        assert m.version(name) == version, name
EOF
exec .venv/bin/python smollm_fixtures.py
