#!/usr/bin/env bash
# One-time set-up on a fresh machine: everything verimath's main job and tests need
# beyond the Rust toolchain. Safe to run again; finished steps are skipped.
#
# - the known models (models/known.json): the default model, Qwen2.5-Coder-1.5B-Instruct
#   Q4_K_M, and the test model, Gemma 3 270M Q4_K_M, into ~/.cache/verimath/models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-models.sh
# - the web UI's libraries (KaTeX, marked, DOMPurify) from npm into crates/server/ui/vendor.
bash scripts/install-ui.sh
# - the client test tools: the openai Python client (.venv-openai) and Chromium.
bash scripts/install-test-tools.sh
