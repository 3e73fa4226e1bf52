"""Compaction policies: when to compact, as objects — Milestone, Threshold, Manual.

Owns the decision only. A policy's ``check`` looks at the call being assembled and answers
with a reason (the milestone reached, the threshold crossed) or None; it must not change
anything, because a dry run (``pipe.assemble``) asks too. ``fired`` is called after a
compaction really happened, so the policy can forget what it consumed. Knows nothing of
how compaction is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .._errors import UserError

MILESTONES = ("step_done", "goal_changed", "subtask_done")


@dataclass(frozen=True, slots=True)
class Check:
    """What a policy sees.

    Attributes:
        session: the session (read it, do not change it).
        draft: the call being assembled (its blocks so far: the layers before History).
        turn: the call's turn.
        history_tokens: tokens of the transcript as it stands.
        prompt_tokens: tokens before History plus the transcript: the prompt, roughly.
        available: prompt tokens the budget allows.
        droppable_turns: whole turns compaction could drop (beyond those it keeps).
    """

    session: Any
    draft: Any
    turn: Any
    history_tokens: int
    prompt_tokens: int
    available: int
    droppable_turns: int


@runtime_checkable
class Policy(Protocol):
    def check(self, c: Check) -> str | None: ...

    def fired(self, c: Check) -> None:
        """Called after a compaction, with the Check of the history it left."""


class Milestone:
    """Compact when the work reaches a milestone.

    Milestones come from the State's diffs (a plan step done, a goal changed, a subagent's
    subtask finished — see ``StateDiff.tags``) and from code: ``policy.reached("tests
    green")``. A milestone with fewer than ``min_turns`` turns to compact waits for more,
    and so does one reached while the prompt fills less than ``min_fill`` of the budget:
    compacting a short history costs a cache miss and summarizes away verbatim turns for
    no tokens saved; the milestone stays pending and fires at the first call past it.

    Args:
        state: the ``ctxkit.WorkingState`` to watch (None: only ``reached`` counts).
        on: which tags count: any of ``step_done``, ``goal_changed``, ``subtask_done``.
        min_turns: compact only when at least this many turns can be dropped.
        min_fill: compact only when the prompt fills at least this share of the budget
            (0: at every milestone).
    """

    def __init__(self, state: Any = None, *, on: tuple[str, ...] = MILESTONES,
                 min_turns: int = 2, min_fill: float = 0.0) -> None:
        unknown = set(on) - set(MILESTONES)
        if unknown:
            raise UserError(f"Milestone(on=...) got {sorted(unknown)}; use {list(MILESTONES)}")
        if min_turns < 1:
            raise UserError("Milestone(min_turns=...) must be >= 1")
        if not 0 <= min_fill < 1:
            raise UserError(f"Milestone(min_fill=...) must be in [0, 1), got {min_fill}")
        self.state, self.on, self.min_turns = state, tuple(on), min_turns
        self.min_fill = min_fill
        self._seen = state.version if state is not None else 0
        self._pending: list[str] = []

    def reached(self, name: str) -> None:
        """Signal a milestone from code (a subtask finished, tests went green)."""
        self._pending.append(name)

    def _names(self) -> list[str]:
        names = list(self._pending)
        if self.state is not None:
            for d in self.state.diffs_since(self._seen):
                for tag in d.tags:
                    kind, _, what = tag.partition(":")
                    if kind in self.on:
                        names.append({"step_done": f"plan step {what} done",
                                      "goal_changed": "goal changed",
                                      "subtask_done": f"subtask done ({d.why[:60]})"}[kind])
        return names

    def check(self, c: Check) -> str | None:
        names = self._names()
        if not names or c.droppable_turns < self.min_turns or \
                c.prompt_tokens < self.min_fill * c.available:
            return None
        return "milestone: " + "; ".join(dict.fromkeys(names))

    def fired(self, c: Check) -> None:
        self._pending.clear()
        if self.state is not None:
            self._seen = self.state.version


class Threshold:
    """Compact when the prompt would pass a share of the budget (the fallback policy).

    Each compaction costs one cache miss on the history, so the threshold does not fire
    again until the prompt has grown ``min_growth`` of the limit past what the last
    compaction left — even when what must stay (prefix, pinned task, summary) is already
    above the limit.

    Args:
        fraction: of the tokens the budget allows (0 < fraction <= 1).
        tokens: an absolute ceiling instead (whichever is lower wins when both are given).
        min_growth: share of the limit the prompt must grow between two compactions.
    """

    def __init__(self, fraction: float = 0.8, *, tokens: int | None = None,
                 min_growth: float = 0.25) -> None:
        if not 0 < fraction <= 1:
            raise UserError(f"Threshold(fraction=...) must be in (0, 1], got {fraction}")
        if tokens is not None and tokens < 1:
            raise UserError("Threshold(tokens=...) must be >= 1")
        if not 0 <= min_growth <= 1:
            raise UserError("Threshold(min_growth=...) must be in [0, 1]")
        self.fraction, self.tokens, self.min_growth = fraction, tokens, min_growth
        self._floor = 0

    def limit(self, c: Check) -> int:
        limit = int(self.fraction * c.available)
        return min(limit, self.tokens) if self.tokens is not None else limit

    def check(self, c: Check) -> str | None:
        limit = self.limit(c)
        grown = c.prompt_tokens - self._floor >= self.min_growth * limit
        if c.prompt_tokens > limit and c.droppable_turns > 0 and grown:
            return f"token threshold ({c.prompt_tokens:,} > {limit:,} tokens)"
        return None

    def fired(self, c: Check) -> None:
        self._floor = c.prompt_tokens  # what the compaction left


class Manual:
    """Compact when asked: ``policy.request("before the refactor")``; the next call does."""

    def __init__(self) -> None:
        self._reasons: list[str] = []

    def request(self, reason: str = "requested") -> None:
        self._reasons.append(reason)

    def check(self, c: Check) -> str | None:
        if self._reasons and c.droppable_turns > 0:
            return "explicit: " + "; ".join(self._reasons)
        return None

    def fired(self, c: Check) -> None:
        self._reasons.clear()
