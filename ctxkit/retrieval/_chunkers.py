"""Chunkers: split a text into spans by what it is — source by blank-line blocks within a
line window, Markdown by headings, prose by paragraphs (or sentences) with overlap. Python
by syntax lives in ``_pychunk``.

Owns the spans (line ranges, the text shown for them, the enclosing symbol). Knows nothing
of files on disk, hashes or indexes: ``chunk_text`` takes a string and a name.
"""

from __future__ import annotations

import bisect
import re

from ._spans import ChunkConfig, Span, join, line_blocks

_PY = frozenset({".py", ".pyi"})
_MD = frozenset({".md", ".markdown", ".mdx"})
_PROSE = frozenset({".txt", ".rst", ".adoc", ".text", ""})
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_PARA = re.compile(r"\n[ \t]*\n")


def kind_for(path: str) -> str:
    """The chunker for a path, by extension: python, markdown, prose or source."""
    dot = path.rfind(".")
    ext = path[dot:].lower() if dot > path.rfind("/") else ""
    if ext in _PY:
        return "python"
    if ext in _MD:
        return "markdown"
    if ext in _PROSE:
        return "prose"
    return "source"


def chunk_text(text: str, path: str, kind: str, config: ChunkConfig | None = None, *,
               title: str | None = None) -> list[Span]:
    """Split ``text`` (the content of ``path``) with the chunker for ``kind``.

    Args:
        text: the content.
        path: a file path or document id; source chunks name it in their header.
        kind: python, markdown, prose or source.
        config: window sizes.
        title: for prose documents: a title repeated at the head of every chunk.
    """
    cfg = config or ChunkConfig()
    if kind == "python":
        from ._pychunk import chunk_python

        return chunk_python(text, path, cfg)
    if kind == "markdown":
        return chunk_markdown(text, path, cfg)
    if kind == "prose":
        return chunk_prose(text, cfg, title=title)
    if kind == "source":
        lines = text.splitlines()
        return [Span(s, e, f"# {path}\n" + join(lines, s, e))
                for s, e in line_blocks(lines, 1, len(lines), cfg.max_lines)]
    from .._errors import UserError

    raise UserError(f"unknown chunk kind {kind!r}; use python, markdown, prose or source")


def chunk_markdown(text: str, path: str, cfg: ChunkConfig) -> list[Span]:
    """One chunk per heading section (split by blocks when long), headed by its heading path."""
    lines = text.splitlines()
    sections: list[tuple[int, int, list[str]]] = []
    stack: list[tuple[int, str]] = []
    start, in_fence = 1, False
    for n, line in enumerate(lines, 1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else _HEADING.match(line)
        if m is None:
            continue
        if n > start:
            sections.append((start, n - 1, [t for _, t in stack]))
        level = len(m.group(1))
        stack = [(lv, t) for lv, t in stack if lv < level] + [(level, m.group(2))]
        start = n
    sections.append((start, len(lines), [t for _, t in stack]))
    out: list[Span] = []
    for lo, hi, heads in sections:
        symbol = " > ".join(heads)
        header = f"# {path}" + (f" · {symbol}" if symbol else "")
        for s, e in line_blocks(lines, lo, hi, cfg.max_lines):
            out.append(Span(s, e, f"{header}\n{join(lines, s, e)}", symbol))
    return out


def chunk_prose(text: str, cfg: ChunkConfig, *, title: str | None = None) -> list[Span]:
    """Paragraphs merged up to ``max_words``; a longer paragraph by sentences. Consecutive
    chunks overlap by their boundary unit (a paragraph or sentence of at most half the
    window), so a fact split across the boundary is whole in one of them."""
    units = _prose_units(text, cfg.max_words)
    if not units:
        return []
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(pos: int) -> int:
        return bisect.bisect_right(starts, pos)

    first_line = text.lstrip().split("\n", 1)[0].strip()
    head = f"{title}\n" if title and first_line != title.strip() else ""
    out: list[Span] = []
    i = 0
    while i < len(units):
        j, words = i, 0
        while j < len(units) and (j == i or words + units[j][2] <= cfg.max_words):
            words += units[j][2]
            j += 1
        s, e = units[i][0], units[j - 1][1]
        out.append(Span(line_of(s), line_of(max(s, e - 1)), head + text[s:e]))
        if j >= len(units):
            break
        back = j - 1
        i = back if back > i and units[back][2] <= cfg.max_words // 2 else j
    return out


def _prose_units(text: str, max_words: int) -> list[tuple[int, int, int]]:
    """(start, end, words) of paragraphs, or of sentences inside too-long paragraphs."""
    units: list[tuple[int, int, int]] = []
    pos = 0
    for m in [*_PARA.finditer(text), None]:
        end = m.start() if m is not None else len(text)
        para = text[pos:end]
        lead = len(para) - len(para.lstrip())
        s, e = pos + lead, pos + len(para.rstrip())
        if e > s:
            words = len(text[s:e].split())
            if words <= max_words:
                units.append((s, e, words))
            else:
                cut = s
                for sm in [*_SENTENCE_END.finditer(text, s, e), None]:
                    se = sm.start() if sm is not None else e
                    if se > cut:
                        units.append((cut, se, len(text[cut:se].split())))
                    if sm is not None:
                        cut = sm.end()
        if m is not None:
            pos = m.end()
    return units
