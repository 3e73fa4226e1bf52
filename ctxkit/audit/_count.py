"""Token counts of prompt text, memoized and bounded.

Owns the one counter the audit uses per tokenizer: prompts repeat their history call after
call, so a text (or a block, by its hash) is counted once; the memo is an LRU bounded by the
characters of the keys it holds, so memory stays bounded on any log. Knows no format.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from .._block import Block
from ._prompt import header

MEMO_CHARS = 64 << 20  # text kept for memoized token counts


class SegmentCounter:
    """Token counts of text with one tokenizer, memoized in a bounded LRU (by characters),
    so repeated history is counted once and memory stays bounded on any log size."""

    def __init__(self, tokenizer: object, max_chars: int = MEMO_CHARS) -> None:
        self.tokenizer = tokenizer
        self.max_chars = max_chars
        self._memo: OrderedDict[str, int] = OrderedDict()
        self._chars = 0

    def __call__(self, text: str) -> int:
        key = text if len(text) < 64 else hashlib.blake2b(
            text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest() + str(len(text))
        n = self._memo.get(key)
        if n is not None:
            self._memo.move_to_end(key)
            return n
        n = self._memo[key] = int(self.tokenizer.count(text))  # type: ignore[attr-defined]
        self._chars += len(key)
        while self._chars > self.max_chars:
            old, _ = self._memo.popitem(last=False)
            self._chars -= len(old)
        return n

    def block(self, b: Block, *, raw: bool) -> int:
        """Tokens of a block's segment (``raw``: the content alone; else its header line,
        content and newline), memoized by the block's hash, which covers exactly those."""
        key = ("r" if raw else "h") + b.hash
        n = self._memo.get(key)
        if n is not None:
            self._memo.move_to_end(key)
            return n
        n = self(b.content if raw else header(b) + b.content + "\n")
        self._memo[key] = n
        self._chars += len(key)
        return n
