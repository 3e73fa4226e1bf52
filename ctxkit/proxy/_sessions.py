"""Sessions of the proxy: which earlier call a new call continues, and what drifted.

Owns the session table. A call names its session with the ``x-ctxkit-session`` header, or
its session is *inferred by prefix* (a small rule of the proxy's own, in the spirit of
``ctxkit audit``'s parent choice): among live sessions of the same API and model, the one
whose previous prompt shares the longest start with this one, when that start is at least
``MIN_SHARED_BYTES`` long. A call that keeps a session's system and tools but changes its
first message starts a new session on the same head (a new conversation, not a cache
killer). Drift is ``ctxkit._drift.diagnose`` of the previous prompt against this one: the
first block that changed, its layer (system, tools, user, assistant, observation), key
(``system:0``, ``tool:grep``, ``msg:3``), cause and the tokens it invalidated.
Knows nothing of HTTP; the recorder calls it from one thread.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .._block import Block
from .._cache import CacheModel
from .._drift import DriftEvent, diagnose, first_difference
from .._profile import Profile
from ..audit._prompt import RecordedCall, header

MIN_SHARED_BYTES = 128  # a shorter common start is a coincidence (a shared "You are"), not reuse
MAX_SESSIONS = 512


@dataclass(slots=True)
class Session:
    """One live session: its previous prompt and what its cache holds."""

    id: str
    api: str
    model: str
    profile: Profile
    cache: CacheModel
    named: bool
    num_calls: int = 0
    prev: RecordedCall | None = None
    prev_tokens: list[int] = field(default_factory=list)
    prev_chain: list[str] = field(default_factory=list)
    last_seen: float = 0.0


def head_length(blocks: list[Block]) -> int:
    """Leading system/tools blocks: the part every call of an agent is meant to repeat."""
    n = 0
    while n < len(blocks) and blocks[n].layer in ("system", "tools"):
        n += 1
    return n


class Sessions:
    """The live sessions, least recently used dropped past ``max_sessions``."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self.max_sessions = max_sessions
        self.live: OrderedDict[str, Session] = OrderedDict()
        self._num_inferred = 0

    def assign(self, name: str | None, api: str, model: str, call: RecordedCall,
               profile: Profile, now: float) -> Session:
        """The session this call belongs to (created when new)."""
        if name:
            s = self.live.get(name)
            if s is None:
                s = self._new(name, api, model, profile, named=True)
            # one header may span models (a small model for titles): keep one cache per model
            elif s.model != model:
                s = self.live.get(f"{name}/{model}") or \
                    self._new(f"{name}/{model}", api, model, profile, named=True)
        else:
            s = self._infer(api, model, call) or self._new(
                self._next_id(), api, model, profile, named=False)
        s.last_seen = now
        self.live.move_to_end(s.id)
        return s

    def _next_id(self) -> str:
        self._num_inferred += 1
        return f"s{self._num_inferred}"

    def _new(self, sid: str, api: str, model: str, profile: Profile, *, named: bool) -> Session:
        s = Session(id=sid, api=api, model=model, profile=profile,
                    cache=CacheModel(profile.cache), named=named)
        self.live[sid] = s
        while len(self.live) > self.max_sessions:
            self.live.popitem(last=False)
        return s

    def _infer(self, api: str, model: str, call: RecordedCall) -> Session | None:
        best: Session | None = None
        best_lcp = -1
        for s in self.live.values():
            if s.named or s.api != api or s.model != model or s.prev is None:
                continue
            lcp = first_difference(s.prev.text, call.text)
            if lcp > best_lcp:
                best, best_lcp = s, lcp
        if best is None or best.prev is None or \
                len(call.text[:best_lcp].encode()) < MIN_SHARED_BYTES:
            return None
        prev = best.prev
        head = head_length(prev.blocks)
        if head < len(prev.blocks) and head < len(call.blocks) and \
                _same(prev.blocks[:head], call.blocks[:head]) and \
                prev.blocks[head].hash != call.blocks[head].hash:
            return None  # same head, another first message: a new conversation
        return best


def _same(a: list[Block], b: list[Block]) -> bool:
    return len(a) == len(b) and all(x.hash == y.hash for x, y in zip(a, b, strict=True))


def drift(session: Session, call: RecordedCall, count: Callable[[str], int] | None = None
          ) -> tuple[DriftEvent, str, int] | None:
    """The first break of the session's previous prompt in ``call``, the request item it
    sits in (``system``, ``tools[2] (grep)``, ``messages[3]``) and the changed block's
    tokens still cached; None if ``call`` extends the previous prompt.

    Where the provider caches token prefixes (OpenAI, paged servers) rather than whole
    blocks up to a breakpoint (Anthropic), the text of the changed block before the first
    difference stays cached: with ``count``, only the tokens from there on are lost."""
    prev = session.prev
    if prev is None:
        return None
    event = diagnose(prev.blocks, call.blocks, session.prev_tokens)
    if event is None:
        return None
    i = event.index
    new = call.blocks[i] if i < len(call.blocks) else None
    kept = kept_tokens(session, event, new, count) if count is not None else 0
    if kept:
        event = event.model_copy(update={"tokens_invalidated": session.prev_tokens[i] - kept
                                         + sum(session.prev_tokens[i + 1:])})
    where = prev.where[i]
    return event.model_copy(update={"detail": f"{where}: {event.detail}"}), where, kept


def kept_tokens(session: Session, event: DriftEvent, new: Block | None,
                count: Callable[[str], int]) -> int:
    """Tokens of the changed block before its first difference that the provider still
    serves from cache: its serialized segment up to there, where the provider caches token
    prefixes (OpenAI, paged servers) and the block ``new`` keeps its role, kind and name;
    0 where the provider caches whole blocks (Anthropic)."""
    prev = session.prev
    if prev is None or new is None or event.offset <= 0 or \
            session.profile.cache.kind not in ("automatic", "paged"):
        return 0
    i = event.index
    if header(prev.blocks[i]) != header(new):
        return 0  # another role or kind: the wire framing differs before the content
    head = prev.content_starts[i] - prev.starts[i]
    return min(session.prev_tokens[i], int(count(prev.segment(i)[:head + event.offset])))
