"""The audit itself: paths → sessions → findings, under one model profile.

Owns the order of the steps (discover, load, count, compare, estimate) and the rule that
one bad file in a directory is reported and skipped while a bad file named on its own is
an error. Knows no file format and draws nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from .._errors import UserError
from .._profile import Profile, profile_for
from .._tokens import get_tokenizer
from ._analyze import compare_calls, find_duplicates, tokens_by_kind
from ._estimate import ctxkit_layout, recorded_layout, simulate
from ._load import ACCEPTED, discover, load
from ._model import AuditReport, SessionAudit
from ._prompt import RecordedSession

DEFAULT_MODEL = "claude-sonnet-4-5"


class SegmentCounter:
    """Token counts of text with one tokenizer, memoized (prompts repeat their history)."""

    def __init__(self, tokenizer: object) -> None:
        self.tokenizer = tokenizer
        self._memo: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        n = self._memo.get(text)
        if n is None:
            n = self._memo[text] = int(self.tokenizer.count(text))  # type: ignore[attr-defined]
        return n


def audit_session(session: RecordedSession, profile: Profile, count: SegmentCounter
                  ) -> SessionAudit:
    """Every finding for one session (see the package docstring for what each means)."""
    seg_tokens = [[count(c.segment(i)) for i in range(len(c.blocks))] for c in session.calls]
    figures, killers, parents = compare_calls(session, seg_tokens, count)
    raw = session.format == "openhands"
    recorded, rec_reads = simulate(recorded_layout(session), profile, count, raw=raw)
    ours, our_reads = simulate(ctxkit_layout(session, parents), profile, count, raw=raw)
    for fig, r, o in zip(figures, rec_reads, our_reads, strict=True):
        fig.recorded_read, fig.ctxkit_read = r, o
    notes = list(session.notes)
    if session.format == "anthropic" and not session.has_cache_markers:
        notes.append("no cache_control in the recorded requests: as sent, nothing was cached; "
                     "the recorded estimate assumes breakpoints after system + tools and on "
                     "the last block")
    total = sum(f.tokens for f in figures)
    return SessionAudit(
        name=session.name, source=session.source, format=session.format, calls=figures,
        tokens_by_kind=tokens_by_kind(session, seg_tokens), killers=killers,
        duplicates=find_duplicates(session, seg_tokens), recorded=recorded, ctxkit=ours,
        no_cache_cost_usd=total * profile.prices.input / 1_000_000, notes=notes,
        reported_tokens_sent=session.reported_tokens_sent)


def _disambiguate(sessions: list[SessionAudit]) -> None:
    """Prefix the parent directory to session names that would otherwise repeat."""
    seen: dict[str, int] = {}
    for s in sessions:
        seen[s.name] = seen.get(s.name, 0) + 1
    for s in sessions:
        if seen[s.name] > 1:
            s.name = f"{Path(s.source).parent.name}/{s.name}"
            for k in s.killers:
                k.session = s.name
            for d in s.duplicates:
                d.session = s.name


def audit(paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str], *,
          model: str = DEFAULT_MODEL, fmt: str | None = None,
          on_item: Callable[[int, int, Path], None] | None = None) -> AuditReport:
    """Audit recorded prompts: prefix reuse, cache-killers, duplicates, estimated cost.

    Args:
        paths: files or directories (directories are searched recursively).
        model: the model whose profile gives the tokenizer, prices and cache rules.
        fmt: force an input format (``openai``, ``anthropic``, ``swe-agent``,
            ``openhands``); detected per file when None.
        on_item: called as ``on_item(done, total, item)`` after each file or directory.

    Raises:
        UserError: a path does not exist, a file named on its own cannot be read as
            recorded prompts, or nothing auditable was found.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    profile = profile_for(model)
    tokenizer = get_tokenizer(profile.tokenizer)
    count = SegmentCounter(tokenizer)
    report = AuditReport(model=profile.name, tokenizer=str(tokenizer.name),
                         tokens_exact=bool(tokenizer.is_exact), cache_kind=profile.cache.kind,
                         prices_as_of=profile.prices.as_of)
    explicit = {Path(p) for p in paths if Path(p).is_file()}
    items = discover(paths)
    for done, item in enumerate(items, start=1):
        try:
            sessions = load(item, fmt)
        except UserError as exc:
            if item in explicit:
                raise
            message = str(exc).replace(ACCEPTED, "").strip().rstrip(".")
            report.errors.append((str(item), message.removeprefix(f"{item}: ")))
            sessions = []
        for s in sessions:
            if s.calls:
                report.sessions.append(audit_session(s, profile, count))
        if on_item is not None:
            on_item(done, len(items), item)
    _disambiguate(report.sessions)
    if not report.sessions:
        where = ", ".join(map(str, paths))
        if report.errors:
            path, err = report.errors[0]
            more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
            raise UserError(f"nothing auditable in {where}: {path}: {err}{more}. {ACCEPTED}")
        raise UserError(f"nothing auditable in {where}: no calls recorded there. {ACCEPTED}")
    return report
