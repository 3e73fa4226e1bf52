"""Terminal rendering of a Report with rich (tables, colours); plain text when captured."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table

from ._model import Report, layer_order


def renderables(report: Report) -> Any:
    order = layer_order(report.records)
    layers = report.by_layer()
    t = Table(title="tokens by layer", title_justify="left")
    for col in ("layer", "cache read", "cache write", "uncached", "total"):
        t.add_column(col, justify="left" if col == "layer" else "right")
    for name in order:
        lt = layers.get(name)
        if lt is None:
            continue
        t.add_row(name, f"{lt.read:,}", f"{lt.write:,}", f"{lt.uncached:,}", f"{lt.total:,}")
    lat = report.latency()
    exact = "" if report.is_exact else " (estimated counts)"
    summary = (
        f"calls {len(report.calls)}  failed {len(report.failed)}  models {', '.join(report.models)}\n"
        f"input {report.input_tokens:,}{exact}  output {report.output_tokens:,}  "
        f"hit rate {report.hit_rate:.1%}\n"
        f"cost ${report.cost_usd:.4f}  without cache ${report.cost_uncached_usd:.4f}  "
        f"saved ${report.savings_usd:.4f}\n"
        f"latency p50 {lat['p50'] * 1000:.0f} ms  p95 {lat['p95'] * 1000:.0f} ms"
    )
    parts: list[Any] = [summary, t]
    drift = report.drift_events()
    if drift:
        d = Table(title="cache misses (prefix drift)", title_justify="left")
        for col in ("call", "layer", "block", "cause", "tokens lost"):
            d.add_column(col)
        for r, ev in drift:
            cause = ev.cause + (" (declared)" if ev.declared else "") + \
                (" (layer replaced)" if ev.layer_replaced else "")
            d.add_row(str(r.index), ev.layer, ev.key, cause, f"{ev.tokens_invalidated:,}")
        parts.append(d)
    for r in report.layout_notes():
        if r.layout is not None:
            parts.append(f"call {r.index}: {r.layout.advice}")
    for r in report.disagreements():
        parts.append(f"call {r.index}: prediction and backend disagree: {r.disagreement}")
    for r in report.failed:
        parts.append(f"call {r.index} failed: {r.error}")
    return Group(*parts)


def render_text(report: Report, width: int = 100) -> str:
    import io

    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderables(report))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return str(out)
