"""The official openai client against `verimath serve` (argv[1]: base URL ending in /v1).

Prints one line per check; any failure raises, and the exit status is non-zero.
"""
import sys

import openai

client = openai.OpenAI(base_url=sys.argv[1], api_key="unused", max_retries=0, timeout=120)

models = client.models.list()
model = models.data[0].id
print("models", [m.id for m in models.data])

chat = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Say hello."}],
    max_tokens=8,
    temperature=0,
)
assert chat.choices[0].message.content is not None
assert chat.usage.completion_tokens > 0
print("chat", repr(chat.choices[0].message.content), chat.usage.completion_tokens)

many = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Name a number."}],
    max_tokens=4,
    n=3,
    seed=7,
)
assert len(many.choices) == 3, many
assert sorted(c.index for c in many.choices) == [0, 1, 2]
print("n=3", [c.message.content for c in many.choices])

stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Count to three."}],
    max_tokens=6,
    stream=True,
    stream_options={"include_usage": True},
)
text, usage = "", None
for chunk in stream:
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
    if chunk.usage is not None:
        usage = chunk.usage
assert usage is not None and usage.completion_tokens == 6, usage
print("stream", repr(text), usage.completion_tokens)

try:
    client.chat.completions.create(model=model, messages=[], max_tokens=4)
except openai.BadRequestError as e:
    print("bad request raised", e.status_code)
else:
    raise AssertionError("an empty messages list was accepted")

completion = client.completions.create(model=model, prompt="1, 2, 3,", max_tokens=4, temperature=0)
assert completion.choices[0].text
print("completion", repr(completion.choices[0].text))
print("ok")
