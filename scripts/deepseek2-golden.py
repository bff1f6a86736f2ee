#!/usr/bin/env python3
"""Records what llama.cpp computes on the tiny `deepseek2` test files.

The files come from the engine's test builder (deterministic):

    VERIMATH_WRITE_TINY=/tmp/tiny cargo test -p engine --test deepseek2_tiny
    .venv-bench/bin/python scripts/deepseek2-golden.py /tmp/tiny \
        > crates/engine/tests/data/deepseek2_golden.json

For each file: the greedy continuation of the prompt for STEPS tokens, the top-5
(token, log-probability) pairs at every step, and `spread`, the largest difference
of those log-probabilities between llama.cpp's settings: the recorded run (flash
attention on, two threads, the prompt in one batch) against flash attention off with
one thread, against one thread with the prompt fed token by token, and against flash
attention off with two threads token by token - the tolerance the engine's test
derives its bound from. Needs llama-cpp-python (scripts/install-bench-reference.sh).
"""

import json
import math
import os
import sys

from llama_cpp import Llama

PROMPT = [1, 17, 5, 42, 9, 33, 60]
STEPS = 8
VARIANTS = ["v2_lite", "v2_qlora_yarn", "v3_sigmoid_groups", "kv_b_layout"]


def fnv64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def log_softmax(row):
    m = max(row)
    z = math.log(sum(math.exp(x - m) for x in row)) + m
    return [x - z for x in row]


OTHER_SETTINGS = [(False, 1, 64), (True, 1, 1), (False, 2, 1)]


def run(path, flash_attn, threads, n_batch=64):
    """Greedy tokens and per-step log-probabilities (whole vocabulary)."""
    llm = Llama(model_path=path, n_ctx=64, n_batch=n_batch, n_ubatch=n_batch,
                logits_all=True, flash_attn=flash_attn, n_threads=threads, verbose=False)
    llm.eval(PROMPT)
    tokens, lps = [], []
    for _ in range(STEPS):
        lp = log_softmax([float(x) for x in llm.scores[llm.n_tokens - 1]])
        tok = max(range(len(lp)), key=lambda i: lp[i])
        tokens.append(tok)
        lps.append(lp)
        llm.eval([tok])
    return tokens, lps


def main():
    folder = sys.argv[1]
    out = []
    for name in VARIANTS:
        path = os.path.join(folder, f"{name}.gguf")
        with open(path, "rb") as f:
            digest = fnv64(f.read())
        tokens, lps = run(path, True, 2)
        others = [run(path, *setting) for setting in OTHER_SETTINGS]
        spread = 0.0
        top5 = []
        for step, lp in enumerate(lps):
            best = sorted(range(len(lp)), key=lambda i: -lp[i])[:5]
            top5.append([[i, round(lp[i], 6)] for i in best])
            for other_tokens, other_lps in others:
                if tokens[:step] == other_tokens[:step]:
                    spread = max(spread, max(abs(lp[i] - other_lps[step][i]) for i in best))
        out.append({"name": name, "fnv64": digest, "prompt": PROMPT, "tokens": tokens,
                    "top5": top5, "spread": spread})
        print(f"{name}: tokens {tokens}, spread {spread:.2e}", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
