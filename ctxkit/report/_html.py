"""The HTML report: one self-contained file with summary cards, charts and tables.

Owns the page's structure. Cards and tables are written here, escaped, so they read
without JavaScript; the charts are drawn by the inline script (``_html_assets``) from the
report's JSON, embedded in ``<script type="application/json" id="ctxkit-data">`` with
``<``, ``>`` and ``&`` escaped so no string in it can close the tag. Nothing is fetched:
no CDN, no fonts, no images. Every figure comes from ``Report``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from ._html_assets import CSS, JS
from ._model import FRAMING  # renderers see the figures only (_report.py)
from ._model import Figures as Report
from ._sample import MAX_TABLE_ROWS, chart_points, table_rows
from ._terminal import fmt_ms as _ms
from ._terminal import fmt_usd as _usd

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
           "#ff9da7", "#86bcb6", "#d4a6c8", "#a0cbe8", "#ffbe7d")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                 "\u2028": "\\u2028", "\u2029": "\\u2029"}


def layer_colors(layers: Sequence[str]) -> dict[str, str]:
    """A colour per layer, by prompt position (framing is grey)."""
    out: dict[str, str] = {}
    for i, name in enumerate(n for n in layers if n != FRAMING):
        out[name] = PALETTE[i % len(PALETTE)]
    if FRAMING in layers:
        out[FRAMING] = "#8c959f"
    return out


def script_json(data: Any) -> str:
    """JSON safe to place inside a ``<script>`` element (cannot close it or open a comment)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return "".join(_JSON_ESCAPES.get(ch, ch) for ch in text)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _card(key: str, value: str, sub: str, tone: str = "") -> str:
    return (f'<div class="card {tone}"><div class="k">{_e(key)}</div>'
            f'<div class="v">{_e(value)}</div><div class="s">{_e(sub)}</div></div>')


def cards(r: Report) -> str:
    lat = r.latency()
    saved = r.savings_usd
    pct = f"{saved / r.cost_uncached_usd:.1%} less" if r.cost_uncached_usd and saved >= 0 \
        else "cache writes cost more than reads saved" if saved < 0 else ""
    lost = sum(ev.tokens_invalidated for _, ev in r.drift_events())
    sessions = f"{len(r.sessions)} session{'s' if len(r.sessions) != 1 else ''}"
    items = [
        _card("calls", f"{len(r.calls)}", f"{len(r.failed)} failed · {sessions} · "
              + ", ".join(r.models)),
        _card("input tokens", f"{r.input_tokens:,}", f"read {r.cache_read_tokens:,} · write "
              f"{r.cache_write_tokens:,} · uncached {r.uncached_tokens:,}"),
        _card("output tokens", f"{r.output_tokens:,}", "tokens the model wrote"),
        _card("cache hit rate", f"{r.hit_rate:.1%}", "of input tokens read from cache",
              "good" if r.hit_rate >= 0.5 else "warn"),
        _card("cost", _usd(r.cost_usd), f"vs {_usd(r.cost_uncached_usd)} without cache"),
        _card("saved by caching", _usd(saved), pct, "good" if saved > 0 else "bad"),
        _card("latency p50", _ms(lat["p50"]), f"p95 {_ms(lat['p95'])} · max {_ms(lat['max'])}"),
        _card("cache misses", f"{len(r.drift_events())}", f"{lost:,} cached tokens invalidated",
              "bad" if lost else "good"),
        _card("token counts", "exact" if r.is_exact else "estimated",
              "prices as of " + (", ".join(r.prices_as_of) or "unknown"),
              "" if r.is_exact else "warn"),
    ]
    return '<section class="cards">' + "".join(items) + "</section>"


def _legend(colors: dict[str, str]) -> str:
    layers = "".join(f'<span><span class="sw" style="background:{c}"></span>{_e(n)}</span>'
                     for n, c in colors.items())
    kinds = ('<span><span class="sw read"></span>cache read (solid)</span>'
             '<span><span class="sw write"></span>cache write (hatched)</span>'
             '<span><span class="sw uncached"></span>uncached (pale)</span>'
             '<span><span class="sw miss" style="background:#cf222e;border-radius:0;'
             'clip-path:polygon(0 0,100% 0,50% 100%)"></span>cache miss (drift)</span>')
    return f'<div class="legend">{layers}</div><div class="legend">{kinds}</div>'


def charts(colors: dict[str, str]) -> str:
    return (
        '<section><h2>Tokens by layer, per call</h2><p class="note">Each bar is one call\'s '
        "prompt, stacked in prompt order (first layer at the bottom). Hover a bar for its "
        "figures.</p>" + _legend(colors) +
        '<svg id="chart-layers" class="chart" role="img" aria-label="tokens by layer per call">'
        "</svg></section>"
        '<section><h2>Cache hit rate</h2><p class="note">Share of each call\'s input tokens '
        "read from cache; dashed: the session so far.</p><div class=\"legend\">"
        '<span><span class="sw line" style="background:#0969da"></span>per call</span>'
        '<span><span class="sw line dash"></span>cumulative</span>'
        '<span><span class="sw line" style="background:#cf222e"></span>call with a cache miss'
        '</span></div><svg id="chart-hitrate" class="chart" role="img" '
        'aria-label="cache hit rate per call"></svg></section>'
        '<section><h2>Cost</h2><p class="note">Cumulative cost with the cache as used, and '
        "with every input token sent uncached.</p><div class=\"legend\">"
        '<span><span class="sw line" style="background:#1a7f37"></span>with cache</span>'
        '<span><span class="sw line dash"></span>without cache</span></div>'
        '<svg id="chart-cost" class="chart" role="img" aria-label="cumulative cost"></svg>'
        "</section>")


def _table(title: str, note: str, head: Sequence[str], rows: Iterable[Sequence[str]],
           numeric: frozenset[int] = frozenset(), row_class: Sequence[str] = (),
           fold_after: int | None = None) -> str:
    """A section with a table; cells are already-escaped HTML. Tables longer than
    ``fold_after`` rows start folded (a click shows them)."""
    rows = list(rows)
    if not rows:
        return ""
    th = "".join(f'<th class="{"n" if i in numeric else ""}">{_e(h)}</th>'
                 for i, h in enumerate(head))
    body = []
    for k, row in enumerate(rows):
        cls = row_class[k] if k < len(row_class) else ""
        tds = "".join(f'<td class="{"n" if i in numeric else ""}">{c}</td>'
                      for i, c in enumerate(row))
        body.append(f'<tr class="{cls}">{tds}</tr>')
    table = f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if fold_after is not None and len(rows) > fold_after:
        table = f"<details><summary>show all {len(rows)} rows</summary>{table}</details>"
    return f'<section><h2>{_e(title)}</h2><p class="note">{_e(note)}</p>{table}</section>'



def _diff(text: str) -> str:
    lines = []
    for line in text.splitlines():
        cls = "del" if line.startswith("-") else "add" if line.startswith("+") else ""
        lines.append(f'<span class="{cls}">{_e(line)}</span>')
    return '<pre class="diff">' + "\n".join(lines) + "</pre>"


def _stack(lt: Any, color: str, width: float) -> str:
    parts = [(lt.read, f"background:{color}"), (lt.write, f"background:repeating-linear-"
              f"gradient(45deg,{color} 0 2px,#fff 2px 5px)"), (lt.uncached,
              f"background:{color};opacity:.3")]
    segs = "".join(f'<span style="width:{100 * v / lt.total:.2f}%;{s}"></span>'
                   for v, s in parts if lt.total and v)
    return f'<div class="stack" style="width:{max(width, 2):.1f}%">{segs}</div>'


def tables(r: Report, colors: dict[str, str]) -> str:
    layers = r.by_layer()
    grand = sum(lt.total for lt in layers.values()) or 1
    top = max((lt.total for lt in layers.values()), default=1) or 1
    out = [_table(
        "Tokens by layer", "Summed over successful calls; each call's tokens are split by "
        "position: the first cache-read tokens of the prompt, then cache writes, then uncached.",
        ("layer", "cache read", "cache write", "uncached", "total", "share", ""),
        [(_e(n), f"{lt.read:,}", f"{lt.write:,}", f"{lt.uncached:,}", f"{lt.total:,}",
          f"{lt.total / grand:.1%}", _stack(lt, colors.get(n, "#8c959f"), 100 * lt.total / top))
         for n, lt in layers.items()], frozenset({1, 2, 3, 4, 5}))]
    out.append(_table(
        "Cache misses (prefix drift)", "The first block of the previous call's cached region "
        "that changed, and why. Declared rewrites (e.g. compaction) are expected.",
        ("call", "layer", "block key", "cause", "what changed", "diff", "tokens lost",
         "declared?"),
        [(_e(r.label(rec)), _e(ev.layer), f"<code>{_e(ev.key or '-')}</code>",
          f'<span class="tag bad">{_e(ev.cause)}</span>'
          + (' <span class="tag">layer replaced</span>' if ev.layer_replaced else ""),
          _e(ev.detail), _diff(ev.diff), f"{ev.tokens_invalidated:,}",
          "yes" if ev.declared else "no") for rec, ev in r.drift_events()[:MAX_TABLE_ROWS]],
        frozenset({6})))
    out.append(_table(
        "Layout notes", "A layer that changed sits before layers that did not: their tokens "
        "miss the cache. Put stable layers first.",
        ("call", "changed layer", "unchanged after it", "tokens missed", "advice"),
        [(_e(r.label(rec)), _e(n.changed_layer), _e(", ".join(n.unchanged_after)),
          f"{n.tokens_missed:,}", _e(n.advice))
         for rec in r.layout_notes()[:MAX_TABLE_ROWS] if (n := rec.layout) is not None],
        frozenset({3})))
    out.append(_table(
        "Predicted vs reported usage", "Calls where ctxkit's cache model and the backend's "
        "reported usage disagree beyond tolerance.",
        ("call", "predicted input", "predicted read", "predicted write", "reported input",
         "reported read", "reported write", "note"),
        [(_e(r.label(rec)), f"{rec.predicted.input_tokens:,}",
          f"{rec.predicted.cache_read_tokens:,}", f"{rec.predicted.cache_write_tokens:,}",
          *((f"{u.input_tokens:,}", f"{u.cache_read_tokens:,}", f"{u.cache_write_tokens:,}")
            if (u := rec.reported) is not None else ("-", "-", "-")), _e(rec.disagreement))
         for rec in r.disagreements()[:MAX_TABLE_ROWS]], frozenset({1, 2, 3, 4, 5, 6})))
    out.append(_table("Failed calls", "Calls that raised; they count in no total.",
                      ("call", "turn.step", "error"),
                      [(_e(r.label(rec)), f"{rec.turn}.{rec.step}",
                        f"<code>{_e(rec.error or 'unknown error')}</code>")
                       for rec in r.failed[:MAX_TABLE_ROWS]]))
    return "".join(out)


def call_table(r: Report, per_call: list[dict[str, Any]]) -> str:
    rows, classes = [], []
    shown = table_rows(per_call)
    for c in shown:
        causes = "".join(f'<span class="tag bad">{_e(x)}</span>' for x in c["drift_causes"])
        if not c["ok"]:
            rows.append((_e(c["label"]), f"{c['turn']}.{c['step']}", *["-"] * 7,
                         _ms(c["latency_s"]), '<span class="tag bad">failed</span>'))
            classes.append("failed")
            continue
        rows.append((_e(c["label"]), f"{c['turn']}.{c['step']}", f"{c['input']:,}",
                     f"{c['read']:,}", f"{c['write']:,}", f"{c['uncached']:,}",
                     f"{c['output']:,}", f"{c['hit_rate']:.0%}", _usd(c["cost_usd"]),
                     _ms(c["latency_s"]), causes or "-"))
        classes.append("")
    head = ("call", "turn.step", "input", "read", "write", "uncached", "output", "hit rate",
            "cost", "latency", "drift")
    note = ("Token figures: reported by the backend where it reports cache hits, else "
            "ctxkit's prediction. Drift: why the cached prefix broke before this call.")
    if len(shown) < len(per_call):
        note += (f" {len(shown):,} of {len(per_call):,} calls listed: the first and last 20, "
                 "then those with a cache miss or an error (ctxkit report --format json "
                 "has every call).")
    return _table("Calls", note, head, rows, frozenset(range(2, 10)), classes, fold_after=40)


def render_html(report: Report, *, title: str = "ctxkit report") -> str:
    """The whole report as one self-contained HTML page."""
    colors = layer_colors(report.layers)
    data = {**report.to_dict(), "title": title, "colors": colors}
    per_call = data["per_call"]
    # a long report is plotted in at most MAX_POINTS points and its tables sampled: the
    # page stays a few MB and quick to draw; the note says what was reduced
    data["per_call"], per_point = chart_points(per_call)
    data["drift"] = data["drift"][:MAX_TABLE_ROWS]
    reduced = "" if per_point == 1 else (
        f'<p class="note" id="reduced">{len(per_call):,} calls: each chart point is the mean '
        f"of {per_point} consecutive calls (cost: their sum, so the cumulative lines are "
        "exact); the tables list samples. ctxkit report --format json has every call.</p>")
    sub = (f"{len(report.records)} calls · models: {', '.join(report.models) or '-'} · "
           f"sessions: {', '.join(report.sessions) or '-'}")
    body = (f"<main><h1>{_e(title)}</h1><p class=\"sub\">{_e(sub)}</p>"
            '<p id="render-error"></p>' + cards(report) + reduced + charts(colors)
            + tables(report, colors) + call_table(report, per_call)
            + '<footer>Generated by ctxkit. Self-contained: no external requests. Cost = '
              "uncached × input + 5m writes × cache_write_5m + 1h writes × cache_write_1h + "
              "reads × cache_read + output × output price (USD per million tokens).</footer>"
              "</main>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f'<body data-rendered="pending">{body}'
        f'<script type="application/json" id="ctxkit-data">{script_json(data)}</script>'
        f"<script>{JS}</script></body></html>\n")
