"""Compactor: replaces old turns with a marker and a structured summary, at milestones.

Owns one compaction, in this order: ask the policies; cut at a turn start that keeps
every tool call with its result; write the dropped blocks to episodic memory (a failure
stops here, the transcript untouched); summarize them, folding in the last summary;
rewrite the session once — marker, summary, kept turns — and declare it. The cached
prefix (every block before the history) is never touched, and neither is the State.
Used as ``History(compactor=Compactor(...))``; under ``arun`` the History layer awaits
``acall``, which awaits a summarizer's ``asummarize`` (a model-written summary does not
block the event loop). What a compaction did goes to the record with
``draft.note("compaction", ...)``. Knows nothing of wire formats.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .._block import Block, Provenance
from .._draft import Draft
from .._errors import UserError
from .._types import Session, Turn
from ._policy import Check, Policy
from ._sink import EpisodicSink, InMemorySink
from ._summary import ExtractiveSummarizer, Summarizer, Summary, SummaryRequest
from ._units import (
    SOURCE,
    is_compaction,
    label,
    opening,
    safe_cut,
    span,
    split_head,
    turn_starts,
)

MAX_IDS_SHOWN = 6
MAX_MARKER_LINES = 4  # older compactions fold into one line, so the marker stays short


@dataclass(slots=True)
class Compaction:
    """What one compaction did (also put in the CallRecord's ``extras["compaction"]``)."""

    index: int
    reason: str
    first_turn: int
    last_turn: int
    num_blocks: int
    dropped_tokens: int
    episodic_ids: list[str]
    summary: Summary
    dry_run: bool = False
    usage: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["summary"] = self.summary.model_dump()
        d["usage"] = [u.model_dump() if hasattr(u, "model_dump") else u for u in self.usage]
        return d


class Compactor:
    """Compacts a session's history when a policy says so.

    Args:
        policies: one Policy or several (the first that fires decides the reason), e.g.
            ``[Milestone(state), Threshold(0.8)]``.
        sink: where dropped turns are written first (default: an InMemorySink, which does
            not outlive the process; pass ``MemoryStoreSink(store, scope)`` to keep them).
        summarizer: ``ExtractiveSummarizer()`` (default, offline) or
            ``LLMSummarizer(backend)``.
        keep_turns: recent turns that stay verbatim.
        keep_steps: when one long tool loop is the whole history, the steps of it that
            stay verbatim (the older steps are compacted instead of whole turns).
        keep_tokens: keep fewer of them (never less than one) where they exceed this many
            tokens: a low-water mark, so a threshold does not fire again a turn later.
        max_summary_tokens: the summary is trimmed (oldest facts first) to fit.

    Attributes:
        compactions: what each compaction did, in order.
    """

    def __init__(self, policies: Policy | Sequence[Policy], *, sink: EpisodicSink | None = None,
                 summarizer: Summarizer | None = None, keep_turns: int = 2,
                 keep_steps: int = 2, keep_tokens: int | None = None,
                 max_summary_tokens: int = 1500) -> None:
        self.policies: list[Policy] = list(policies) if isinstance(policies, Sequence) \
            else [policies]
        if not self.policies:
            raise UserError("Compactor needs at least one policy, e.g. Milestone(state) or "
                            "Threshold(0.8)")
        for p in self.policies:
            if not (hasattr(p, "check") and hasattr(p, "fired")):
                raise UserError(f"{p!r} is not a compaction policy (check/fired); use "
                                "Milestone, Threshold or Manual")
        if min(keep_turns, keep_steps, keep_tokens or 0) < 0 or max_summary_tokens < 64:
            raise UserError("keep_turns, keep_steps and keep_tokens must be >= 0, "
                            "max_summary_tokens >= 64")
        self.sink = sink if sink is not None else InMemorySink()
        self.summarizer: Summarizer = summarizer or ExtractiveSummarizer()
        self.keep_turns = keep_turns
        self.keep_steps = keep_steps
        self.keep_tokens = keep_tokens
        self.max_summary_tokens = max_summary_tokens
        self.compactions: list[Compaction] = []
        self._summary: Summary | None = None
        self._markers: list[tuple[int, int, str]] = []  # (first turn, last turn, line)
        self._pinned: set[str] = set()  # hashes of task messages kept through step cuts

    def check(self, session: Session, draft: Draft, turn: Turn) -> Check:
        """What the policies see for this call."""
        count = draft.counter.count
        history = sum(count(b) for b in session.transcript)
        before = sum(count(b) for b in draft.blocks)
        _, body = split_head(session.transcript, self._pinned)
        _, droppable = self._cut(body, draft)
        return Check(session=session, draft=draft, turn=turn, history_tokens=history,
                     prompt_tokens=history + before,
                     available=draft.budget.available(draft.profile),
                     droppable_turns=droppable)

    def _cut(self, body: list[Block], draft: Draft) -> tuple[int, int]:
        return safe_cut(body, self.keep_turns, keep_steps=self.keep_steps,
                        keep_tokens=self.keep_tokens, count=draft.counter.count)

    def __call__(self, session: Session, draft: Draft, turn: Turn) -> None:
        reason = self._reason(session, draft, turn)
        if reason is not None:
            self._fired(self.compact(session, draft, reason, dry_run=turn.dry_run),
                        session, draft, turn)

    async def acall(self, session: Session, draft: Draft, turn: Turn) -> None:
        """``__call__`` for ``arun``: the summarizer's async form is awaited."""
        reason = self._reason(session, draft, turn)
        if reason is not None:
            self._fired(await self.acompact(session, draft, reason, dry_run=turn.dry_run),
                        session, draft, turn)

    def _reason(self, session: Session, draft: Draft, turn: Turn) -> str | None:
        c = self.check(session, draft, turn)
        return next((r for p in self.policies if (r := p.check(c))), None)

    def _fired(self, done: Compaction | None, session: Session, draft: Draft,
               turn: Turn) -> None:
        if done is not None and not done.dry_run:
            after = self.check(session, draft, turn)
            for p in self.policies:
                p.fired(after)

    def compact(self, session: Session, draft: Draft, reason: str, *,
                dry_run: bool = False) -> Compaction | None:
        """Compact now (policies not asked). In a dry run nothing is written or called:
        the session copy is rewritten with an extractive summary and pending ids."""
        plan = self._plan(session, draft, reason, dry_run)
        if plan is None:
            return None
        return self._apply(plan, plan.summarizer.summarize(plan.request))

    async def acompact(self, session: Session, draft: Draft, reason: str, *,
                       dry_run: bool = False) -> Compaction | None:
        """``compact`` with the summarizer's ``asummarize`` awaited when it has one."""
        plan = self._plan(session, draft, reason, dry_run)
        if plan is None:
            return None
        asummarize = getattr(plan.summarizer, "asummarize", None)
        if callable(asummarize):
            out = asummarize(plan.request)
            summary = await out if inspect.isawaitable(out) else out
        else:
            summary = plan.summarizer.summarize(plan.request)
        return self._apply(plan, summary)

    def _plan(self, session: Session, draft: Draft, reason: str,
              dry_run: bool) -> _Plan | None:
        """Everything before the summary: the cut, and the dropped turns written first."""
        head, body = split_head(session.transcript, self._pinned)
        cut, _ = self._cut(body, draft)
        if cut == 0:
            return None
        whole = cut in turn_starts(body) or cut == len(body)
        pin: list[Block] = []
        if whole:
            dropped = body[:cut]
        else:  # inside one long tool loop: its task message stays, where it was
            start, end = opening(body, cut)
            pin = body[start:end]
            dropped = body[:start] + body[end:cut]
        if dry_run:
            ids = ["(pending)"]
        else:
            # a store that dedupes answers an identical block with the same id: list it once
            ids = list(dict.fromkeys(i for i in self.sink.write_episodes(dropped, reason) if i))
        request = SummaryRequest(dropped=dropped, previous=self._summary,
                                 prefix=list(draft.blocks), transcript=list(session.transcript),
                                 draft=draft, keep_turns=self.keep_turns)
        return _Plan(session=session, draft=draft, reason=reason, dry_run=dry_run, head=head,
                     pin=pin, dropped=dropped, kept=body[cut:], whole=whole, ids=ids,
                     request=request,
                     summarizer=ExtractiveSummarizer() if dry_run else self.summarizer)

    def _apply(self, plan: _Plan, summary: Summary) -> Compaction:
        """Everything after the summary: the one rewrite, declared, and the record note."""
        session, draft, dropped, ids = plan.session, plan.draft, plan.dropped, plan.ids
        summary = summary.trimmed(self.max_summary_tokens, draft.counter.count_text)
        pinned = [b for b in plan.head if not is_compaction(b)] + plan.pin
        first = (label(dropped) or (0, 0))[0]
        last = (label(list(reversed(dropped))) or (first, 0))[0]
        where = span(dropped, whole_turns=plan.whole)
        n = len(self.compactions) + 1
        shown = ", ".join(ids[:MAX_IDS_SHOWN]) + (
            f" … ({len(ids)} in all)" if len(ids) > MAX_IDS_SHOWN else "")
        line = f"{where} compacted at {plan.reason}; episodic ids {shown or 'none'}"
        markers = [*self._markers, (first, last, line)]
        src = Provenance(source=SOURCE, ref=f"compaction:{n}")
        marker = Block(layer="history", role="user", key=f"compaction:{n}:marker",
                       content="[" + "]\n[".join(_marker_lines(markers)) + "]", provenance=src)
        summary_block = Block(layer="history", role="user", key=f"compaction:{n}:summary",
                              content=f"Summary of {where}"
                                      f"{' and earlier' if self._markers else ''}:\n"
                                      f"{summary.render()}", provenance=src)
        session.rewrite([*pinned, marker, summary_block, *plan.kept],
                        reason=f"compaction {n}: {plan.reason}")
        draft.declare_rewrite(f"compaction {n}: {plan.reason}")
        event = Compaction(index=n, reason=plan.reason, first_turn=first, last_turn=last,
                           num_blocks=len(dropped) + len(plan.head),
                           dropped_tokens=sum(draft.counter.count(b) for b in dropped),
                           episodic_ids=ids, summary=summary, dry_run=plan.dry_run,
                           usage=list(plan.request.usage))
        draft.note("compaction", event.to_dict())
        if not plan.dry_run:
            self._pinned.update(b.hash for b in plan.pin)
            self._summary = summary
            self._markers = markers
            self.compactions.append(event)
        return event


@dataclass(slots=True)
class _Plan:
    """A compaction between its cut and its summary (what ``_apply`` needs)."""

    session: Session
    draft: Draft
    reason: str
    dry_run: bool
    head: list[Block]
    pin: list[Block]
    dropped: list[Block]
    kept: list[Block]
    whole: bool
    ids: list[str]
    request: SummaryRequest
    summarizer: Summarizer


def _marker_lines(markers: list[tuple[int, int, str]]) -> list[str]:
    if len(markers) <= MAX_MARKER_LINES:
        return [m[2] for m in markers]
    older = markers[:len(markers) - MAX_MARKER_LINES + 1]
    head = (f"turns {older[0][0]}–{older[-1][1]} compacted earlier, in {len(older)} "
            "compactions; their turns are in episodic memory")
    return [head, *(m[2] for m in markers[len(older):])]


class ChainedCompactor:
    """Several history editors in order, as one ``compactor``: e.g.
    ``History(compactor=ChainedCompactor(ContextEditor(), Compactor(...)))``."""

    def __init__(self, *steps: Any) -> None:
        for s in steps:
            if not callable(s):
                raise UserError(f"{s!r} is not callable(session, draft, turn)")
        self.steps = steps

    def __call__(self, session: Session, draft: Draft, turn: Turn) -> None:
        for s in self.steps:
            s(session, draft, turn)

    async def acall(self, session: Session, draft: Draft, turn: Turn) -> None:
        """``__call__`` for ``arun``: each step's async form is awaited when it has one."""
        for s in self.steps:
            acall = getattr(s, "acall", None)
            out = (acall if callable(acall) else s)(session, draft, turn)
            if inspect.isawaitable(out):
                await out
