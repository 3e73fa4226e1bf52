import json
import subprocess
import sys

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxkit import Block, TokenCounter, UserError, get_tokenizer
from tests.helpers import make_pipe

SAMPLES = [
    "", "hello world", "def f(x):\n    return x ** 2  # square\n", "naïve café — 日本語のテキスト",
    "<|endoftext|> is a special token but here it is text", "  \n\t  trailing   ",
    json.dumps({"name": "grep", "input_schema": {"type": "object"}}), "🙂" * 17,
]


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_counts_equal_tiktoken(encoding: str) -> None:
    ref = tiktoken.get_encoding(encoding)
    tok = get_tokenizer(encoding)
    for text in SAMPLES:
        assert tok.count(text) == len(ref.encode(text, disallowed_special=()))
        assert tok.encode(text) == ref.encode(text, disallowed_special=())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_counts_equal_tiktoken_on_any_text(text: str) -> None:
    ref = tiktoken.get_encoding("o200k_base")
    assert get_tokenizer("o200k_base").count(text) == len(ref.encode(text, disallowed_special=()))


def test_vocabulary_comes_from_the_package_not_the_network(tmp_path) -> None:
    # a fresh cache directory: tiktoken must find the vocabulary ctxkit seeded from bpe-openai
    code = (f"import os; os.environ['TIKTOKEN_CACHE_DIR'] = {str(tmp_path)!r}; "
            "from ctxkit import get_tokenizer; print(get_tokenizer('cl100k_base').count('a b c'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": "", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""})
    assert out.stdout.strip() == "3"
    assert len(list(tmp_path.iterdir())) == 1


def test_draft_tokens_match_tiktoken_for_openai_models() -> None:
    pipe = make_pipe(["ok"], model="gpt-4o")
    draft = pipe.assemble("count me")
    ref = tiktoken.get_encoding("o200k_base")
    for b in draft.blocks:
        assert draft.tokens(b) == len(ref.encode(b.content, disallowed_special=()))
    # framing: 3 per message + 3 per request, as OpenAI documents for chat models
    assert draft.num_tokens == sum(draft.tokens(b) for b in draft.blocks) + \
        3 * draft.num_messages + 3


def test_counts_are_cached_by_block_hash() -> None:
    calls = []

    class Counting:
        name, is_exact = "counting", True

        def encode(self, text: str) -> list[int]:
            return list(range(len(text.split())))

        def count(self, text: str) -> int:
            calls.append(text)
            return len(text.split())

    counter = TokenCounter(Counting())
    a = Block(layer="x", content="one two three")
    b = Block(layer="y", content="one two three", key="other")
    assert counter.count(a) == 3 and counter.count(b) == 3 and counter.count(a) == 3
    assert calls == ["one two three"]


def test_hf_tokenizer_from_a_local_file(tmp_path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2, "!": 3}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    hf = get_tokenizer(f"hf:{tmp_path}")
    assert hf.is_exact
    assert hf.encode("hello world !") == [1, 2, 3]
    assert hf.count("hello there world") == 3


def test_estimate_is_flagged_in_records() -> None:
    pipe = make_pipe(["ok"], model="claude-sonnet-4-5")
    pipe.run("hi")
    rec = pipe.records[0]
    assert rec.tokens_exact is False and rec.tokenizer.startswith("estimate")
    assert "estimated" in pipe.report().render()
    exact = make_pipe(["ok"], model="gpt-4o")
    exact.run("hi")
    assert exact.records[0].tokens_exact is True


def test_unknown_tokenizer_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="o200k_base"):
        get_tokenizer("p99k")
