"""Terminal rendering of a Report with rich: summary, tokens by layer, calls, cache misses.

Owns the tables and their formatting; every figure comes from ``Report``. Text that a user
or a model wrote (block keys, diffs, errors) goes in as ``rich.text.Text``, never as markup,
so a ``[bold]`` in a block key prints as itself, and with its control characters (ESC and
the rest of C0/C1) removed, so a trace cannot drive the terminal. Plain text (no colour)
when captured. ``PipeConsole`` is the console every command prints through: when stdout is
not a terminal, a table prints at its natural width instead of cutting it to 80 columns.
"""

from __future__ import annotations

import io
import re
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.measure import Measurement
from rich.protocol import rich_cast
from rich.table import Table
from rich.text import Text

from .._types import Usage
from ._model import Figures as Report  # renderers see the figures only (_report.py)

_NO_WRAP = frozenset({"call", "turn.step"})
# C0 controls but tab and newline, DEL, and C1 (8-bit CSI and friends)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """``text`` without control characters: what came from a trace never reaches the
    terminal as an escape sequence."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


def T(text: str, style: str = "") -> Text:  # noqa: N802 - reads like the Text it builds
    """A ``Text`` of untrusted ``text`` (no markup, no control characters)."""
    return Text(safe(text), style=style)


class PipeConsole(Console):
    """A Console that never cuts a figure when its output is not a terminal.

    Rich lays tables out for 80 columns when stdout is a pipe, and a table whose figures
    do not fit loses digits ("1,5…"). Off a terminal, each table is printed at its natural
    width (nothing wrapped or cut) when that is wider: rich's narrowing would shrink the
    widest wrappable columns first, figures included, whatever their minimum.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self.is_terminal or kwargs.get("width") is not None or len(objects) != 1 \
                or isinstance(objects[0], str):
            super().print(*objects, **kwargs)
            return
        for part in _parts(objects[0]):
            need = 0
            if isinstance(part, Table):
                opts = self.options.update_width(100_000)
                need = Measurement.get(self, opts, part).maximum
            if need <= self.width:
                super().print(part, **kwargs)
                continue
            before = self._width  # print() clamps a width argument to the console's
            self.width = need
            try:
                super().print(part, **kwargs)
            finally:
                self._width = before


def _parts(obj: Any) -> list[Any]:
    obj = rich_cast(obj)
    if isinstance(obj, Group):
        return [p for r in obj.renderables for p in _parts(r)]
    return [obj]


def _table(title: str, *columns: str, right: tuple[str, ...] = ()) -> Table:
    t = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
              pad_edge=False, show_edge=False, collapse_padding=True)
    for col in columns:
        # figures never wrap; free text (keys, causes, diffs, advice) takes what is left
        t.add_column(col, justify="right" if col in right else "left",
                     no_wrap=col in right or col in _NO_WRAP, overflow="fold")
    return t


def fmt_usd(x: float) -> str:
    """Dollars with 4 decimals (cents are too coarse for one call)."""
    return f"${x:,.4f}" if abs(x) < 100 else f"${x:,.2f}"


def fmt_ms(seconds: float) -> str:
    """Latency in ms (s past 10 s)."""
    if seconds < 0.01:  # test doubles and local engines answer in microseconds
        return f"{seconds * 1000:.2f} ms"
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def summary(report: Report) -> Table:
    """Key figures of the whole report as a two-column grid."""
    lat = report.latency()
    counts = "exact" if report.is_exact else "estimated (no exact tokenizer, no reported usage)"
    rows = [
        ("calls", f"{len(report.calls)} ok, {len(report.failed)} failed"
                  + (f" in {len(report.sessions)} sessions" if len(report.sessions) > 1 else "")),
        ("models", ", ".join(report.models) or "-"),
        ("input tokens", f"{report.input_tokens:,}  (read {report.cache_read_tokens:,}, "
                         f"write {report.cache_write_tokens:,}, "
                         f"uncached {report.uncached_tokens:,})"),
        ("output tokens", f"{report.output_tokens:,}"),
        ("token counts", counts),
        ("cache hit rate", f"{report.hit_rate:.1%} of input tokens read from cache"),
        ("cost", f"{fmt_usd(report.cost_usd)}  vs {fmt_usd(report.cost_uncached_usd)} without "
                 f"cache: saved {fmt_usd(report.savings_usd)}"),
        ("latency", f"p50 {fmt_ms(lat['p50'])}  p95 {fmt_ms(lat['p95'])}  "
                    f"max {fmt_ms(lat['max'])}"),
        ("prices as of", ", ".join(report.prices_as_of) or "-"),
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for k, v in rows:
        grid.add_row(k, T(v))
    return grid


def layer_table(report: Report) -> Table:
    t = _table("tokens by layer (prompt order)", "layer", "cache read", "cache write",
               "uncached", "total", "share", right=("cache read", "cache write", "uncached",
                                                     "total", "share"))
    layers = report.by_layer()
    grand = sum(lt.total for lt in layers.values())
    for name, lt in layers.items():
        share = f"{lt.total / grand:.1%}" if grand else "-"
        t.add_row(T(name), f"{lt.read:,}", f"{lt.write:,}", f"{lt.uncached:,}",
                  f"{lt.total:,}", share)
    if len(layers) > 1:
        t.add_section()
        t.add_row("all", f"{sum(v.read for v in layers.values()):,}",
                  f"{sum(v.write for v in layers.values()):,}",
                  f"{sum(v.uncached for v in layers.values()):,}", f"{grand:,}", "")
    return t


# A terminal table past this many rows is read by no one and costs seconds to lay out; the
# tables show a sample and say so (``--format json`` keeps every row).
MAX_ROWS = 60
EDGE_ROWS = 10


def sample_calls(records: list[Any], limit: int = MAX_ROWS) -> list[Any]:
    """Every record when there are at most ``limit``; else the first and last
    ``EDGE_ROWS`` and, between them, the calls with a cache miss or an error first."""
    if len(records) <= limit:
        return records
    keep = set(range(EDGE_ROWS)) | set(range(len(records) - EDGE_ROWS, len(records)))
    for i, r in enumerate(records):
        if len(keep) >= limit:
            break
        if r.drift or not r.ok:
            keep.add(i)
    return [records[i] for i in sorted(keep)]


def _title(base: str, shown: int, total: int, what: str) -> str:
    if shown == total:
        return base
    return (f"{base} ({shown:,} of {total:,} shown: {what}; --format json or --html has "
            "every one)")


def call_table(report: Report) -> Table:
    num = ("input", "read", "write", "uncached", "output", "hit rate", "cost", "latency")
    rows = sample_calls(report.records)
    title = _title("calls", len(rows), len(report.records),
                   f"the first and last {EDGE_ROWS}, then cache misses and errors")
    t = _table(title, "call", "turn.step", *num, "drift", right=num)
    for r in rows:
        drift = T(", ".join(d.cause for d in r.drift) or "-", style="red" if r.drift else "dim")
        if not r.ok:
            t.add_row(T(report.label(r)), f"{r.turn}.{r.step}", *(["-"] * 6), "-",
                      fmt_ms(r.latency_s), Text("failed", style="bold red"))
            continue
        u = r.usage
        t.add_row(T(report.label(r)), f"{r.turn}.{r.step}", f"{u.input_tokens:,}",
                  f"{u.cache_read_tokens:,}", f"{u.cache_write_tokens:,}",
                  f"{u.uncached_tokens:,}", f"{u.output_tokens:,}", f"{r.hit_rate:.0%}",
                  fmt_usd(r.cost_usd), fmt_ms(r.latency_s), drift)
    return t


def drift_table(report: Report) -> Table:
    t = _table("cache misses (prefix drift)", "call", "layer", "block", "cause",
               "tokens lost", "diff", right=("tokens lost",))
    events = report.drift_events()
    t.title = _title(str(t.title), min(len(events), MAX_ROWS), len(events), "the first ones")
    for r, ev in events[:MAX_ROWS]:
        cause = T(ev.cause, style="bold red")
        if ev.declared:
            cause.append(" (declared)", style="yellow")
        if ev.layer_replaced:
            cause.append(" (layer replaced)", style="dim")
        diff = Text()
        for line in ev.diff.splitlines():
            diff.append(safe(line) + "\n", style="red" if line.startswith("-") else "green")
        diff.rstrip()
        t.add_row(T(report.label(r)), T(ev.layer), T(ev.key or "-"), cause,
                  f"{ev.tokens_invalidated:,}", diff)
    return t


def layout_table(report: Report) -> Table:
    t = _table("layout notes (a changed layer sits before unchanged ones)", "call",
               "changed layer", "unchanged after it", "tokens missed", "advice",
               right=("tokens missed",))
    notes = report.layout_notes()
    t.title = _title(str(t.title), min(len(notes), MAX_ROWS), len(notes), "the first ones")
    for r in notes[:MAX_ROWS]:
        if r.layout is not None:
            n = r.layout
            t.add_row(T(report.label(r)), T(n.changed_layer), T(", ".join(n.unchanged_after)),
                      f"{n.tokens_missed:,}", T(n.advice))
    return t


def _split(u: Usage) -> str:
    return (f"in {u.input_tokens:,} / read {u.cache_read_tokens:,} / "
            f"write {u.cache_write_tokens:,}")


def disagreement_table(report: Report) -> Table:
    t = _table("predicted vs reported usage (disagreements)", "call", "predicted",
               "reported", "note")
    rows = report.disagreements()
    t.title = _title(str(t.title), min(len(rows), MAX_ROWS), len(rows), "the first ones")
    for r in rows[:MAX_ROWS]:
        rep = _split(r.reported) if r.reported is not None else "-"
        t.add_row(T(report.label(r)), _split(r.predicted), rep, T(r.disagreement or ""))
    return t


def failed_table(report: Report) -> Table:
    t = _table("failed calls", "call", "turn.step", "error")
    failed = report.failed
    t.title = _title(str(t.title), min(len(failed), MAX_ROWS), len(failed), "the first ones")
    for r in failed[:MAX_ROWS]:
        t.add_row(T(report.label(r)), f"{r.turn}.{r.step}", T(r.error or "unknown error",
                                                              style="red"))
    return t


def renderables(report: Report) -> Any:
    """A rich renderable of the whole report (sections with nothing to say are left out)."""
    if not report.records:
        return Text("no calls recorded: the trace is empty")
    parts: list[Any] = [Text("ctxkit report", style="bold underline"), summary(report),
                        layer_table(report), call_table(report)]
    if report.drift_events():
        parts.append(drift_table(report))
    if report.layout_notes():
        parts.append(layout_table(report))
    if report.disagreements():
        parts.append(disagreement_table(report))
    if report.failed:
        parts.append(failed_table(report))
    return Group(*(x for p in parts for x in (p, Text(""))))


def render_text(report: Report, width: int = 100) -> str:
    """The report as plain text (no colour codes), ``width`` columns wide."""
    console = Console(width=width, file=io.StringIO(), color_system=None, record=False)
    console.print(renderables(report))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return str(out)
