"""Sessions inferred from a stream of prompts that carries no session ids.

Owns one rule, reused by ``ctxkit audit`` and ``ctxkit proxy``: a prompt belongs to the
conversation whose earlier prompt it *continues*, and a prompt that continues none starts
a new session. It is not a cache-killer: a new conversation that shares only the system
prompt and tools with an earlier one is another task, not a broken cache.

A prompt is given as its *head* (system prompt and tool schemas: what every conversation
of one agent shares) and its *body* (the conversation's messages), each a sequence of
item fingerprints (any hashable: a block hash, a message digest). Prompt k continues an
earlier prompt j when

* their bodies start with the same item (the conversation's opening message: the task), or
* at least half of j's body items (by weight) appear in k's body (a history that was
  rewritten in places, e.g. by a history processor, is still the same conversation), or
* neither has a body and their heads are equal.

Among the prompts it continues, the most recent one is its *parent*. The head plays no
part in the decision, so a timestamp in the system prompt does not split a conversation
(it is a cache-killer inside it, which is what the audit should report).

    splitter = SessionSplitter()
    for head, body in prompts:
        a = splitter.assign(head, body)
        print(a.session, a.parent, a.is_new)

``lookback`` bounds the memory: only the last ``lookback`` prompts are candidates, so the
splitter keeps O(lookback) fingerprints however long the stream. Knows nothing of files,
wire formats or tokens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

DEFAULT_LOOKBACK = 64


@dataclass(frozen=True, slots=True)
class SessionAssignment:
    """Where one prompt went.

    Attributes:
        session: the session's number, 0 first, in order of first appearance.
        parent: the stream position of the prompt it continues (None when it starts a
            session).
        is_new: True when this prompt starts a session.
        index: this prompt's position in the stream (0 first).
    """

    session: int
    parent: int | None
    is_new: bool
    index: int


@dataclass(slots=True)
class _Seen:
    index: int
    session: int
    head: tuple[Hashable, ...]
    first: Hashable | None
    body: dict[Hashable, float]  # item -> weight
    weight: float


class SessionSplitter:
    """Assigns each prompt of a stream to a session (see the module docstring).

    Args:
        lookback: how many recent prompts are candidates for a continuation.
        min_share: the share of an earlier body (by weight) that must reappear for a
            prompt whose opening message differs to still continue it.
    """

    def __init__(self, *, lookback: int = DEFAULT_LOOKBACK, min_share: float = 0.5) -> None:
        if lookback < 1 or not 0.0 < min_share <= 1.0:
            raise ValueError("lookback >= 1 and 0 < min_share <= 1")
        self.lookback = lookback
        self.min_share = min_share
        self._recent: deque[_Seen] = deque(maxlen=lookback)
        self._count = 0
        self._sessions = 0

    @property
    def num_sessions(self) -> int:
        return self._sessions

    def continues(self, earlier: _Seen, head: tuple[Hashable, ...], first: Hashable | None,
                  body: dict[Hashable, float]) -> bool:
        if earlier.first is None and first is None:
            return earlier.head == head
        if earlier.first is None or first is None:
            return False
        if earlier.first == first:
            return True
        kept = sum(w for item, w in earlier.body.items() if item in body)
        return earlier.weight > 0 and kept / earlier.weight >= self.min_share

    def assign(self, head: Sequence[Hashable], body: Sequence[Hashable],
               weights: Sequence[float] | None = None) -> SessionAssignment:
        """Place one prompt; ``weights`` (one per body item, e.g. tokens) default to 1."""
        if weights is not None and len(weights) != len(body):
            raise ValueError("weights must give one weight per body item")
        h = tuple(head)
        items: dict[Hashable, float] = {}
        for n, item in enumerate(body):
            items[item] = items.get(item, 0.0) + (float(weights[n]) if weights else 1.0)
        first = body[0] if body else None
        index = self._count
        self._count += 1
        for earlier in reversed(self._recent):
            if self.continues(earlier, h, first, items):
                seen = _Seen(index, earlier.session, h, first, items, sum(items.values()))
                self._recent.append(seen)
                return SessionAssignment(earlier.session, earlier.index, False, index)
        session = self._sessions
        self._sessions += 1
        self._recent.append(_Seen(index, session, h, first, items, sum(items.values())))
        return SessionAssignment(session, None, True, index)
