"""The audit's findings as plain data: AuditReport, SessionAudit, CacheKiller, Duplicate,
LayoutEstimate, CallFigures, and their stable JSON form (``AuditReport.to_dict``).

Owns the shapes and the aggregation across sessions. Knows nothing of how the figures are
computed (``_analyze``, ``_estimate``) or drawn (``_render``). Bump ``SCHEMA`` when a key
of ``to_dict`` changes meaning or disappears; adding a key does not bump it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ._usage import MeasuredTotals

SCHEMA = 2  # 2: per-session model, measured usage, warnings, inputs


@dataclass(slots=True)
class LayoutEstimate:
    """Prompt tokens of a session (or all) under one layout, split by the cache model."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def uncached_tokens(self) -> int:
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    @property
    def hit_rate(self) -> float:
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0

    def add(self, other: LayoutEstimate) -> None:
        self.input_tokens += other.input_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cost_usd += other.cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "cache_read_tokens": self.cache_read_tokens,
                "cache_write_tokens": self.cache_write_tokens,
                "uncached_tokens": self.uncached_tokens, "hit_rate": self.hit_rate,
                "cost_usd": self.cost_usd}


@dataclass(slots=True)
class CacheKiller:
    """A call whose prompt does not extend an earlier prompt it shares its start with.

    ``offset`` is the UTF-8 byte offset in the earlier prompt's serialization where the
    two first differ; ``content_offset`` the same within the differing item's content.
    ``tokens_lost`` counts the earlier prompt's tokens from there on: what a cache of
    that prompt cannot serve to this one.
    """

    session: str
    call: int
    compared_to: int
    offset: int
    content_offset: int
    line: int
    where: str
    role: str
    category: str
    region: str
    key: str
    cause: str
    detail: str
    diff: str
    tokens_lost: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Duplicate:
    """One tool output / observation that the session received more than once."""

    session: str
    tokens: int
    copies: int
    first: str
    repeats: list[str]
    tokens_wasted: int
    preview: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class CallFigures:
    """Per-call figures; prefix figures compare with the immediately previous call."""

    index: int
    tokens: int
    common_prefix_bytes: int | None = None
    common_prefix_tokens: int | None = None
    reuse: float | None = None
    compared_to: int | None = None
    new_prompt: bool = False
    recorded_read: int = 0
    ctxkit_read: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class SessionAudit:
    """Everything the audit found in one session."""

    name: str
    source: str
    format: str
    calls: list[CallFigures] = field(default_factory=list)
    tokens_by_kind: dict[str, int] = field(default_factory=dict)
    killers: list[CacheKiller] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    recorded: LayoutEstimate = field(default_factory=LayoutEstimate)
    ctxkit: LayoutEstimate = field(default_factory=LayoutEstimate)
    no_cache_cost_usd: float = 0.0
    notes: list[str] = field(default_factory=list)
    reported_tokens_sent: int | None = None
    reported_calls: int | None = None
    model: str = ""
    prices_known: bool = True
    reconstructed: bool = False
    measured: MeasuredTotals = field(default_factory=MeasuredTotals)
    warnings: list[str] = field(default_factory=list)
    shared_prefix_tokens: int = 0
    shared_prefix_saving_usd: float = 0.0
    rewrite_saving_usd: float = 0.0  # what an append-only history would keep cacheable

    @property
    def num_calls(self) -> int:
        return len(self.calls)

    @property
    def input_tokens(self) -> int:
        return sum(c.tokens for c in self.calls)

    @property
    def mean_reuse(self) -> float | None:
        shares = [c.reuse for c in self.calls if c.reuse is not None]
        return sum(shares) / len(shares) if shares else None

    @property
    def duplicate_tokens(self) -> int:
        return sum(d.tokens_wasted for d in self.duplicates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "format": self.format,
            "calls": self.num_calls, "input_tokens": self.input_tokens,
            "mean_reuse": self.mean_reuse,
            "new_prompts": sum(c.new_prompt for c in self.calls),
            "tokens_by_kind": dict(self.tokens_by_kind),
            "recorded": self.recorded.to_dict(), "ctxkit": self.ctxkit.to_dict(),
            "no_cache_cost_usd": self.no_cache_cost_usd,
            "cache_killers": [k.to_dict() for k in self.killers],
            "duplicates": [d.to_dict() for d in self.duplicates],
            "duplicate_tokens": self.duplicate_tokens,
            "reported_tokens_sent": self.reported_tokens_sent,
            "reported_calls": self.reported_calls, "model": self.model,
            "prices_known": self.prices_known, "reconstructed": self.reconstructed,
            "measured": self.measured.to_dict() if self.measured.calls else None,
            "shared_prefix_tokens": self.shared_prefix_tokens,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "per_call": [c.to_dict() for c in self.calls],
        }


@dataclass(slots=True)
class AuditReport:
    """The audit of one or more sessions under one model profile."""

    model: str
    tokenizer: str
    tokens_exact: bool
    cache_kind: str
    prices_as_of: str
    sessions: list[SessionAudit] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    inputs: list[tuple[str, str, str]] = field(default_factory=list)  # path, format, why

    def measured(self) -> MeasuredTotals:
        """Provider-reported usage summed over every call that carried it."""
        acc = MeasuredTotals()
        for s in self.sessions:
            acc.merge(s.measured)
        return acc

    @property
    def prices_known(self) -> bool:
        return all(s.prices_known for s in self.sessions)

    def total(self, layout: str) -> LayoutEstimate:
        """Summed ``recorded`` or ``ctxkit`` estimate over all sessions."""
        acc = LayoutEstimate()
        for s in self.sessions:
            acc.add(getattr(s, layout))
        return acc

    def tokens_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.sessions:
            for k, v in s.tokens_by_kind.items():
                out[k] = out.get(k, 0) + v
        return out

    def killers(self, top: int | None = None) -> list[CacheKiller]:
        """Cache-killers of every session, most tokens lost first."""
        ks = sorted((k for s in self.sessions for k in s.killers),
                    key=lambda k: (-k.tokens_lost, k.session, k.call))
        return ks[:top] if top is not None else ks

    def killer_groups(self, top: int | None = None) -> list[tuple[CacheKiller, int, int]]:
        """Cache-killers with the same session, place and cause folded into one:
        (the costliest of them, how many, their tokens lost together), costliest first."""
        groups: dict[tuple[str, str, str], list[CacheKiller]] = {}
        for k in self.killers():
            groups.setdefault((k.session, k.where, k.cause), []).append(k)
        out = [(ks[0], len(ks), sum(k.tokens_lost for k in ks)) for ks in groups.values()]
        out.sort(key=lambda g: (-g[2], g[0].session, g[0].call))
        return out[:top] if top is not None else out

    def causes(self) -> dict[str, dict[str, int]]:
        """Per cause: how many cache-killers and how many tokens they lost."""
        out: dict[str, dict[str, int]] = {}
        for k in self.killers():
            c = out.setdefault(k.cause, {"count": 0, "tokens_lost": 0})
            c["count"] += 1
            c["tokens_lost"] += k.tokens_lost
        return out

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON form (see docs/audit.md); ``schema`` versions it."""
        return {
            "schema": SCHEMA, "model": self.model, "tokenizer": self.tokenizer,
            "tokens_exact": self.tokens_exact, "cache_kind": self.cache_kind,
            "prices_as_of": self.prices_as_of,
            "totals": {
                "sessions": len(self.sessions),
                "calls": sum(s.num_calls for s in self.sessions),
                "input_tokens": sum(s.input_tokens for s in self.sessions),
                "tokens_by_kind": self.tokens_by_kind(),
                "recorded": self.total("recorded").to_dict(),
                "ctxkit": self.total("ctxkit").to_dict(),
                "no_cache_cost_usd": sum(s.no_cache_cost_usd for s in self.sessions),
                "cache_killers": len(self.killers()),
                "causes": self.causes(),
                "duplicate_tokens": sum(s.duplicate_tokens for s in self.sessions),
                "measured": self.measured().to_dict() if self.measured().calls else None,
                "prices_known": self.prices_known,
                "shared_prefix_tokens": sum(s.shared_prefix_tokens for s in self.sessions),
                "shared_prefix_saving_usd": sum(s.shared_prefix_saving_usd
                                                for s in self.sessions),
                "warnings": sum(len(s.warnings) for s in self.sessions),
                "history_rewrite_saving_usd": sum(s.rewrite_saving_usd
                                                  for s in self.sessions),
            },
            "sessions": [s.to_dict() for s in self.sessions],
            "errors": [{"path": p, "error": e} for p, e in self.errors],
            "inputs": [{"path": p, "format": f, "why": w} for p, f, w in self.inputs],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)
