"""The audit itself: paths → a stream of calls → per-session findings.

Owns the order of the steps (discover, stream, audit each session call by call, compare
sessions), the model each session is estimated under, and the rule that one bad file in a
directory is reported and skipped while a bad file named on its own is an error. Knows no
file format and draws nothing.

The model: ``model=`` when given; otherwise the one each log's requests name, when ctxkit
has a profile for it; otherwise ``DEFAULT_MODEL``'s tokenizer and cache rules, with the
prices marked unknown (a model named in the log without a profile has no prices: its
costs are not shown as $0).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from .._errors import UserError
from .._profile import Profile, profile_for
from .._tokens import get_tokenizer
from ._count import SegmentCounter
from ._load import ACCEPTED, discover, stream
from ._model import AuditReport, SessionAudit
from ._prompt import RecordedSession
from ._read import MAX_BYTES
from ._session_audit import SessionAuditor

DEFAULT_MODEL = "claude-sonnet-4-5"

OnItem = Callable[[int, int, Path], None]
OnBytes = Callable[[Path, int, int], None]


def audit_session(session: RecordedSession, profile: Profile,
                  count: SegmentCounter | None = None) -> SessionAudit:
    """Every finding for one session already in memory (``session.calls``), under
    ``profile``; ``audit()`` streams instead, and is what the command uses."""
    if count is None:
        count = SegmentCounter(get_tokenizer(profile.tokenizer))
    auditor = SessionAuditor(session, profile, count, prices_known=_has_prices(profile))
    for call in session.calls:
        auditor.add(call)
    return auditor.finish()


def _profile(model: str) -> Profile:
    """The profile for a model as logs name it, also as ``provider/model`` (litellm)."""
    try:
        return profile_for(model)
    except UserError:
        if "/" in model:
            return profile_for(model.rsplit("/", 1)[1]).replace(name=model)
        raise


def _has_prices(p: Profile) -> bool:
    return p.prices.input > 0 or p.prices.output > 0


class _Profiles:
    """The profile and token counter for each session's model, shared across sessions."""

    def __init__(self, model: str | None) -> None:
        self.forced = model
        self.default = profile_for(model or DEFAULT_MODEL)
        self._counters: dict[str, SegmentCounter] = {}
        self.used: dict[str, bool] = {}  # tokenizer name -> exact

    def counter(self, p: Profile) -> SegmentCounter:
        if p.tokenizer not in self._counters:
            tok = get_tokenizer(p.tokenizer)
            self._counters[p.tokenizer] = SegmentCounter(tok)
        c = self._counters[p.tokenizer]
        self.used[str(c.tokenizer.name)] = bool(c.tokenizer.is_exact)  # type: ignore[attr-defined]
        return c

    def for_session(self, s: RecordedSession, first_model: str | None
                    ) -> tuple[Profile, bool, str | None]:
        """(profile, prices known, a note) for a session."""
        named = s.model or first_model
        if self.forced is not None or not named:
            return self.default, _has_prices(self.default), None
        try:
            p = _profile(named)
        except UserError:
            base = self.default
            return (base.replace(name=named), False,
                    f"model {named!r} has no ctxkit profile: prices unknown; tokens and "
                    f"cache estimated with {base.name}'s tokenizer and cache rules")
        return p, _has_prices(p), None


def audit(paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str], *,
          model: str | None = None, fmt: str | None = None, on_item: OnItem | None = None,
          on_bytes: OnBytes | None = None, max_bytes: int = MAX_BYTES) -> AuditReport:
    """Audit recorded prompts: prefix reuse, cache-killers, duplicates, estimated cost,
    and measured usage where the log kept it.

    Args:
        paths: files or directories (directories are searched recursively).
        model: the model whose profile gives the tokenizer, prices and cache rules; when
            None, the model each log names (``DEFAULT_MODEL`` when it names none).
        fmt: force an input format (one of ``FORMATS``); detected per file when None.
        on_item: called as ``on_item(done, total, item)`` after each file or directory.
        on_bytes: called as ``on_bytes(item, bytes_read, size)`` while a file streams.
        max_bytes: files larger than this are refused (skipped in a directory).

    Raises:
        UserError: a path does not exist, a file named on its own cannot be read as
            recorded prompts (or not in the forced format), or nothing auditable was found.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    profiles = _Profiles(model)
    p0 = profiles.default
    tok = get_tokenizer(p0.tokenizer)
    report = AuditReport(model=model or f"as logged (else {DEFAULT_MODEL})",
                         tokenizer=str(tok.name), tokens_exact=bool(tok.is_exact),
                         cache_kind=p0.cache.kind, prices_as_of=p0.prices.as_of)
    explicit = {Path(p) for p in paths if not Path(p).is_dir()}
    items, skipped = discover(paths, max_bytes)
    report.errors += skipped
    shared: set[str] = set()
    for done, item in enumerate(items, start=1):
        try:
            found = _audit_item(item, fmt, max_bytes, profiles, report, on_bytes)
        except (UserError, RecursionError) as exc:
            if item in explicit:
                if isinstance(exc, RecursionError):
                    raise UserError(f"{item}: nested too deeply to audit") from exc
                raise
            message = str(exc).replace(ACCEPTED, "").strip().rstrip(".")
            report.errors.append((str(item), message.removeprefix(f"{item}: ")
                                  or "nested too deeply to audit"))
            found = []
        for sa, auditor in found:
            _shared_prefix(sa, auditor, shared)
            report.sessions.append(sa)
        if on_item is not None:
            on_item(done, len(items), item)
    _disambiguate(report.sessions)
    if profiles.used:
        report.tokenizer = ", ".join(sorted(profiles.used))
        report.tokens_exact = all(profiles.used.values())
    if not report.sessions:
        where = ", ".join(map(str, paths))
        if report.errors:
            path, err = report.errors[0]
            more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
            raise UserError(f"nothing auditable in {where}: {path}: {err}{more}. {ACCEPTED}")
        raise UserError(f"nothing auditable in {where}: no calls recorded there. {ACCEPTED}")
    return report


def _audit_item(item: Path, fmt: str | None, max_bytes: int, profiles: _Profiles,
                report: AuditReport, on_bytes: OnBytes | None
                ) -> list[tuple[SessionAudit, SessionAuditor]]:
    size = item.stat().st_size if item.is_file() else 0
    progress = (lambda n: on_bytes(item, n, size)) if on_bytes is not None else None
    (detected, why), events = stream(item, fmt, max_bytes, progress)
    report.inputs.append((str(item), detected, why))
    open_: dict[int, SessionAuditor] = {}
    out: list[tuple[SessionAudit, SessionAuditor]] = []
    for s, call in events:
        auditor = open_.get(id(s))
        if call is None:
            if auditor is not None:
                del open_[id(s)]
                out.append((auditor.finish(), auditor))
            continue
        if auditor is None:
            profile, known, note = profiles.for_session(s, call.model)
            if note:
                s.notes.append(note)
            auditor = open_[id(s)] = SessionAuditor(s, profile, profiles.counter(profile),
                                                    prices_known=known)
        auditor.add(call)
    if len(out) == 1 and out[0][0].name.endswith("#1"):
        _rename(out[0][0], out[0][0].name.removesuffix("#1"))  # one inferred session
    return out


def _rename(s: SessionAudit, name: str) -> None:
    s.name = name
    for k in s.killers:
        k.session = name
    for d in s.duplicates:
        d.session = name


def _shared_prefix(sa: SessionAudit, auditor: SessionAuditor, seen: set[str]) -> None:
    """Tokens of this session's first prompt that an earlier session's first prompt
    already started with (shared system prompt, tools, instructions)."""
    for h, tokens in reversed(auditor.first_head):
        if h in seen:
            sa.shared_prefix_tokens = tokens
            p = auditor.profile.prices
            sa.shared_prefix_saving_usd = tokens * (p.input - p.cache_read) / 1_000_000
            break
    seen.update(h for h, _ in auditor.first_head)


def _disambiguate(sessions: list[SessionAudit]) -> None:
    """Prefix the parent directory to session names that would otherwise repeat."""
    seen: dict[str, int] = {}
    for s in sessions:
        seen[s.name] = seen.get(s.name, 0) + 1
    for s in sessions:
        if seen[s.name] > 1:
            _rename(s, f"{Path(s.source).parent.name}/{s.name}")
