#!/usr/bin/env python3
"""Compare `verimath check` with Math-Verify on the model answers stored in run databases.

For every solution (`samples` rows of kind `proof`) in each run database, the gold
answer is `problems.answer` and the prediction is the solution part that `verimath
eval` grades (`search::solve::solution_part`): the `## Solution` section (`body`) of
a sample that follows the output protocol, else the text before its first "self
evaluation" (or "self-evaluation", any case), so that the rating box of a
self-evaluation is not read as the answer. Each pair goes through our checker
(`verimath check --input FILE --json`, default options) and through Math-Verify
(`verify(parse(gold), parse(pred))`, its defaults, as `verimath bench check` calls it
for `kind: default` pairs, with the gold boxed so that it is read whole). The databases are opened read-only.

Prints, per dataset, the number of pairs, how often the two checkers agree, our
`undecided` and `no_answer` counts, and every disagreement; `--out FILE.jsonl` writes
one line per pair with both verdicts, for review.

Needs a Python with Math-Verify (scripts/install-math-verify.sh) and a built CLI:

    .venv-mathverify/bin/python scripts/compare-math-verify.py \
        --db math500=/path/to/math500-run.sqlite --db gsm8k=/path/to/gsm8k-run.sqlite \
        --out /tmp/compare.jsonl
"""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

from math_verify import parse, verify


def load_pairs(name, path):
    """(source, gold, pred) for each solution of a run database, in a stable order."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = con.execute(
        """
        SELECT p.problem_idx, s.id, s.problem_key, p.answer, s.status, s.body, s.text
        FROM samples s JOIN problems p ON p.key = s.problem_key
        WHERE s.kind = 'proof' AND p.answer IS NOT NULL
        ORDER BY p.position, s.round, s.idx
        """
    ).fetchall()
    con.close()
    pairs = []
    for problem_idx, sample_id, key, gold, status, body, text in rows:
        suffix = sample_id[len(key):] if sample_id.startswith(key) else "/" + sample_id
        pred = solution_part(status, body, text)
        pairs.append({"source": f"{name}:{problem_idx}{suffix}", "gold": gold, "pred": pred})
    return pairs


ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def solution_part(status, body, text):
    """What `verimath eval` grades: the body of a sample that follows the protocol,
    else the text up to its first self-evaluation heading (ASCII case folded, so that
    positions in the folded text are positions in the text)."""
    if status == "ok" and body is not None:
        return body
    lower = text.translate(ASCII_LOWER)
    for marker in ("self evaluation", "self-evaluation"):
        at = lower.find(marker)
        if at >= 0:
            return text[:at]
    return text


def run_ours(binary, pairs):
    """Our verdicts, one per pair, from `verimath check --input`."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps({"gold": p["gold"], "pred": p["pred"]}) + "\n")
        path = f.name
    try:
        out = subprocess.run(
            [binary, "check", "--input", path, "--json"],
            check=True, capture_output=True, text=True,
        ).stdout
    finally:
        os.unlink(path)
    verdicts = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(verdicts) != len(pairs):
        sys.exit(f"verimath returned {len(verdicts)} verdicts for {len(pairs)} pairs")
    return verdicts


def run_math_verify(gold, pred):
    """Math-Verify's verdict with its default extraction; None when it raises.

    The gold answers are bare LaTeX (`3\\sqrt{13}`), which Math-Verify only reads whole
    inside math delimiters or a box (bare, `parse` finds the plain number `3`), so the
    gold goes in as `\\boxed{gold}`."""
    try:
        return bool(verify(parse(f"\\boxed{{{gold}}}"), parse(pred)))
    except Exception:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", action="append", required=True, metavar="NAME=PATH",
                    help="a run database and the dataset name used in sources (repeatable)")
    ap.add_argument("--verimath", default="target/debug/verimath",
                    help="the verimath binary (default: %(default)s)")
    ap.add_argument("--out", metavar="FILE.jsonl", help="write every pair with both verdicts")
    args = ap.parse_args()

    rows = []
    for spec in args.db:
        name, _, path = spec.partition("=")
        if not path:
            sys.exit(f"--db wants NAME=PATH, got {spec!r}")
        pairs = load_pairs(name, path)
        ours = run_ours(args.verimath, pairs)
        for p, v in zip(pairs, ours):
            mv = run_math_verify(p["gold"], p["pred"])
            rows.append({**p, "dataset": name, "ours": v["equivalent"], "status": v["status"],
                         "reason": v["reason"], "math_verify": mv})

    for name in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == name]
        # Both checkers' "cannot decide" reads as "not equivalent", as in grading.
        differ = [r for r in rs if bool(r["ours"]) != bool(r["math_verify"])]
        count = lambda status: sum(r["status"] == status for r in rs)
        print(f"{name}: {len(rs)} pairs, {len(rs) - len(differ)} agree, "
              f"{len(differ)} disagree; ours undecided {count('undecided')}, "
              f"no_answer {count('no_answer')}; Math-Verify errors "
              f"{sum(r['math_verify'] is None for r in rs)}")
        for r in differ:
            print(f"  {r['source']}: ours {r['status']} ({r['reason']}), "
                  f"Math-Verify {r['math_verify']}; gold {r['gold']!r}")

    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
