"""Canonicalizer: one tool output in, its canonical form out.

Owns the order the rules run in, which ones are on, sorting of output a tool declares
unordered, deterministic truncation, and collapsing an output identical to an earlier one
still in the transcript into a reference to it. Knows nothing of the pipeline: it gets the
text, the tool's name and the earlier blocks, and returns text.

Canonical output matters for the cache as much as for quality: a tool result is part of
the history, and the history is the cached prefix of every later call. Equal results must
give equal bytes, whatever the clock, the temp directory or the terminal said.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .._block import Block
from .._errors import UserError
from . import _rules
from ._rules import Numbering, Rule

REFERENCE_PREFIX = "[identical to the output of call "


@dataclass(frozen=True, slots=True, kw_only=True)
class Canonicalizer:
    """Turns tool output into stable, compact text.

    Attributes:
        strip_terminal: drop ANSI escapes, apply ``\\r``/``\\b`` overwrites, keep only the
            final line of a run of progress bars.
        timestamps: date-times and clock times become ``<TIMESTAMP>``.
        durations: ``0.53s``, ``12ms``, ``0m1.2s`` become ``<DURATION>``.
        temp_paths: temporary directories become ``<TMP1>``, ``<TMP2>`` (numbered per
            output, so two different temp dirs stay distinguishable).
        ids: UUIDs, request/trace/span ids, provider message ids and pids become
            ``<UUID1>``, ``<ID1>``, ``<PID1>``.
        addresses: memory addresses (``at 0x7f3a...``) become ``<ADDR1>``.
        unordered_tools: tools whose output lines have no meaningful order (``ls``,
            ``find``, ``env``); their lines are sorted.
        max_lines: longer outputs keep ``head_lines`` + ``tail_lines`` lines and a marker
            counting the omitted ones (None: no limit).
        head_lines: lines kept from the start (default: two thirds of ``max_lines``).
        tail_lines: lines kept from the end (default: the rest, less the marker line).
        max_line_chars: longer lines are cut, saying how many characters were omitted.
        dedupe: an output identical to an earlier tool result still in the transcript
            becomes a one-line reference to that call.
        dedupe_min_chars: shorter outputs are never replaced by a (longer) reference.
        extra_rules: more ``rule(text, numbering) -> text`` functions, run last.
    """

    strip_terminal: bool = True
    timestamps: bool = True
    durations: bool = True
    temp_paths: bool = True
    ids: bool = True
    addresses: bool = True
    unordered_tools: frozenset[str] = field(default_factory=frozenset)
    max_lines: int | None = 400
    head_lines: int | None = None
    tail_lines: int | None = None
    max_line_chars: int | None = 2000
    dedupe: bool = True
    dedupe_min_chars: int = 120
    extra_rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        if self.max_lines is not None and self.max_lines < 3:
            raise UserError(f"Canonicalizer.max_lines must be >= 3 (head, marker, tail) or "
                            f"None, got {self.max_lines}")
        head, tail = self._head_tail()
        if self.max_lines is not None and head + tail + 1 > self.max_lines:
            raise UserError(f"head_lines ({head}) + tail_lines ({tail}) + the marker line "
                            f"exceed max_lines ({self.max_lines}); lower one of them")
        if self.max_line_chars is not None and self.max_line_chars < 16:
            raise UserError("Canonicalizer.max_line_chars must be >= 16 or None")
        object.__setattr__(self, "unordered_tools", frozenset(self.unordered_tools))

    def _head_tail(self) -> tuple[int, int]:
        if self.max_lines is None:
            return 0, 0
        head = self.head_lines if self.head_lines is not None else (2 * self.max_lines) // 3
        tail = self.tail_lines if self.tail_lines is not None else self.max_lines - head - 1
        if head < 0 or tail < 0:
            raise UserError("head_lines and tail_lines must be >= 0")
        return head, tail

    def normalize(self, text: str, *, unordered: bool = False) -> str:
        """The canonical form of ``text`` (no dedupe): rules, sorting, truncation."""
        if not isinstance(text, str):
            raise UserError(f"canonicalize takes str, got {type(text).__name__}; serialize "
                            "structured output with ctxkit.canonical_json first")
        if self.strip_terminal:
            text = _rules.drop_progress(_rules.apply_overwrites(_rules.strip_ansi(text)))
        numbering = Numbering()
        rules: list[Rule] = [rule for on, rule in (
            (self.timestamps, _rules.timestamps), (self.durations, _rules.durations),
            (self.temp_paths, _rules.temp_paths), (self.ids, _rules.ids),
            (self.addresses, _rules.addresses)) if on]
        for rule in [*rules, *self.extra_rules]:
            text = rule(text, numbering)
        # lines keep their trailing whitespace: "12\t" is a numbered empty line, not noise
        lines = text.split("\n")
        while lines and not lines[-1]:
            lines.pop()
        if unordered:
            lines = sorted(lines)
        if self.max_line_chars is not None:
            lines = [_rules.truncate_line(line, self.max_line_chars) for line in lines]
        if self.max_lines is not None and len(lines) > self.max_lines:
            lines = _rules.truncate_lines(lines, *self._head_tail())
        return "\n".join(lines)

    def __call__(self, text: str, *, tool: str | None = None,
                 earlier: Iterable[Block] = (), unordered: bool | None = None) -> str:
        """The canonical form of one tool output.

        Args:
            text: the raw output.
            tool: the tool's name (decides ``unordered_tools``; named in references).
            earlier: blocks already in the transcript; an identical tool result among them
                turns this output into a reference to that call.
            unordered: force (or forbid) sorting the lines, whatever the tool.
        """
        sort = unordered if unordered is not None else (tool in self.unordered_tools)
        out = self.normalize(text, unordered=sort)
        if self.dedupe and len(out) >= self.dedupe_min_chars:
            for b in earlier:
                if b.kind == "tool_result" and not b.is_error and b.content == out:
                    return (f"{REFERENCE_PREFIX}{b.call_id}"
                            f"{f' ({b.name})' if b.name else ''} above]")
        return out


DEFAULT = Canonicalizer()


def canonicalize(text: str, *, tool: str | None = None, earlier: Iterable[Block] = (),
                 unordered: bool | None = None,
                 canonicalizer: Canonicalizer | None = None) -> str:
    """Canonical form of ``text`` under ``canonicalizer`` (default settings if None)."""
    return (canonicalizer or DEFAULT)(text, tool=tool, earlier=earlier, unordered=unordered)
