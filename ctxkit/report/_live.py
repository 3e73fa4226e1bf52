"""Live views of a running session: tool activity, per-turn assembly tables, drift explanations.

Owns the rich renderables an agent prints while it runs, built from CallRecords and tool
results (``ctxkit demo`` and ``examples/coding_agent`` use them). Knows nothing of how the
session is driven or what the tools do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from .._record import CallRecord, LayerTokens


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def tool_line(name: str, args: dict[str, Any], result: str, is_error: bool) -> str:
    """One line of rich markup for a finished tool call: what was asked, what came back."""
    if name == "edit_file":
        shown = (f"{args.get('path')} (-{len(str(args.get('old', '')).splitlines())}"
                 f"/+{len(str(args.get('new', '')).splitlines())} lines)")
    else:
        shown = ", ".join(f"'{v}'" if k in ("pattern", "target") else str(v)
                          for k, v in args.items() if v not in (None, "", 1) or k == "target")
    lines = result.splitlines()
    if is_error:
        outcome = f"[red]error: {escape(_short(result, 90))}[/red]"
    elif name == "list_dir":
        outcome = f"{len(lines)} files"
    elif name == "read_file":
        outcome = f"{sum(1 for ln in lines if ln[:1].isdigit())} lines"
    elif name == "grep":
        outcome = "no match" if result.startswith("no match") else f"{len(lines)} matches"
    elif name == "run_tests":
        last = lines[-1] if lines else ""
        colour = "green" if result.startswith("exit code 0") else "yellow"
        outcome = f"[{colour}]{escape(_short(last, 70))}[/{colour}]"
    else:
        outcome = escape(_short(lines[0] if lines else "", 90))
    return f"  [cyan]▸ {name}[/cyan]({escape(_short(shown, 70))}) → {outcome}"


def _asked(record: CallRecord) -> str:
    r = record.response
    if r is None:
        return "(failed)"
    if r.tool_calls:
        return ", ".join(c.name for c in r.tool_calls)
    return "answer"


def calls_table(records: Sequence[CallRecord]) -> Table:
    """One row per model call of a turn: what it asked for and how the cache treated it."""
    t = Table(title="model calls (prompt tokens: read from cache, written to it, uncached)",
              title_justify="left", show_edge=False, pad_edge=False)
    for col in ("call", "asked for", "prompt", "read", "written", "uncached", "hit"):
        t.add_column(col, justify="left" if col in ("call", "asked for") else "right")
    for r in records:
        u = r.usage
        drift = " [red]drift[/red]" if r.drift else ""
        t.add_row(f"{r.index}{drift}", _asked(r), f"{u.input_tokens:,}",
                  f"{u.cache_read_tokens:,}", f"{u.cache_write_tokens:,}",
                  f"{u.uncached_tokens:,}", f"{r.hit_rate:.0%}")
    return t


def _breakpoint_label(record: CallRecord, index: int, ttl: str) -> tuple[str, str]:
    b = record.blocks[index]
    if b.key.startswith("tool:"):
        where = "system+tools"
    elif b.key.startswith("file:"):
        where = b.key.removeprefix("file:")
    elif b.layer == "history":
        where = "end (moving)"
    else:
        where = b.key or b.layer
    return b.layer, f"{ttl} {where}"


def layers_table(record: CallRecord) -> Table:
    """The blocks of one call grouped by layer, in prompt order, with the cache's split."""
    t = Table(title=f"what call {record.index} assembled, by layer (prompt order)",
              title_justify="left", show_edge=False, pad_edge=False)
    for col in ("layer", "blocks", "tokens", "read", "written", "uncached", "breakpoints"):
        t.add_column(col, justify="left" if col in ("layer", "breakpoints") else "right")
    order: list[str] = []
    counts: dict[str, int] = {}
    for b in record.blocks:
        if b.layer not in counts:
            order.append(b.layer)
        counts[b.layer] = counts.get(b.layer, 0) + 1
    marks: dict[str, list[str]] = {}
    for index, ttl in record.breakpoints:
        layer, label = _breakpoint_label(record, index, ttl)
        marks.setdefault(layer, []).append(label)
    order += [name for name in record.by_layer if name not in counts]
    for name in order:
        lt = record.by_layer.get(name, LayerTokens())
        t.add_row(name, str(counts.get(name, "")), f"{lt.total:,}", f"{lt.read:,}",
                  f"{lt.write:,}", f"{lt.uncached:,}", "; ".join(marks.get(name, [])))
    return t


def turn_summary(records: Sequence[CallRecord]) -> str:
    ok = [r for r in records if r.ok]
    prompt = sum(r.usage.input_tokens for r in ok)
    read = sum(r.usage.cache_read_tokens for r in ok)
    cost = sum(r.cost_usd for r in ok)
    uncached = sum(r.cost_uncached_usd for r in ok)
    rate = read / prompt if prompt else 0.0
    return (f"this turn: {len(ok)} calls, {prompt:,} prompt tokens, {rate:.0%} read from cache, "
            f"${cost:.4f} (${uncached:.4f} without caching)")


def turn_view(records: Sequence[CallRecord]) -> Group:
    """Everything the demo shows about one user turn's calls."""
    parts: list[Any] = [calls_table(records)]
    if records:
        parts += ["", layers_table(records[-1])]
    parts += ["", f"[dim]{turn_summary(records)}[/dim]"]
    return Group(*parts)


def drift_view(records: Sequence[CallRecord], history: Sequence[CallRecord]) -> Group | None:
    """A plain-words explanation of the drift events among ``records``, if any.

    ``history`` is every record of the session (``records[i].index`` indexes it).
    """
    parts: list[Any] = []
    for r in records:
        previous = history[r.index - 1] if 0 < r.index <= len(history) else None
        for ev in r.drift:
            parts.append(
                f"[red bold]prefix drift at call {r.index}[/red bold]: block "
                f"[bold]{escape(ev.key)}[/bold] of layer [bold]{escape(ev.layer)}[/bold] "
                f"changed — cause: [bold]{escape(ev.cause)}[/bold]"
                + (" (the layer object was replaced)" if ev.layer_replaced else ""))
            if ev.diff:
                parts.append(f"[dim]{escape(ev.diff)}[/dim]")
            was = previous.usage.cache_read_tokens if previous is not None else 0
            parts.append(
                f"Everything after the first changed byte missed the cache: "
                f"{ev.tokens_invalidated:,} tokens that were cached are written again "
                f"(call {r.index} read {r.usage.cache_read_tokens:,} tokens from cache; "
                f"the call before it read {was:,}).")
            if ev.cause.startswith("timestamp"):
                parts.append(
                    "[bold]This is what a timestamp in a system prompt costs.[/bold] The "
                    "system prompt sits at the head of the prompt, so a date there "
                    "invalidates everything cached behind it — the project files and the "
                    "whole conversation — on every call where the date (or worse, the time) "
                    "differs. Put volatile facts in the turn, after the history, where they "
                    "cost only their own tokens.")
    return Group(*parts) if parts else None
