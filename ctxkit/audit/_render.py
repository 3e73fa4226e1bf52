"""Terminal rendering of an AuditReport with rich: totals, sessions, tokens by kind, the
top cache-killers, causes, duplicate tool outputs, notes and skipped files.

Owns layout and wording only; every figure comes from ``AuditReport``. Plain text when
captured (``render_text``).
"""

from __future__ import annotations

import io
import re
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ._estimate import CALL_INTERVAL_S
from ._load import ACCEPTED
from ._model import AuditReport, LayoutEstimate
from ._prompt import CATEGORIES

# C0 controls but newline and tab, DEL, C1 controls; ESC sequences whole
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                      r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Text from a log made safe for a terminal: escape sequences and control characters
    removed (a log must not move the cursor, retitle the window or hide lines)."""
    return _CONTROL.sub("", text)


def _t(text: str, style: str = "") -> Text:
    return Text(clean(text), style=style)


def counts_note(r: AuditReport) -> str:
    """Whether token counts are exact, said plainly (``tokenizer`` is the default
    profile's; sessions estimated under their own model say so in their notes)."""
    if r.tokens_exact:
        return f"token counts exact ({r.tokenizer})"
    return f"token counts ESTIMATED with {r.tokenizer}: the model's tokenizer is not public"


def assumptions(r: AuditReport) -> str:
    if r.cache_kind == "explicit":
        how = ("explicit breakpoints; recorded layout: after system+tools and on the last "
               "block (or the recorded cache_control); ctxkit: after system+tools and on the "
               "last history block")
    elif r.cache_kind == "automatic":
        how = "automatic prefix caching (longest earlier prefix, block granularity)"
    else:
        how = f"cache kind {r.cache_kind!r}"
    return (f"estimates: ctxkit's cache model for {clean(r.model)} ({how}); calls "
            f"{CALL_INTERVAL_S:g} s apart; prompt (input) cost only, prices as of "
            f"{r.prices_as_of}")


def _pair(a: float, b: float, fmt: str) -> str:
    return f"{format(a, fmt)} → {format(b, fmt)}"


def _usd(x: float) -> str:
    x = 0.0 if abs(x) < 5e-5 else x  # no "$-0.0000" from float noise
    return f"${x:,.4f}" if abs(x) < 100 else f"${x:,.2f}"


def summary(r: AuditReport) -> str:
    rec, ours = r.total("recorded"), r.total("ctxkit")
    killers = r.killers()
    lost = sum(k.tokens_lost for k in killers)
    calls = sum(s.num_calls for s in r.sessions)
    no_cache = sum(s.no_cache_cost_usd for s in r.sessions)
    dup = sum(s.duplicate_tokens for s in r.sessions)
    saved = rec.cost_usd - ours.cost_usd
    lines = [
        f"ctxkit audit · {len(r.sessions)} sessions · {calls} calls · "
        f"{rec.input_tokens:,} prompt tokens · {counts_note(r)}",
        f"cache hit rate  recorded {rec.hit_rate:.1%} (estimated)  →  ctxkit ordering "
        f"{ours.hit_rate:.1%} (estimated)"]
    m = r.measured()
    if m.calls:
        lines.append(f"measured        {m.hit_rate:.1%} hit rate over {m.calls:,} calls whose "
                     f"usage the log kept ({m.cache_read_tokens:,} of {m.input_tokens:,} "
                     f"prompt tokens read from cache); estimate for the same calls "
                     f"{m.estimated_hit_rate:.1%} ({m.estimated_hit_rate - m.hit_rate:+.1%})")
    unknown = sum(not s.prices_known for s in r.sessions)
    if unknown == len(r.sessions):
        lines.append("prompt cost     prices unknown for the logged model(s)")
    else:
        part = f" (prices unknown for {unknown} sessions, left out)" if unknown else ""
        lines.append(f"prompt cost     recorded {_usd(rec.cost_usd)}  →  ctxkit ordering "
                     f"{_usd(ours.cost_usd)}  ({_usd(saved)} less; {_usd(no_cache)} with no "
                     f"cache){part}")
    lines.append(f"cache-killers   {len(killers)} ({lost:,} tokens of earlier prompts not "
                 f"reusable)  ·  duplicate tool outputs {dup:,} tokens")
    rewrites = r.causes().get("history processor rewrote old output")
    if rewrites:
        usd = sum(s.rewrite_saving_usd for s in r.sessions)
        priced = any(s.prices_known and any(k.cause == "history processor rewrote old output"
                                            for k in s.killers) for s in r.sessions)
        cost = f", {_usd(usd)} over cache reads" if priced else ", prices unknown"
        lines.append(f"history rewrites {rewrites['count']} calls rewrote old outputs "
                     f"({rewrites['tokens_lost']:,} tokens of earlier prompts re-sent "
                     f"uncached{cost}); an append-only history (compacting at milestones) "
                     "keeps them cacheable")
    shared = sum(s.shared_prefix_tokens for s in r.sessions)
    if shared:
        n = sum(1 for s in r.sessions if s.shared_prefix_tokens)
        usd = sum(s.shared_prefix_saving_usd for s in r.sessions if s.prices_known)
        lines.append(f"shared prefix   {n} sessions open with {shared:,} tokens an earlier "
                     f"session's first prompt already sent (system prompt, tools): one cache "
                     f"across sessions would read them ({_usd(usd)} less)")
    return "\n".join(lines)


def sessions_table(r: AuditReport) -> Table:
    t = Table(title="sessions", title_justify="left")
    for col in ("session", "format", "calls", "tokens", "reuse", "killers", "dup tok",
                "hit rate rec → ctxkit", "cost rec → ctxkit"):
        t.add_column(col, justify="left" if col in ("session", "format") else "right")
    for s in r.sessions:
        reuse = f"{s.mean_reuse:.0%}" if s.mean_reuse is not None else "-"
        cost = f"{_usd(s.recorded.cost_usd)} → {_usd(s.ctxkit.cost_usd)}" \
            if s.prices_known else "prices unknown"
        hit = _pair(s.recorded.hit_rate, s.ctxkit.hit_rate, ".0%")
        if s.measured.calls:
            hit += f"\nmeasured {s.measured.hit_rate:.0%}"
        fmt = s.format + (" (rebuilt)" if s.reconstructed else "")
        t.add_row(_t(s.name), fmt, str(s.num_calls), f"{s.input_tokens:,}", reuse,
                  str(len(s.killers)), f"{s.duplicate_tokens:,}", hit, cost)
    return t


def kinds_table(r: AuditReport) -> Table:
    kinds = r.tokens_by_kind()
    total = sum(kinds.values()) or 1
    t = Table(title="prompt tokens by kind (summed over calls)", title_justify="left")
    for col in ("kind", "tokens", "share"):
        t.add_column(col, justify="left" if col == "kind" else "right")
    for k in (*CATEGORIES, *sorted(set(kinds) - set(CATEGORIES))):
        if k in kinds:
            label = "tool output / observation" if k == "observation" else k
            t.add_row(label, f"{kinds[k]:,}", f"{kinds[k] / total:.1%}")
    return t


def killers_table(r: AuditReport, top: int) -> Table | None:
    groups = r.killer_groups(top)
    if not groups:
        return None
    t = Table(title=f"top cache-killers (of {len(r.killers())}; the same place and cause in "
              "one session folded into one row, showing its costliest call)",
              title_justify="left", show_lines=True)
    for col in ("session · call", "byte offset", "where", "cause", "tokens lost", "diff"):
        t.add_column(col, justify="right" if col in ("byte offset", "tokens lost") else "left")
    for k, n, lost in groups:
        cause = Text(k.cause, style="bold")
        cause.append(f"\n{clean(k.detail)}", style="dim")
        more = f"\n+{n - 1} more call{'s' if n > 2 else ''}" if n > 1 else ""
        t.add_row(_t(f"{k.session}\ncall {k.call} vs {k.compared_to}{more}"),
                  f"{k.offset:,}\nline {k.line}", _t(f"{k.where}\n{k.role}, {k.region}"),
                  cause, f"{lost:,}", _t(k.diff))
    return t


def causes_table(r: AuditReport) -> Table | None:
    causes = r.causes()
    if not causes:
        return None
    t = Table(title="cache-killers by cause", title_justify="left")
    for col in ("cause", "count", "tokens lost"):
        t.add_column(col, justify="left" if col == "cause" else "right")
    for cause, c in sorted(causes.items(), key=lambda kv: -kv[1]["tokens_lost"]):
        t.add_row(cause, str(c["count"]), f"{c['tokens_lost']:,}")
    return t


def duplicates_table(r: AuditReport, top: int) -> Table | None:
    dups = sorted((d for s in r.sessions for d in s.duplicates), key=lambda d: -d.tokens_wasted)
    if not dups:
        return None
    t = Table(title="duplicate tool outputs", title_justify="left")
    for col in ("session", "tokens × copies", "tokens re-sent", "first seen", "output"):
        t.add_column(col, justify="right" if col.startswith("tokens") else "left")
    for d in dups[:top]:
        t.add_row(_t(d.session), f"{d.tokens:,} × {d.copies}", f"{d.tokens_wasted:,}",
                  _t(d.first), _t(d.preview))
    return t


def renderables(r: AuditReport, top: int = 10) -> Any:
    parts: list[Any] = [_t(summary(r)), sessions_table(r), kinds_table(r)]
    for extra in (killers_table(r, top), causes_table(r), duplicates_table(r, top)):
        if extra is not None:
            parts.append(extra)
    for s in r.sessions:
        for w in s.warnings:
            parts.append(_t(f"WARNING {s.name}: {w}", "bold yellow"))
    notes: dict[str, list[str]] = {}
    for s in r.sessions:
        for note in s.notes:
            notes.setdefault(note, []).append(s.name)
    for note, names in notes.items():
        who = names[0] if len(names) == 1 else (
            f"{len(names)} sessions ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})")
        parts.append(_t(f"{who}: {note}"))
    formats: dict[str, int] = {}
    for _, fmt, _why in r.inputs:
        formats[fmt] = formats.get(fmt, 0) + 1
    if r.inputs:
        parts.append(_t("read as: " + ", ".join(f"{f} ({n} file{'s' if n > 1 else ''})"
                                                for f, n in formats.items()), "dim"))
    for path, err in r.errors:
        parts.append(_t(f"skipped {path}: {err}", "yellow"))
    if r.errors:
        parts.append(Text(ACCEPTED, style="yellow"))
    parts.append(Text(assumptions(r), style="dim"))
    return Group(*parts)


def render_text(r: AuditReport, *, width: int = 120, top: int = 10) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderables(r, top))
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def estimate_line(e: LayoutEstimate) -> str:
    return (f"read {e.cache_read_tokens:,} · write {e.cache_write_tokens:,} · uncached "
            f"{e.uncached_tokens:,}")
