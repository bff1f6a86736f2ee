#!/usr/bin/env bash
# Create the benchmark reference environment: a Python virtualenv (.venv-bench) with
# llama-cpp-python (with its OpenAI-compatible server), used by `verimath bench engine
# --reference .venv-bench/bin/python` and `verimath bench serve --reference ...`
# to run llama.cpp on the same GGUF in the same run.
#
# llama-cpp-python builds llama.cpp from source; GGML_NATIVE lets that build use every
# instruction set of this CPU so the comparison is against llama.cpp at its best here.
# On a 2-core machine the compile takes about ten minutes. Running the script again when
# the package is already installed does nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv-bench}"
PY="${PYTHON:-python3}"
VERSION="0.3.36"

if [ -x "$VENV/bin/python" ] &&
  "$VENV/bin/python" -c "import llama_cpp, llama_cpp.server, sys; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null; then
  echo "llama-cpp-python $VERSION already installed in $VENV"
  exit 0
fi

"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --upgrade pip
# Limit the compile to the cores we have so the machine stays usable meanwhile.
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
CMAKE_ARGS="-DGGML_NATIVE=ON" "$VENV/bin/python" -m pip install --no-cache-dir \
  --verbose "llama-cpp-python[server]==$VERSION"
"$VENV/bin/python" -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__, 'installed in $VENV')"
