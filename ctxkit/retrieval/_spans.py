"""What every chunker shares: ``Span`` (a chunk before it has an id), ``ChunkConfig`` (how
big chunks are), and the line helpers ``join`` and ``line_blocks``.

Owns those value types and helpers so the chunkers (``_chunkers``, ``_pychunk``) depend on
them and not on each other. Knows nothing of files, hashes or indexes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A chunk before it has an id: line range (1-based, inclusive), text, symbol."""

    start_line: int
    end_line: int
    text: str
    symbol: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkConfig:
    """How big chunks are.

    Attributes:
        max_lines: line window for source and Markdown sections (and Python pieces).
        max_def_lines: a Python definition longer than this is split into windows.
        max_words: word window for prose chunks.
    """

    max_lines: int = 40
    max_def_lines: int = 80
    max_words: int = 200

    def __post_init__(self) -> None:
        from .._errors import UserError

        if self.max_lines < 2 or self.max_def_lines < self.max_lines or self.max_words < 8:
            raise UserError("ChunkConfig needs max_lines >= 2, max_def_lines >= max_lines "
                            f"and max_words >= 8; got {self}")


def join(lines: list[str], start: int, end: int) -> str:
    """Lines ``start..end`` (1-based, inclusive) joined with newlines."""
    return "\n".join(lines[start - 1:end])


def line_blocks(lines: list[str], lo: int, hi: int, max_lines: int) -> list[tuple[int, int]]:
    """Spans over lines ``lo..hi`` grouping blank-line-separated blocks up to ``max_lines``.

    Blank lines at the edges of a span are left out; a block longer than the window is cut
    into windows.
    """
    blocks: list[tuple[int, int]] = []
    start = None
    for n in range(lo, hi + 1):
        blank = not lines[n - 1].strip()
        if not blank and start is None:
            start = n
        elif blank and start is not None:
            blocks.append((start, n - 1))
            start = None
    if start is not None:
        blocks.append((start, hi))
    spans: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for bs, be in blocks:
        if cur is not None and be - cur[0] + 1 <= max_lines:
            cur = (cur[0], be)
            continue
        if cur is not None:
            spans.append(cur)
        while be - bs + 1 > max_lines:
            spans.append((bs, bs + max_lines - 1))
            bs += max_lines
        cur = (bs, be)
    if cur is not None:
        spans.append(cur)
    return spans
