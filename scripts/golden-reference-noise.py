#!/usr/bin/env python3
"""How closely llama.cpp agrees with its own golden decodes of the test model.

The engine test `crates/engine/tests/golden_gemma3.rs` feeds llama.cpp's greedy tokens
back (teacher forcing) and compares, at each of the 32 steps of the 40 prompts, the
engine's best token and log-probabilities with llama.cpp's recorded top 5. This script
computes the same figures for llama.cpp itself under other settings (batch layout, flash
attention), which is the noise floor the test's bounds must allow for.

Usage: .venv-bench/bin/python scripts/golden-reference-noise.py MODEL.gguf
(`scripts/install-bench-reference.sh` creates .venv-bench with llama-cpp-python.)
"""

import json
import math
import pathlib
import statistics
import sys

import numpy as np
from llama_cpp import Llama

GOLDEN = pathlib.Path(__file__).resolve().parent.parent / (
    "crates/engine/tests/data/gemma3-270m-greedy.jsonl"
)
GAP = 0.25


def log_softmax(row):
    row = row.astype(np.float64)
    m = row.max()
    return row - (m + math.log(np.exp(row - m).sum()))


def measure(model_path, cases, n_batch, flash_attn):
    llm = Llama(
        model_path=model_path,
        n_ctx=256,
        n_batch=n_batch,
        n_ubatch=n_batch,
        logits_all=True,
        flash_attn=flash_attn,
        n_threads=2,
        verbose=False,
    )
    diffs, gaps = [], []
    compared = misses = outside = 0
    for case in cases:
        prompt, completion = case["prompt_ids"], case["completion_ids"]
        llm.reset()
        llm.eval(prompt + completion[:-1])
        for step, record in enumerate(case["steps"]):
            lp = log_softmax(np.asarray(llm.scores[len(prompt) - 1 + step]))
            top = [(t["id"], t["logprob"]) for t in record["top"]]
            diffs.extend(abs(lp[i] - want) for i, want in top)
            compared += 1
            ours = int(lp.argmax())
            if ours != completion[step]:
                misses += 1
                theirs = dict(top)
                if ours in theirs:
                    gaps.append(top[0][1] - theirs[ours])
                else:
                    outside += 1
    gaps.sort()
    return {
        "n_batch": n_batch,
        "flash_attn": flash_attn,
        "steps": compared,
        "other_picks": misses,
        "outside_top5": outside,
        "gaps_over_0.25": sum(g > GAP for g in gaps),
        "largest_gap": round(gaps[-1], 3) if gaps else 0.0,
        "median_gap": round(statistics.median(gaps), 3) if gaps else 0.0,
        "mean_abs_logprob_diff": round(statistics.fmean(diffs), 4),
    }


def main():
    model_path = sys.argv[1]
    cases = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]
    for n_batch in (512, 1):
        for flash_attn in (False, True):
            print(json.dumps(measure(model_path, cases, n_batch, flash_attn)), flush=True)


if __name__ == "__main__":
    main()
