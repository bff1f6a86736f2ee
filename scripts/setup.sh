#!/usr/bin/env bash
# One-time set-up on a fresh machine: everything verimath's main job and tests need
# beyond the Rust toolchain. Safe to run again; finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-model.sh
