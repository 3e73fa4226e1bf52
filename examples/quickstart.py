"""ctxkit quickstart: a two-turn session with a cached prefix and a Python tool, offline.

Run it from the repository root: ``python examples/quickstart.py``. It needs no API key:
ScriptedBackend answers in place of a model. To talk to a real one, swap the backend for
``ctxkit.backends.Anthropic("claude-sonnet-4-5")`` (pip install 'ctxkit[anthropic]').
"""


from ctxkit import ContextPipeline
from ctxkit.demo import sample_repo
from ctxkit.layers import History, Prefix
from ctxkit.testing import ScriptedBackend

REPO = sample_repo()  # the small package the demo fixes, shipped with ctxkit


def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


# The model's replies, in order: a tool call, then an answer, then a second answer.
backend = ScriptedBackend([
    {"tool_calls": [{"name": "word_count", "arguments": {"text": "the quick brown fox"}}]},
    "'the quick brown fox' has 4 words.",
    "The tokenizer lives in textstats/tokenizer.py.",
])

pipe = ContextPipeline(
    backend=backend,
    layers=[
        # stable first: system prompt + tools (cached 1h), then project files (cached 5m).
        # Providers cache nothing shorter than a minimum (1,024 tokens here), so a real
        # prefix carries the project's context, not just a one-line system prompt.
        Prefix(system="You are a concise assistant for the textstats project.",
               tools=[word_count], project=["AGENTS.md", "textstats/parser.py"], root=REPO),
        # the conversation: append-only, with a cache breakpoint that moves every call
        History(),
    ],
    trace="quickstart.trace.jsonl",  # one JSON line per model call
)

# Turn 1: the model asks for word_count; the pipeline runs it and calls the model again.
print(pipe.run("how many words are in 'the quick brown fox'?").text)
# Turn 2: the prefix and turn 1 are read from the cache.
print(pipe.run("where does the tokenizer live?").text)

for r in pipe.records:
    print(f"call {r.index}: {r.usage.input_tokens:,} prompt tokens, "
          f"{r.usage.cache_read_tokens:,} read from cache, {r.usage.cache_write_tokens:,} written")
print(pipe.report())
