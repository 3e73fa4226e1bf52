"""The audit as one self-contained HTML page, in the look of ``ctxkit report``'s page.

Owns the page's structure: summary cards and tables, every string escaped, no script and
no external request. It borrows the pipeline report's stylesheet (``ctxkit.report``)
so both pages look alike. Every figure comes from ``AuditReport``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# the pipeline report's stylesheet and building blocks, so both pages look alike
from ..report._html import _card, _diff, _e
from ..report._html import _table as _report_table
from ..report._html_assets import CSS
from ._model import AuditReport
from ._prompt import CATEGORIES
from ._render import _usd, assumptions, counts_note, estimate_line

# long diffs and outputs wrap inside their cell rather than widen the page
_EXTRA_CSS = ("td code { white-space:normal; word-break:break-word; } "
              "pre.diff { max-width:none; margin-top:4px; }")


def _table(title: str, note: str, head: Sequence[str], rows: Iterable[Sequence[str]],
           numeric: frozenset[int] = frozenset()) -> str:
    """A section with a table (cells already-escaped HTML), folded past 40 rows."""
    return _report_table(title, note, head, rows, numeric, fold_after=40)


def cards(r: AuditReport) -> str:
    rec, ours = r.total("recorded"), r.total("ctxkit")
    killers = r.killers()
    calls = sum(s.num_calls for s in r.sessions)
    dup = sum(s.duplicate_tokens for s in r.sessions)
    no_cache = sum(s.no_cache_cost_usd for s in r.sessions)
    return '<section class="cards">' + "".join([
        _card("sessions", f"{len(r.sessions)}", f"{calls} calls · {len(r.errors)} skipped"),
        _card("prompt tokens", f"{rec.input_tokens:,}",
              f"{'exact' if r.tokens_exact else 'estimated'} counts ({r.tokenizer})"),
        _card("hit rate, recorded", f"{rec.hit_rate:.1%}", estimate_line(rec),
              "good" if rec.hit_rate >= 0.5 else "warn"),
        _card("hit rate, ctxkit ordering", f"{ours.hit_rate:.1%}", estimate_line(ours),
              "good" if ours.hit_rate >= rec.hit_rate else "warn"),
        _card("prompt cost, recorded", _usd(rec.cost_usd), f"{_usd(no_cache)} with no cache"),
        _card("prompt cost, ctxkit", _usd(ours.cost_usd),
              f"{_usd(rec.cost_usd - ours.cost_usd)} less than recorded",
              "good" if ours.cost_usd <= rec.cost_usd else "bad"),
        _card("cache-killers", f"{len(killers)}",
              f"{sum(k.tokens_lost for k in killers):,} tokens not reusable",
              "bad" if killers else "good"),
        _card("duplicate tool outputs", f"{dup:,}", "tokens re-sent", "warn" if dup else ""),
        *_measured_cards(r),
    ]) + "</section>"


def _measured_cards(r: AuditReport) -> list[str]:
    m = r.measured()
    out = []
    if m.calls:
        out.append(_card("hit rate, measured", f"{m.hit_rate:.1%}",
                         f"{m.calls:,} calls with provider usage; estimate "
                         f"{m.estimated_hit_rate:.1%} ({m.estimated_hit_rate - m.hit_rate:+.1%})"))
    warnings = sum(len(s.warnings) for s in r.sessions)
    if warnings:
        out.append(_card("warnings", f"{warnings}", "log figures that disagree", "warn"))
    return out


def tables(r: AuditReport, top: int) -> str:
    out = [_table(
        "Sessions", "Reuse: mean share of each prompt that repeats the previous prompt's "
        "start. Hit rate and cost: the layout as recorded → ctxkit's ordering.",
        ("session", "format", "calls", "tokens", "reuse", "killers", "dup tokens",
         "hit rate", "cost"),
        [(_e(s.name), _e(s.format), f"{s.num_calls}", f"{s.input_tokens:,}",
          f"{s.mean_reuse:.0%}" if s.mean_reuse is not None else "-", f"{len(s.killers)}",
          f"{s.duplicate_tokens:,}", f"{s.recorded.hit_rate:.0%} → {s.ctxkit.hit_rate:.0%}",
          f"{_usd(s.recorded.cost_usd)} → {_usd(s.ctxkit.cost_usd)}" if s.prices_known
          else "prices unknown") for s in r.sessions],
        frozenset(range(2, 9)))]
    kinds = r.tokens_by_kind()
    total = sum(kinds.values()) or 1
    out.append(_table(
        "Prompt tokens by kind", "Summed over every call (what was billed as input).",
        ("kind", "tokens", "share"),
        [(_e(k), f"{kinds[k]:,}", f"{kinds[k] / total:.1%}")
         for k in (*CATEGORIES, *sorted(set(kinds) - set(CATEGORIES))) if k in kinds],
        frozenset({1, 2})))
    out.append(_table(
        f"Top cache-killers (of {len(r.killers())})", "Where a prompt stops being a prefix "
        "of the next: byte offset in the earlier prompt, the item there, the likely cause. "
        "The same place and cause in one session is one row (its costliest call shown).",
        ("session", "call", "byte offset", "where", "cause", "what changed", "tokens lost"),
        [(_e(k.session), f"{k.call} vs {k.compared_to}" + (f" (+{n - 1} more)" if n > 1
                                                              else ""),
          f"{k.offset:,}<br>line {k.line}",
          f"<code>{_e(k.where)}</code><br>{_e(k.role)}, {_e(k.region)}",
          f'<span class="tag bad">{_e(k.cause)}</span>', _e(k.detail) + _diff(k.diff),
          f"{lost:,}") for k, n, lost in r.killer_groups(top)], frozenset({2, 6})))
    dups = sorted((d for s in r.sessions for d in s.duplicates), key=lambda d: -d.tokens_wasted)
    out.append(_table(
        "Duplicate tool outputs", "Identical tool outputs received more than once; tokens "
        "re-sent sums the extra copies over every prompt that carried them.",
        ("session", "tokens × copies", "tokens re-sent", "first seen", "repeated at", "output"),
        [(_e(d.session), f"{d.tokens:,} × {d.copies}", f"{d.tokens_wasted:,}", _e(d.first),
          _e(", ".join(d.repeats)), f"<code>{_e(d.preview)}</code>") for d in dups[:top]],
        frozenset({1, 2})))
    warns = [(_e(s.name), _e(w)) for s in r.sessions for w in s.warnings]
    out.append(_table("Warnings", "The log's own figures (calls, tokens sent, measured usage) "
                      "more than 10% away from what was read.", ("session", "warning"), warns))
    notes = [(_e(s.name), _e(n)) for s in r.sessions for n in s.notes]
    out.append(_table("Notes", "Facts about the recordings.", ("session", "note"), notes))
    out.append(_table("Skipped", "Files that could not be read as recorded prompts.",
                      ("path", "error"), [(_e(p), _e(e)) for p, e in r.errors]))
    return "".join(out)


def render_html(r: AuditReport, *, title: str = "ctxkit audit", top: int = 25) -> str:
    """The whole audit as one self-contained HTML page."""
    sub = f"model {r.model} · {r.cache_kind} cache · {counts_note(r)}"
    body = (f"<main><h1>{_e(title)}</h1><p class=\"sub\">{_e(sub)}</p>" + cards(r)
            + tables(r, top) + f"<footer>{_e(assumptions(r))}. Generated by ctxkit audit; "
            "self-contained: no external requests.</footer></main>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\">"
            f"<title>{_e(title)}</title><style>{CSS}{_EXTRA_CSS}</style></head><body>{body}"
            "</body></html>\n")
