#!/usr/bin/env bash
# Coverage-guided fuzzing of the answer checker (crates/answer) with cargo-fuzz and
# libFuzzer: targets `extract`, `parse` and `check` in fuzz/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 600); TARGET defaults to all three. The corpora in
# fuzz/corpus/<target>/ (gitignored) are seeded from the labelled case sets
# crates/answer/tests/data/{equivalence_cases,real_outputs}.jsonl: every gold and
# predicted text for `extract` and `parse`, each pair as `gold NUL pred` for `check`.
# Seeding again only adds what is missing, so a corpus grown by earlier runs is kept.
# Prints, per target, the executions done and whether it crashed; crash inputs land
# in fuzz/artifacts/<target>/. Exits non-zero when any target crashed.
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Builds use
# debug assertions (overflow checks included, as in the test profile) and no
# sanitizer: the crate is safe Rust, so a sanitizer only slows the search. Extra
# environment: FUZZ_JOBS_NICE (default 10) is the niceness the fuzzers run at.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-600}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(extract parse check)
NICE="${FUZZ_JOBS_NICE:-10}"
DATA="$ROOT/crates/answer/tests/data"
cd "$ROOT/fuzz"

# Seed the corpora: one file per text (or pair), named by its SHA-1 like libFuzzer's own.
python3 - "$DATA" "$ROOT/fuzz/corpus" <<'EOF'
import hashlib, json, os, sys
data, corpus = sys.argv[1], sys.argv[2]
texts, pairs = set(), set()
for name in ("equivalence_cases.jsonl", "real_outputs.jsonl"):
    with open(os.path.join(data, name), encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            gold, pred = row["gold"].encode(), row["pred"].encode()
            texts.update((gold, pred))
            pairs.add(gold + b"\0" + pred)
added = 0
for target, seeds in (("extract", texts), ("parse", texts), ("check", pairs)):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    for s in seeds:
        path = os.path.join(d, hashlib.sha1(s).hexdigest())
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(s)
            added += 1
print(f"seeded {len(texts)} texts and {len(pairs)} pairs ({added} new files)")
EOF

FUZZ=(cargo +nightly fuzz)
BUILD=(--debug-assertions --sanitizer none)
nice -n "$NICE" "${FUZZ[@]}" build "${BUILD[@]}"

LOGS="$ROOT/fuzz/logs"
mkdir -p "$LOGS"
failed=0
summary=()
for t in "${TARGETS[@]}"; do
  log="$LOGS/$t.log"
  echo "== $t: ${SECONDS_PER_TARGET}s (log $log)"
  start=$(date +%s)
  set +e
  nice -n "$NICE" "${FUZZ[@]}" run "${BUILD[@]}" "$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=4096 \
    -timeout=10 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  took=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  if [ -z "$execs" ]; then execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true); fi
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
  if [ "$rc" -eq 0 ]; then
    result="no crash"
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1 || true)
    kind=$(grep -o -m1 -E 'deadly signal|panicked at [^ ]*|timeout after [0-9]+ seconds|out-of-memory[^)]*\)' "$log" || true)
    result="CRASH (rc $rc${kind:+, $kind})${artifact:+ $artifact}"
  fi
  line="$t: ${execs:-?} executions in ${took}s, ${cov:-cov ?}, $result"
  echo "$line"
  summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
