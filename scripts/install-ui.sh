#!/usr/bin/env bash
# Fetch the web UI's front-end libraries from npm into crates/server/ui/vendor (not
# committed): KaTeX (LaTeX), marked (Markdown) and DOMPurify (sanitising the HTML that
# model output becomes). The server serves them itself, so the UI needs no network.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/crates/server/ui/vendor"
KATEX=0.16.22
MARKED=15.0.12
DOMPURIFY=3.2.6
stamp="katex-$KATEX marked-$MARKED dompurify-$DOMPURIFY"
if [ -f "$DEST/VERSIONS" ] && [ "$(cat "$DEST/VERSIONS")" = "$stamp" ]; then
  echo "UI libraries already installed in $DEST"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
npm install --silent --no-audit --no-fund --prefix "$work" \
  "katex@$KATEX" "marked@$MARKED" "dompurify@$DOMPURIFY" >/dev/null
rm -rf "$DEST"
mkdir -p "$DEST/fonts"
m="$work/node_modules"
cp "$m/katex/dist/katex.min.js" "$m/katex/dist/katex.min.css" "$DEST/"
cp "$m/katex/dist/fonts/"*.woff2 "$DEST/fonts/"
cp "$m/marked/lib/marked.umd.js" "$DEST/marked.umd.js"
cp "$m/dompurify/dist/purify.min.js" "$DEST/purify.min.js"
for pkg in katex marked dompurify; do
  cp "$m/$pkg/LICENSE" "$DEST/LICENSE.$pkg" 2>/dev/null || true
done
echo "$stamp" > "$DEST/VERSIONS"
echo "UI libraries installed in $DEST"
