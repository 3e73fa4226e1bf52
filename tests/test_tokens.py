import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxkit import Block, TokenCounter, UserError, get_tokenizer
from ctxkit._tokens import seed_tiktoken_cache
from tests.helpers import make_pipe

SAMPLES = [
    "", "hello world", "def f(x):\n    return x ** 2  # square\n", "naïve café — 日本語のテキスト",
    "<|endoftext|> is a special token but here it is text", "  \n\t  trailing   ",
    json.dumps({"name": "grep", "input_schema": {"type": "object"}}), "🙂" * 17,
]


@cache
def stock(encoding: str) -> tiktoken.Encoding:
    """Stock ``tiktoken.get_encoding``, the reference, from a cache directory seeded here with
    the packaged vocabulary (tiktoken checks its sha256), so no test depends on a warm cache
    or on which test ran first."""
    import tempfile

    seeded = seed_tiktoken_cache(Path(tempfile.mkdtemp(prefix="ctxkit-tiktoken-")))
    before = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(seeded)
    try:
        return tiktoken.get_encoding(encoding)
    finally:
        if before is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = before


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_counts_equal_tiktoken(encoding: str) -> None:
    ref = stock(encoding)
    tok = get_tokenizer(encoding)
    for text in SAMPLES:
        assert tok.count(text) == len(ref.encode(text, disallowed_special=()))
        assert tok.encode(text) == ref.encode(text, disallowed_special=())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_counts_equal_tiktoken_on_any_text(text: str) -> None:
    ref = stock("o200k_base")
    assert get_tokenizer("o200k_base").count(text) == len(ref.encode(text, disallowed_special=()))


def test_vocabulary_comes_from_the_package_not_the_network(tmp_path) -> None:
    # an empty home, cache and temp directory, and a proxy that refuses every connection:
    # the vocabularies must come from bpe-openai, and nothing is written to the cache
    for d in ("home", "cache", "tmp", "tiktoken"):
        (tmp_path / d).mkdir()
    code = ("from ctxkit import get_tokenizer; "
            "print(get_tokenizer('cl100k_base').count('a b c'), "
            "get_tokenizer('o200k_base').count('a b c'))")
    env = {"PATH": "", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "NO_PROXY": "", "HOME": str(tmp_path / "home"),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "TMPDIR": str(tmp_path / "tmp"),
           "TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.split() == ["3", "3"]
    assert not any((tmp_path / "tiktoken").iterdir())


def test_seeding_lets_stock_tiktoken_work_offline(tmp_path) -> None:
    code = ("import os, tiktoken; from ctxkit._tokens import seed_tiktoken_cache; "
            "seed_tiktoken_cache(); print(tiktoken.get_encoding('cl100k_base').encode('a b c'))")
    env = {"PATH": "", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
           "TIKTOKEN_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.strip() == "[64, 293, 272]"
    assert len(list(tmp_path.iterdir())) == 2


def test_draft_tokens_match_tiktoken_for_openai_models() -> None:
    pipe = make_pipe(["ok"], model="gpt-4o")
    draft = pipe.assemble("count me")
    ref = stock("o200k_base")
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


# -- long texts are counted in pieces: exact, bounded in memory ----------------------------

# every piece the split patterns make of these is under 16 characters, so no cut is
# forced inside one (the next test covers that)
_WORDS = st.text(alphabet="abcXYZéü日本語0123456789", min_size=1, max_size=8)
_SEPS = st.sampled_from([" ", "  ", "\n", "\n\n", "\t", ", ", ". ", '":"', '","', "/", "-",
                         "'s ", "'T ", " (", ") ", "\r\n", "{", "}", " = ", "<|endoftext|>",
                         " 🙂 ", "_"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_WORDS, _SEPS), max_size=80), st.sampled_from([16, 24, 40, 97]),
       st.sampled_from(["o200k_base", "cl100k_base"]))
def test_counting_in_pieces_equals_counting_whole(parts: list[tuple[str, str]],
                                                  piece_chars: int, encoding: str) -> None:
    from ctxkit._tokens import TiktokenTokenizer

    text = "".join(w + s for w, s in parts)
    whole = len(stock(encoding).encode(text, disallowed_special=()))
    assert TiktokenTokenizer(encoding, piece_chars=piece_chars).count(text) == whole


def test_a_word_longer_than_a_piece_is_counted_within_a_token_per_cut() -> None:
    from ctxkit._tokens import TiktokenTokenizer

    text = "see " + "a" * 5000 + " and " + "QmFzZTY0" * 700
    whole = len(stock("o200k_base").encode(text, disallowed_special=()))
    cut = TiktokenTokenizer("o200k_base", piece_chars=512).count(text)
    assert abs(cut - whole) <= 2 * (len(text) // 256 + 1)
    assert TiktokenTokenizer("o200k_base").count(text) == whole  # under the default piece


def test_counting_a_long_text_holds_memory_for_a_piece_not_the_text() -> None:
    # one 24 MB tool output (prose, then a run of one letter: the worst case for BPE) once
    # took ~1.2 GB and tens of seconds, the run's cost growing with its square
    code = ("import resource\nfrom ctxkit._tokens import get_tokenizer\n"
            "tok = get_tokenizer('o200k_base')\ntok.count('warm up')\n"
            "text = 'the parser test fails on empty input ' * 400_000 + 'a' * (8 << 20)\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "n = tok.count(text)\n"
            "print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    n, grown_kib = map(int, out.stdout.split())
    assert n > 2_800_000
    assert grown_kib < 150 * 1024, f"counting grew the process by {grown_kib >> 10} MiB"
