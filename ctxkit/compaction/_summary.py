"""Structured summaries of compacted turns, and the offline (extractive) summarizer.

Owns the Summary shape — facts learned, decisions, open questions, failed attempts *with
their errors* (the error that explains the next failure must survive) — its rendering,
merging with the previous summary, trimming to a token cap, and ``ExtractiveSummarizer``,
which picks sentences and error lines from the turns without a model. The model-written
summary lives in ``_llm``. Knows nothing of sessions or policies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from .._block import Block
from ._sink import terms

_ERROR_LINE = re.compile(r"(?i)(error|exception|traceback|failed|failure|fatal|denied|"
                         r"not found|no such|cannot|can't|refused|timed? ?out|exit (code|status)"
                         r" [1-9])")
_DECISION = re.compile(r"(?i)\b(i'll|i will|let's|let us|we'll|we will|decided|decide to|"
                       r"going to|plan is|instead|switch(ed)? to|chose|choose|should)\b")
# a concrete artifact an assistant sentence names: a path, a source file, a flag, a call
_ENTITY = re.compile(r"(?:\b[\w.-]+/[\w./-]*\w|\b\w+\.(?:py|pyi|js|ts|go|rs|c|h|cc|java|rb|"
                     r"md|json|toml|ya?ml|cfg|ini|txt|sh)\b|(?<![\w-])--?[a-z][\w-]{2,}|"
                     r"\b\w+\(\)|\b[A-Z][A-Z0-9]+-\d+\b|(?i:root cause))")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(\[])|\n+")
_TOKEN = re.compile(r"<(TIMESTAMP|DURATION|TMP\d+|UUID\d+|ID\d+|PID\d+|ADDR\d+)>")


class FailedAttempt(BaseModel):
    """Something tried that did not work, and the error that said so."""

    model_config = ConfigDict(frozen=True)

    attempt: str
    error: str


class Summary(BaseModel):
    """What compacted turns taught: findings, facts, decisions, open questions, failures.

    ``findings`` are what the agent itself concluded about a concrete artifact (a path, a
    flag, a function, a root cause): kept before the facts the summarizer picks from tool
    output, and trimmed last but one."""

    findings: list[str] = Field(default_factory=list)
    facts: list[str] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list)
    open_questions: list[str] = Field(default_factory=list)
    failed_attempts: list[FailedAttempt] = Field(default_factory=list)

    def merged(self, newer: Summary) -> Summary:
        """This (older) summary followed by ``newer``, without repeats."""
        def join(a: list[Any], b: list[Any]) -> list[Any]:
            out: list[Any] = []
            for x in [*a, *b]:
                if x not in out:
                    out.append(x)
            return out

        return Summary(findings=join(self.findings, newer.findings),
                       facts=join(self.facts, newer.facts),
                       decisions=join(self.decisions, newer.decisions),
                       open_questions=join(self.open_questions, newer.open_questions),
                       failed_attempts=join(self.failed_attempts, newer.failed_attempts))

    def render(self) -> str:
        out: list[str] = []
        for title, items in (("Findings", self.findings), ("Facts learned", self.facts),
                             ("Decisions", self.decisions),
                             ("Open questions", self.open_questions)):
            if items:
                out += [f"{title}:", *(f"- {x}" for x in items)]
        if self.failed_attempts:
            out += ["Failed attempts:",
                    *(f"- {a.attempt} -> {a.error}" for a in self.failed_attempts)]
        return "\n".join(out) or "(nothing to keep)"

    def trimmed(self, max_tokens: int, count: Callable[[str], int]) -> Summary:
        """Drop the oldest facts, then decisions, until the render fits ``max_tokens``
        (open questions, findings and failed attempts go last: they explain what comes
        next)."""
        s = self.model_copy(deep=True)
        for name in ("facts", "decisions", "open_questions", "findings", "failed_attempts"):
            items = getattr(s, name)
            while items and count(s.render()) > max_tokens:
                items.pop(0)
        return s


@dataclass(slots=True)
class SummaryRequest:
    """What a summarizer is given.

    Attributes:
        dropped: the blocks leaving the prompt, in order.
        previous: the summary they are folded into (from the last compaction), if any.
        prefix: the blocks before the history in this call (system, tools, project).
        transcript: the whole transcript as the last call rendered it.
        draft: the call being assembled (profile, counter, budget).
        keep_turns: how many recent turns stay verbatim.
    """

    dropped: Sequence[Block]
    previous: Summary | None = None
    prefix: Sequence[Block] = ()
    transcript: Sequence[Block] = ()
    draft: Any = None
    keep_turns: int = 0
    usage: list[Any] = field(default_factory=list)


class Summarizer(Protocol):
    """Writes the summary of the turns a compaction drops. One that asks a model may also
    offer ``async asummarize(request)``, which the Compactor awaits under ``arun``."""

    def summarize(self, request: SummaryRequest) -> Summary: ...


def _sentences(text: str) -> list[str]:
    out = (s.lstrip(" -*>\t").rstrip() for s in _SENTENCE.split(text) if s)
    return [s for s in out if s]


def _is_noise(s: str) -> bool:
    letters = sum(c.isalpha() for c in s)
    return letters < 0.5 * len(s) or bool(_TOKEN.search(s)) or s.startswith("[")


class ExtractiveSummarizer:
    """A summary from the turns' own words, without a model.

    Findings are assistant sentences that name a concrete artifact (a path, a file, a
    flag, a function call, a ticket, a root cause); facts are the most informative
    sentences of user messages and tool results (content words, names and numbers count;
    terminal noise and normalized tokens do not); decisions are other assistant sentences
    with a decision cue; open questions are the latest questions asked; failed attempts
    pair a failing call with its last error line.

    Args:
        max_findings: the most findings kept.
        max_facts: the most facts kept.
        max_decisions: the most decisions kept.
        max_questions: the most open questions kept.
        max_failures: the most failed attempts kept.
    """

    def __init__(self, *, max_findings: int = 40, max_facts: int = 40,
                 max_decisions: int = 12, max_questions: int = 8,
                 max_failures: int = 10) -> None:
        self.max_findings = max_findings
        self.max_facts, self.max_decisions = max_facts, max_decisions
        self.max_questions, self.max_failures = max_questions, max_failures

    def summarize(self, request: SummaryRequest) -> Summary:
        new = self.extract(request.dropped)
        if request.previous is not None:
            new = request.previous.merged(new)
        return Summary(findings=new.findings[-self.max_findings:],
                       facts=new.facts[-self.max_facts:],
                       decisions=new.decisions[-self.max_decisions:],
                       open_questions=new.open_questions[-self.max_questions:],
                       failed_attempts=new.failed_attempts[-self.max_failures:])

    def extract(self, blocks: Sequence[Block]) -> Summary:
        calls = {b.call_id: b for b in blocks if b.kind == "tool_use"}
        facts: list[tuple[float, int, str]] = []
        decisions: list[str] = []
        findings: list[str] = []
        questions: list[tuple[str, str]] = []
        failures: list[FailedAttempt] = []
        pos = 0
        for b in blocks:
            if b.kind in ("tool", "tool_use", "thinking") or (
                    b.provenance is not None and b.provenance.source == "compaction"):
                continue
            failed = False
            if b.kind == "tool_result" and (b.is_error or _ERROR_LINE.search(b.content[:4000])):
                fail = _failure(b, calls.get(b.call_id))
                if fail is not None:
                    failures.append(fail)
                    failed = True
                    if b.is_error:
                        continue
            for s in _sentences(b.content):
                pos += 1
                if len(s) < 12 or len(s) > 400 or _is_noise(s) or (
                        failed and _ERROR_LINE.search(s)):
                    continue
                if s.endswith("?"):
                    questions.append((b.role, s))
                elif b.role == "assistant":
                    if _ENTITY.search(s):
                        findings.append(s)
                    elif _DECISION.search(s):
                        decisions.append(s)
                else:
                    facts.append((_salience(s), pos, s))
        unique = list({s: (score, p, s) for score, p, s in reversed(facts)}.values())
        best = sorted(unique, key=lambda f: (-f[0], -f[1]))[: self.max_facts]
        return Summary(findings=list(dict.fromkeys(findings)),
                       facts=[s for _, _, s in sorted(best, key=lambda f: f[1])],
                       decisions=list(dict.fromkeys(decisions)),
                       open_questions=list(dict.fromkeys(q for _, q in questions)),
                       failed_attempts=failures)


def _salience(sentence: str) -> float:
    words = terms(sentence)
    if not words:
        return 0.0
    names = sum(1 for w in re.findall(r"\b[A-Z][a-z]+", sentence[1:]))
    numbers = len(re.findall(r"\d+", sentence))
    return len(set(words)) + 1.5 * names + 1.0 * numbers


def _failure(result: Block, call: Block | None) -> FailedAttempt | None:
    lines = [ln.strip() for ln in result.content.splitlines() if ln.strip()]
    errors = [ln for ln in lines if _ERROR_LINE.search(ln)]
    if not errors and not result.is_error:
        return None
    error = (errors[-1] if errors else lines[-1] if lines else "(no output)")[:300]
    what = f"{call.name}({call.content[:160]})" if call is not None else \
        f"{result.name or 'tool'} call {result.call_id}"
    return FailedAttempt(attempt=what, error=error)
