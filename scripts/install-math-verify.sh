#!/usr/bin/env bash
# Creates .venv-mathverify (gitignored) with Math-Verify, the reference answer checker
# that `verimath bench check --reference .venv-mathverify/bin/python` measures against.
#
# Usage: scripts/install-math-verify.sh [VENV_DIR]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/.venv-mathverify}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "error: Math-Verify needs Python 3.10 or newer ($python is older)" >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "math-verify[antlr4_13_2]"
"$venv/bin/python" -c 'import math_verify; print("math-verify", getattr(math_verify, "__version__", "installed"))'
echo "reference ready: verimath bench check --reference $venv/bin/python"
