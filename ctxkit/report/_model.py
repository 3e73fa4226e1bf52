"""Report: per-call and per-session figures aggregated from CallRecords.

Owns the arithmetic (tokens by layer x {cache read, cache write, uncached}, hit rate, cost,
latency, drift events, disagreements). Renderers (terminal, JSON, HTML) only format it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._record import CallRecord, LayerTokens


@dataclass(slots=True)
class Report:
    """Figures for one or more sessions of calls."""

    records: list[CallRecord] = field(default_factory=list)

    @classmethod
    def from_records(cls, records: Iterable[CallRecord]) -> Report:
        return cls(list(records))

    # -- aggregates over successful calls -------------------------------------------------

    @property
    def calls(self) -> list[CallRecord]:
        return [r for r in self.records if r.ok]

    @property
    def failed(self) -> list[CallRecord]:
        return [r for r in self.records if not r.ok]

    def by_layer(self) -> dict[str, LayerTokens]:
        out: dict[str, LayerTokens] = {}
        for r in self.calls:
            for name, lt in r.by_layer.items():
                acc = out.setdefault(name, LayerTokens())
                acc.read += lt.read
                acc.write += lt.write
                acc.uncached += lt.uncached
        return out

    @property
    def input_tokens(self) -> int:
        return sum(r.usage.input_tokens for r in self.calls)

    @property
    def output_tokens(self) -> int:
        return sum(r.usage.output_tokens for r in self.calls)

    @property
    def cache_read_tokens(self) -> int:
        return sum(r.usage.cache_read_tokens for r in self.calls)

    @property
    def cache_write_tokens(self) -> int:
        return sum(r.usage.cache_write_tokens for r in self.calls)

    @property
    def hit_rate(self) -> float:
        total = self.input_tokens
        return self.cache_read_tokens / total if total else 0.0

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.calls)

    @property
    def cost_uncached_usd(self) -> float:
        return sum(r.cost_uncached_usd for r in self.calls)

    @property
    def savings_usd(self) -> float:
        return self.cost_uncached_usd - self.cost_usd

    def latency(self) -> dict[str, float]:
        lat = sorted(r.latency_s for r in self.calls)
        if not lat:
            return {"p50": 0.0, "p95": 0.0, "max": 0.0}
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        return {"p50": statistics.median(lat), "p95": p95, "max": lat[-1]}

    def drift_events(self) -> list[tuple[CallRecord, Any]]:
        return [(r, d) for r in self.records for d in r.drift]

    def disagreements(self) -> list[CallRecord]:
        return [r for r in self.records if r.disagreement]

    def layout_notes(self) -> list[CallRecord]:
        return [r for r in self.records if r.layout is not None]

    @property
    def models(self) -> list[str]:
        return sorted({r.model for r in self.records})

    @property
    def is_exact(self) -> bool:
        return all(r.tokens_exact or r.reported is not None for r in self.calls)

    def per_call(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.records:
            u = r.usage
            rows.append({
                "index": r.index, "turn": r.turn, "step": r.step, "ok": r.ok,
                "session": r.session_id, "model": r.model,
                "input": u.input_tokens, "read": u.cache_read_tokens,
                "write": u.cache_write_tokens, "uncached": u.uncached_tokens,
                "output": u.output_tokens, "hit_rate": r.hit_rate, "cost_usd": r.cost_usd,
                "latency_s": r.latency_s, "drift": len(r.drift),
                "source": "reported" if r.reported is not None else "predicted",
                "layers": {k: v.model_dump() for k, v in r.by_layer.items()},
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the report (what ``--format json`` prints)."""
        return {
            "calls": len(self.calls), "failed": len(self.failed), "models": self.models,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens, "hit_rate": self.hit_rate,
            "cost_usd": self.cost_usd, "cost_uncached_usd": self.cost_uncached_usd,
            "savings_usd": self.savings_usd, "latency_s": self.latency(),
            "tokens_exact": self.is_exact,
            "prices_as_of": sorted({r.prices_as_of for r in self.calls}),
            "by_layer": {k: {**v.model_dump(), "total": v.total}
                         for k, v in self.by_layer().items()},
            "drift": [{"call": r.index, **d.model_dump()} for r, d in self.drift_events()],
            "layout": [{"call": r.index, **r.layout.model_dump()}
                       for r in self.layout_notes() if r.layout is not None],
            "disagreements": [{"call": r.index, "note": r.disagreement}
                              for r in self.disagreements()],
            "errors": [{"call": r.index, "error": r.error} for r in self.failed],
            "per_call": self.per_call(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent)

    def to_html(self, path: str | None = None, *, title: str = "ctxkit report") -> str:
        """A single self-contained HTML file with charts; written to ``path`` if given."""
        from ._html import render_html

        html = render_html(self, title=title)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(html)
        return html

    def render(self, width: int = 100) -> str:
        """The terminal rendering as plain text."""
        from ._terminal import render_text

        return render_text(self, width=width)

    def __rich__(self) -> Any:
        from ._terminal import renderables

        return renderables(self)

    def __str__(self) -> str:
        return self.render()


def layer_order(records: Sequence[CallRecord]) -> list[str]:
    """Layers in prompt order, as first seen across the records."""
    seen: list[str] = []
    for r in records:
        for b in r.blocks:
            if b.layer not in seen:
                seen.append(b.layer)
        for name in r.by_layer:
            if name not in seen:
                seen.append(name)
    return seen
