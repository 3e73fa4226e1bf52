"""Token counting that matches the provider, with counts cached by block hash.

Owns: tokenizers (tiktoken encodings built offline from the vocabulary files the
``bpe-openai`` package ships, Hugging Face ``tokenizers`` for local models, and a flagged
estimate where no exact tokenizer exists) and the per-hash count cache. Knows nothing of
layers or backends; a Profile names the tokenizer to use.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from ._block import Block
from ._errors import UserError

# tiktoken names each cached vocabulary by the sha1 of the URL it would download from.
_TIKTOKEN_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}
# What tiktoken checks a downloaded vocabulary against (tiktoken_ext/openai_public.py).
_TIKTOKEN_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
_ENDOFTEXT, _ENDOFPROMPT = "<|endoftext|>", "<|endofprompt|>"
# The split patterns and special tokens, as tiktoken_ext/openai_public.py defines them; the
# tests compare every count with stock ``tiktoken.get_encoding`` on the same vocabulary.
_TIKTOKEN_PARAMS: dict[str, tuple[str, dict[str, int]]] = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
        r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        {_ENDOFTEXT: 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
         "<|fim_suffix|>": 100260, _ENDOFPROMPT: 100276},
    ),
    "o200k_base": (
        "|".join([
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
            r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
            r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]),
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
}


class Tokenizer(Protocol):
    """What ctxkit needs of a tokenizer."""

    name: str
    is_exact: bool

    def encode(self, text: str) -> list[int]: ...

    def count(self, text: str) -> int: ...


def _packaged_vocabulary(encoding: str) -> bytes:
    """The ``.tiktoken`` file bpe-openai ships, decompressed and checked as tiktoken checks it."""
    import importlib.util

    # locate the package's data without importing it (its import does more than we need)
    spec = importlib.util.find_spec("bpe_openai")
    roots = list(spec.submodule_search_locations or []) if spec else []
    src = Path(roots[0] if roots else ".") / "data" / f"{encoding}.tiktoken.gz"
    if not src.exists():
        raise UserError(
            f"bpe-openai does not ship {encoding}; reinstall ctxkit (pip install -e .)"
        )
    data = gzip.decompress(src.read_bytes())
    if hashlib.sha256(data).hexdigest() != _TIKTOKEN_SHA256[encoding]:
        raise UserError(f"{src} does not match tiktoken's {encoding}; reinstall bpe-openai")
    return data


def seed_tiktoken_cache(cache_dir: str | os.PathLike[str] | None = None,
                        encodings: tuple[str, ...] = tuple(_TIKTOKEN_URLS)) -> Path:
    """Put the packaged vocabularies where stock ``tiktoken.get_encoding`` looks.

    ctxkit itself never needs this (it builds its encodings from the package directly); it
    lets other code in the same process call ``tiktoken.get_encoding`` offline. Returns the
    directory (``TIKTOKEN_CACHE_DIR``, else tiktoken's default under the temp directory).
    """
    if cache_dir is None:
        cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if not cache_dir:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    root = Path(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    for encoding in encodings:
        target = root / hashlib.sha1(_TIKTOKEN_URLS[encoding].encode()).hexdigest()
        if target.exists():
            continue
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(_packaged_vocabulary(encoding))
        os.replace(tmp, target)  # atomic: a concurrent reader sees all or nothing
    return root


@lru_cache(maxsize=4)
def tiktoken_encoding(encoding: str) -> Any:
    """A ``tiktoken.Encoding`` built from the vocabulary bpe-openai ships: no cache directory,
    no network, whatever the environment says (``TIKTOKEN_CACHE_DIR`` may be empty or unset)."""
    if encoding not in _TIKTOKEN_URLS:
        raise UserError(f"unknown encoding {encoding!r}; use one of {sorted(_TIKTOKEN_URLS)}")
    import base64

    import tiktoken

    ranks: dict[bytes, int] = {}
    for line in _packaged_vocabulary(encoding).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    pat_str, special = _TIKTOKEN_PARAMS[encoding]
    return tiktoken.Encoding(name=encoding, pat_str=pat_str, mergeable_ranks=ranks,
                             special_tokens=dict(special))


PIECE_CHARS = 1 << 16  # count() encodes longer texts in pieces of at most this many chars
# An ASCII letter or digit, then a space or ASCII punctuation other than ' (which can start
# a contraction such as 's): both split patterns end a piece at the letter or digit and
# start one at the next character, so text cut there counts exactly as it does whole.
_SAFE_CUT = re.compile(r"(?<=[A-Za-z0-9])(?=[ !\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~])")
_LOOKAHEAD = 4  # the most the split patterns read past a piece's end, plus one


@lru_cache(maxsize=4)
def _split_pattern(encoding: str) -> Any:
    import regex  # tiktoken's own dependency, and its reference implementation's

    return regex.compile(_TIKTOKEN_PARAMS[encoding][0])


class TiktokenTokenizer:
    """OpenAI's BPE (cl100k_base, o200k_base) through tiktoken itself.

    The vocabulary's sha256 is checked against the one tiktoken expects, so counts are
    exactly tiktoken's. ``count`` encodes a text longer than ``piece_chars`` in pieces cut
    where tiktoken's split pattern cuts anyway, so its memory is a piece's (tiktoken holds
    about 10 bytes per character, 50 in a long run of letters, and a run's time grows with
    its square); only one "word" longer than a piece (megabytes of one letter) is cut
    inside itself, which can move its count by a token per cut.
    """

    is_exact = True

    def __init__(self, encoding: str = "o200k_base", *, piece_chars: int = PIECE_CHARS
                 ) -> None:
        self.name = encoding
        self.piece_chars = piece_chars
        self._enc = tiktoken_encoding(encoding)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self._enc.encode(text, disallowed_special=())
        return ids

    def count(self, text: str) -> int:
        if len(text) <= self.piece_chars:
            return len(self._enc.encode(text, disallowed_special=()))
        return sum(len(self._enc.encode(piece, disallowed_special=()))
                   for piece in self._pieces(text))

    def _pieces(self, text: str) -> Iterator[str]:
        """``text`` in consecutive pieces of at most ``piece_chars`` characters, each cut
        at a place where the split pattern starts a new piece."""
        limit = self.piece_chars
        start = 0
        while len(text) - start > limit:
            end = start + limit
            m = _SAFE_CUT.search(text, start + limit // 2, end)  # prose, code, JSON
            cut = m.start() if m else self._last_boundary(text, start, end)
            yield text[start:cut]
            start = cut
        yield text[start:]

    def _last_boundary(self, text: str, start: int, end: int) -> int:
        """Where the last split-pattern piece found from ``start`` that ends by ``end``
        ends (minified JSON, base64), else the first one after it, up to twice the window;
        ``end`` when one piece fills all of that.

        Only a piece the scan's end could not have changed counts: one ending at least
        ``_LOOKAHEAD`` characters before it (a contraction such as ``'re`` is read after a
        word), and not in whitespace (at the end of a text, whitespace that would have been
        split, ``\\s+(?!\\S)``, stays whole)."""
        hard = min(len(text), start + 2 * self.piece_chars)
        sure = hard if hard == len(text) else hard - _LOOKAHEAD
        cut = start
        for m in _split_pattern(self.name).finditer(text, start, hard):
            if m.end() > sure or (m.end() > end and cut > start):
                break
            if not text[m.end() - 1].isspace():
                cut = m.end()
        return cut if cut > start else end


class HFTokenizer:
    """A Hugging Face ``tokenizers`` tokenizer from a local ``tokenizer.json`` (no download)."""

    is_exact = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            from tokenizers import Tokenizer as _HF
        except ImportError as exc:
            from ._errors import MissingExtraError

            raise MissingExtraError("engine", "tokenizers") from exc
        p = Path(path)
        file = p / "tokenizer.json" if p.is_dir() else p
        if not file.exists():
            raise UserError(f"no tokenizer.json at {file}; pass a model directory or the file")
        self.name = f"hf:{file.parent.name}"
        self._tok = _HF.from_file(str(file))

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)


class EstimateTokenizer:
    """A flagged estimate for providers whose tokenizer is not public (e.g. Claude).

    Counts o200k tokens and scales them by ``ratio`` (measured: Claude's tokenizer yields
    roughly 1.1-1.2x o200k on English and code). Reports mark these counts as estimates.
    """

    is_exact = False

    def __init__(self, ratio: float = 1.15, base: str = "o200k_base") -> None:
        self.name = f"estimate({base}x{ratio:g})"
        self._base = get_tokenizer(base)
        self._ratio = ratio

    def encode(self, text: str) -> list[int]:
        raise UserError(
            f"{self.name} is an estimate and cannot encode text; use an exact tokenizer"
        )

    def count(self, text: str) -> int:
        return int(round(self._base.count(text) * self._ratio))


@lru_cache(maxsize=16)
def get_tokenizer(spec: str) -> Any:
    """A tokenizer by spec: ``o200k_base``, ``cl100k_base``, ``estimate``, ``estimate:1.2``,
    or ``hf:/path/to/model``. Tokenizers are shared per process."""
    if spec in _TIKTOKEN_URLS:
        return TiktokenTokenizer(spec)
    if spec == "estimate" or spec.startswith("estimate:"):
        ratio = float(spec.split(":", 1)[1]) if ":" in spec else 1.15
        return EstimateTokenizer(ratio)
    if spec.startswith("hf:"):
        return HFTokenizer(spec[3:])
    raise UserError(
        f"unknown tokenizer {spec!r}; use o200k_base, cl100k_base, estimate[:ratio] or hf:PATH"
    )


class TokenCounter:
    """Counts block tokens with one tokenizer, caching each count by block hash.

    Blocks are immutable, so a hash seen before costs a dictionary lookup. The cache is a
    bounded LRU (``max_entries``) and is safe to share between threads.
    """

    def __init__(self, tokenizer: Any, max_entries: int = 100_000) -> None:
        self.tokenizer = tokenizer
        self.max_entries = max_entries
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self.tokenizer.name)

    @property
    def is_exact(self) -> bool:
        return bool(self.tokenizer.is_exact)

    def count_text(self, text: str) -> int:
        return int(self.tokenizer.count(text))

    def count(self, block: Block) -> int:
        """Tokens of the block's content (message framing is the profile's business)."""
        with self._lock:
            hit = self._cache.get(block.hash)
            if hit is not None:
                self._cache.move_to_end(block.hash)
                return hit
        n = int(self.tokenizer.count(block.content))
        with self._lock:
            self._cache[block.hash] = n
            if len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return n
