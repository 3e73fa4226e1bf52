"""Scoring one strategy's prompts: tokens, the cache model, cost, validity, facts.

Owns the one neutral shape every strategy's prompt is converted to — a list of
``Segment`` (system text, one tool schema, a user message, an assistant message, a tool
call, a tool result) plus the segments a cache breakpoint follows — and everything
measured from it, the same way for every strategy: token counts (o200k, cached by text),
the prefix cache under each profile through ``ctxkit._cache.CacheModel`` (explicit
breakpoints for claude-sonnet-4-5, the automatic prefix cache for gpt-5), cost, invalid
tool sequences, overflows and which needed facts are in the prompt. Knows nothing of how
a strategy built its prompts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ctxkit import profile_for
from ctxkit._cache import CacheModel
from ctxkit._draft import Breakpoint
from ctxkit._tokens import TiktokenTokenizer

PROFILES = ("claude-sonnet-4-5", "gpt-5")
REPLY_RESERVE = 4096      # tokens every strategy keeps free for the reply
SECONDS_PER_CALL = 12.0
SECONDS_PER_TURN = 45.0
FRAMING = 4               # tokens of message framing per segment


@dataclass(frozen=True, slots=True)
class Segment:
    role: str                 # system | tool | user | assistant | tool_use | tool_result
    text: str
    call_id: str = ""


@dataclass(slots=True)
class Prompt:
    segments: list[Segment]
    breakpoints: dict[int, str] = field(default_factory=dict)  # segment index -> ttl


class Counter:
    """o200k token counts, cached by text (the hot path: the same text is counted once)."""

    def __init__(self) -> None:
        self._tok = TiktokenTokenizer("o200k_base")
        self._cache: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        n = self._cache.get(text)
        if n is None:
            n = self._cache[text] = len(self._tok.encode(text, )) if text else 0
        return n


_HASH: dict[tuple[str, str, str], bytes] = {}


def _seg_hash(s: Segment) -> bytes:
    key = (s.role, s.call_id, s.text)
    h = _HASH.get(key)
    if h is None:
        h = _HASH[key] = hashlib.blake2b(f"{s.role}\0{s.call_id}\0{s.text}".encode(),
                                         digest_size=12).digest()
    return h


@dataclass(slots=True)
class Totals:
    calls: int = 0
    prompt_tokens: int = 0
    max_prompt: int = 0
    read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROFILES, 0))
    cost: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PROFILES, 0.0))
    summary_cost: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PROFILES, 0.0))
    facts_needed: int = 0
    facts_in_prompt: int = 0
    missed: dict[str, int] = field(default_factory=dict)
    invalid: int = 0
    overflows: int = 0
    compactions: int = 0
    summary_calls: int = 0

    def add(self, o: Totals) -> None:
        for k in ("calls", "prompt_tokens", "facts_needed", "facts_in_prompt", "invalid",
                  "overflows", "compactions", "summary_calls"):
            setattr(self, k, getattr(self, k) + getattr(o, k))
        self.max_prompt = max(self.max_prompt, o.max_prompt)
        for p in PROFILES:
            self.read[p] += o.read[p]
            self.cost[p] += o.cost[p]
            self.summary_cost[p] += o.summary_cost[p]
        for k, v in o.missed.items():
            self.missed[k] = self.missed.get(k, 0) + v


class Scorer:
    """Scores one session's prompts under one strategy, call by call."""

    def __init__(self, counter: Counter, window: int) -> None:
        self.count = counter
        self.limit = window - REPLY_RESERVE
        self.profiles = {p: profile_for(p) for p in PROFILES}
        self.models = {p: CacheModel(self.profiles[p].cache) for p in PROFILES}
        self.now = 1_767_225_600.0
        self.t = Totals()

    def call(self, prompt: Prompt, *, reply: str, needs: list[tuple[str, str]],
             new_turn: bool) -> None:
        """Score one model call: ``needs`` are (kind, probe) facts it needs."""
        self.now += SECONDS_PER_TURN if new_turn else SECONDS_PER_CALL
        segs = prompt.segments
        chain: list[str] = []
        cumulative: list[int] = []
        h = b""
        total = 0
        for s in segs:
            h = hashlib.blake2b(h + _seg_hash(s), digest_size=12).digest()
            chain.append(h.hex())
            total += self.count(s.text) + FRAMING
            cumulative.append(total)
        t = self.t
        t.calls += 1
        t.prompt_tokens += total
        t.max_prompt = max(t.max_prompt, total)
        t.overflows += total > self.limit
        t.invalid += invalid_sequences(segs)
        out_tokens = self.count(reply) + 40
        for name, prof in self.profiles.items():
            model = self.models[name]
            bps = [Breakpoint(i, ttl) for i, ttl in sorted(prompt.breakpoints.items())  # type: ignore[arg-type]
                   if i < len(segs) and cumulative[i] >= prof.cache.min_tokens]
            pred = model.predict(chain, cumulative, bps, self.now)
            model.commit(chain, cumulative, bps, pred.read, self.now)
            pr = prof.prices
            t.read[name] += pred.read
            t.cost[name] += (pred.read * pr.cache_read + pred.write_5m * pr.cache_write_5m
                             + pred.write_1h * pr.cache_write_1h
                             + pred.uncached * pr.input + out_tokens * pr.output) / 1e6
        if needs:
            text = "\n".join(s.text for s in segs)
            for kind, probe in needs:
                t.facts_needed += 1
                if probe in text:
                    t.facts_in_prompt += 1
                else:
                    t.missed[kind] = t.missed.get(kind, 0) + 1

    def summary_call(self, prompt_text: str, summary: str) -> None:
        """A summary a strategy writes: counted, and priced as an uncached model call
        would be (``summary_cost``), but not added to ``cost``."""
        t = self.t
        t.summary_calls += 1
        n_in, n_out = self.count(prompt_text), self.count(summary)
        for name, prof in self.profiles.items():
            # not in cost: the summarizer here is the shared extractive one (no model
            # call); this is what an LLM summarizer would add, reported beside it
            t.summary_cost[name] += (n_in * prof.prices.input + n_out * prof.prices.output) / 1e6


def invalid_sequences(segs: list[Segment]) -> int:
    """Tool results without their call before them, and calls without a result after."""
    bad = 0
    open_uses: set[str] = set()
    answered: set[str] = set()
    for s in segs:
        if s.role == "tool_use":
            open_uses.add(s.call_id)
        elif s.role == "tool_result":
            if s.call_id not in open_uses:
                bad += 1
            answered.add(s.call_id)
    return bad + len(open_uses - answered)


def summarize(t: Totals) -> dict[str, Any]:
    """The figures of the JSON contract (and a few more) from a strategy's totals."""
    calls = max(1, t.calls)
    return {
        "cost_usd": {p: round(t.cost[p], 4) for p in PROFILES},
        "summary_cost_usd": {p: round(t.summary_cost[p], 4) for p in PROFILES},
        "facts_in_prompt": round(t.facts_in_prompt / max(1, t.facts_needed), 4),
        "facts_needed": t.facts_needed,
        "facts_missed_by_kind": dict(sorted(t.missed.items())),
        "cache_read_share": {p: round(t.read[p] / max(1, t.prompt_tokens), 4) for p in PROFILES},
        "prompt_tokens_mean": round(t.prompt_tokens / calls, 1),
        "prompt_tokens_max": t.max_prompt,
        "calls": t.calls,
        "compactions": t.compactions,
        "summary_calls": t.summary_calls,
        "invalid_sequences": t.invalid,
        "overflows": t.overflows,
    }
