#!/usr/bin/env bash
# Tools the client tests of `verimath serve` drive: the official `openai` Python client
# in .venv-openai, and Debian's Chromium for the headless browser test. Running it
# again when both are there does nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-openai"
PY="${PYTHON:-python3}"
if ! "$VENV/bin/python" -c "import openai" 2>/dev/null; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "openai>=1.40,<3"
fi
"$VENV/bin/python" -c "import openai; print('openai', openai.__version__, 'in $VENV')"
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "warning: chromium is missing; install Debian's chromium package for the browser test" >&2
  fi
fi
command -v chromium >/dev/null 2>&1 && chromium --version 2>/dev/null || true
