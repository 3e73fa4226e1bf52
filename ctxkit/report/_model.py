"""Figures: per-call and per-session figures aggregated from CallRecords.

``Figures`` is what ``Report`` (``_report.py``) adds its renderings to. Owns the arithmetic
(tokens by layer x {cache read, cache write, uncached}, hit rate, cost, latency, drift
events, disagreements) and the layer order reports show. Renderers (terminal, JSON, HTML)
only format it. Knows nothing of how records were produced.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._drift import DriftEvent
from .._record import CallRecord, LayerTokens
from .._types import Usage

_F = TypeVar("_F", bound="Figures")

FRAMING = "framing"  # wire-format tokens around messages: no layer owns them, shown last


@dataclass(slots=True)
class Figures:
    """Figures for one or more sessions of calls.

    Aggregates count successful calls only; failed calls are listed apart (``failed``).
    Token figures are the backend's reported usage where it reports cache hits, else
    ctxkit's prediction (``CallRecord.usage``).
    """

    records: list[CallRecord] = field(default_factory=list)
    # computed once: the renderers ask for these many times (a report is not edited)
    _sessions: list[str] | None = field(default=None, init=False, repr=False, compare=False)
    _calls: list[CallRecord] | None = field(default=None, init=False, repr=False,
                                            compare=False)
    _totals: dict[str, float] | None = field(default=None, init=False, repr=False,
                                             compare=False)

    @classmethod
    def from_records(cls: type[_F], records: Iterable[CallRecord]) -> _F:
        return cls(list(records))

    # -- aggregates over successful calls -------------------------------------------------

    @property
    def calls(self) -> list[CallRecord]:
        if self._calls is None:
            self._calls = [r for r in self.records if r.ok]
        return self._calls

    def _total(self, name: str) -> float:
        if self._totals is None:
            t = dict.fromkeys(("input", "output", "read", "write", "uncached", "cost",
                               "cost_uncached"), 0.0)
            for r in self.calls:
                u = r.usage
                t["input"] += u.input_tokens
                t["output"] += u.output_tokens
                t["read"] += u.cache_read_tokens
                t["write"] += u.cache_write_tokens
                t["uncached"] += u.uncached_tokens
                t["cost"] += r.cost_usd
                t["cost_uncached"] += r.cost_uncached_usd
            self._totals = t
        return self._totals[name]

    @property
    def failed(self) -> list[CallRecord]:
        return [r for r in self.records if not r.ok]

    @property
    def layers(self) -> list[str]:
        """Layer names in prompt order (see ``layer_order``)."""
        return layer_order(self.records)

    @property
    def sessions(self) -> list[str]:
        """Session ids in the order they first appear (computed once: ``label`` asks per call)."""
        if self._sessions is None:
            self._sessions = list(dict.fromkeys(r.session_id for r in self.records))
        return self._sessions

    def by_layer(self) -> dict[str, LayerTokens]:
        """Tokens per layer, summed over successful calls, in prompt order."""
        sums: dict[str, list[int]] = {}  # plain ints: a pydantic model per add is slow
        for r in self.calls:
            for name, lt in r.by_layer.items():
                acc = sums.setdefault(name, [0, 0, 0])
                acc[0] += lt.read
                acc[1] += lt.write
                acc[2] += lt.uncached
        out = {k: LayerTokens(read=a, write=b, uncached=c) for k, (a, b, c) in sums.items()}
        rank = {name: i for i, name in enumerate(self.layers)}
        return dict(sorted(out.items(), key=lambda kv: rank.get(kv[0], len(rank))))

    @property
    def input_tokens(self) -> int:
        return int(self._total("input"))

    @property
    def output_tokens(self) -> int:
        return int(self._total("output"))

    @property
    def cache_read_tokens(self) -> int:
        return int(self._total("read"))

    @property
    def cache_write_tokens(self) -> int:
        return int(self._total("write"))

    @property
    def uncached_tokens(self) -> int:
        return int(self._total("uncached"))

    @property
    def hit_rate(self) -> float:
        """Cache-read tokens over all input tokens (0.0 when there were none)."""
        total = self.input_tokens
        return self.cache_read_tokens / total if total else 0.0

    @property
    def cost_usd(self) -> float:
        return self._total("cost")

    @property
    def cost_uncached_usd(self) -> float:
        """What the same calls would have cost with every input token sent uncached."""
        return self._total("cost_uncached")

    @property
    def savings_usd(self) -> float:
        """``cost_uncached_usd - cost_usd``; negative when cache writes were never reused."""
        return self.cost_uncached_usd - self.cost_usd

    def latency(self) -> dict[str, float]:
        """Latency in seconds: median, 95th percentile (nearest rank) and max."""
        lat = sorted(r.latency_s for r in self.calls)
        if not lat:
            return {"p50": 0.0, "p95": 0.0, "max": 0.0}
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        return {"p50": statistics.median(lat), "p95": p95, "max": lat[-1]}

    def drift_events(self) -> list[tuple[CallRecord, DriftEvent]]:
        return [(r, d) for r in self.records for d in r.drift]

    def disagreements(self) -> list[CallRecord]:
        return [r for r in self.records if r.disagreement]

    def layout_notes(self) -> list[CallRecord]:
        return [r for r in self.records if r.layout is not None]

    @property
    def models(self) -> list[str]:
        return sorted({r.model for r in self.records})

    @property
    def prices_as_of(self) -> list[str]:
        return sorted({r.prices_as_of for r in self.calls})

    @property
    def is_exact(self) -> bool:
        """True when every call's counts are exact (exact tokenizer or reported usage)."""
        return all(r.tokens_exact or r.reported is not None for r in self.calls)

    def label(self, record: CallRecord) -> str:
        """How tables name a call: its index, prefixed by its session when there are several."""
        if len(self.sessions) > 1:
            return f"{record.session_id}:{record.index}"
        return str(record.index)

    def per_call(self) -> list[dict[str, Any]]:
        """One plain dict per record (failed calls included, with ``ok`` False)."""
        rows = []
        sums: dict[str, list[int]] = {}  # session -> [cache read, input] so far
        for pos, r in enumerate(self.records):
            u = r.usage
            acc = sums.setdefault(r.session_id, [0, 0])
            if r.ok:
                acc[0] += u.cache_read_tokens
                acc[1] += u.input_tokens
            rows.append({
                "position": pos, "label": self.label(r), "call_id": r.call_id,
                "index": r.index, "turn": r.turn, "step": r.step, "ok": r.ok,
                "error": r.error, "session": r.session_id, "model": r.model,
                "input": u.input_tokens, "read": u.cache_read_tokens,
                "write": u.cache_write_tokens, "write_1h": u.cache_write_1h_tokens,
                "uncached": u.uncached_tokens, "output": u.output_tokens,
                "hit_rate": r.hit_rate,
                "cumulative_hit_rate": acc[0] / acc[1] if acc[1] else 0.0,
                "cost_usd": r.cost_usd, "cost_uncached_usd": r.cost_uncached_usd,
                "latency_s": r.latency_s, "drift": len(r.drift),
                "drift_causes": [d.cause for d in r.drift],
                "source": "reported" if r.reported is not None else "predicted",
                "predicted": _usage(r.predicted),
                "reported": _usage(r.reported) if r.reported is not None else None,
                "layers": {k: v.model_dump() for k, v in r.by_layer.items()},
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the report (what ``--format json`` prints)."""
        return {
            "calls": len(self.calls), "failed": len(self.failed), "models": self.models,
            "sessions": self.sessions, "layer_order": self.layers,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "uncached_tokens": self.uncached_tokens, "hit_rate": self.hit_rate,
            "cost_usd": self.cost_usd, "cost_uncached_usd": self.cost_uncached_usd,
            "savings_usd": self.savings_usd, "latency_s": self.latency(),
            "tokens_exact": self.is_exact, "prices_as_of": self.prices_as_of,
            "by_layer": {k: {**v.model_dump(), "total": v.total}
                         for k, v in self.by_layer().items()},
            "drift": [{"call": r.index, "label": self.label(r), "session": r.session_id,
                       **d.model_dump()} for r, d in self.drift_events()],
            "layout": [{"call": r.index, "label": self.label(r), **r.layout.model_dump()}
                       for r in self.layout_notes() if r.layout is not None],
            "disagreements": [{"call": r.index, "label": self.label(r),
                               "note": r.disagreement, "predicted": _usage(r.predicted),
                               "reported": _usage(r.reported) if r.reported else None}
                              for r in self.disagreements()],
            "errors": [{"call": r.index, "label": self.label(r), "error": r.error}
                       for r in self.failed],
            "per_call": self.per_call(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def _usage(u: Usage) -> dict[str, int]:
    return {"input": u.input_tokens, "read": u.cache_read_tokens,
            "write": u.cache_write_tokens, "uncached": u.uncached_tokens,
            "output": u.output_tokens}


def _layers_of(r: CallRecord) -> list[str]:
    seq = list(dict.fromkeys(b.layer for b in r.blocks))
    return seq + [n for n in r.by_layer if n not in seq and n != FRAMING]


def layer_order(records: Sequence[CallRecord]) -> list[str]:
    """Layers in prompt order.

    The order of the latest call that has the most layers (all of them, usually) is the
    base. A layer missing from it goes right before the layer it preceded in the latest
    call that has it, or last when nothing followed it there (the turn's own message is
    the last block of every call that has one). ``framing`` (wire-format tokens) is last.
    """
    seqs = [_layers_of(r) for r in records]
    if not seqs:
        return []
    widest = max(len(s) for s in seqs)
    order = list(next(s for s in reversed(seqs) if len(s) == widest))
    for seq in reversed(seqs):
        for i in range(len(seq) - 1, -1, -1):  # last first, so successors are placed
            name = seq[i]
            if name in order:
                continue
            after = next((n for n in seq[i + 1:] if n in order), None)
            order.insert(order.index(after) if after is not None else len(order), name)
    if any(FRAMING in r.by_layer for r in records):
        order.append(FRAMING)
    return order
