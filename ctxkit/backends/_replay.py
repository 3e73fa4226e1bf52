"""``Replay``: a backend that answers from a recorded trace, call by call.

Owns replaying CallRecords (offline demos, cost-regression replays, the example agent's
recorded sessions); with ``strict`` it names the first block where a replayed prompt left
the recording. Knows nothing of providers: it answers with the recorded Response.
"""

from __future__ import annotations

import os

from .._backend import Backend
from .._draft import Draft
from .._errors import BackendError, UserError
from .._profile import Profile, profile_for
from .._record import load_trace
from .._types import Response


def _profile(model: str | Profile) -> Profile:
    return model if isinstance(model, Profile) else profile_for(model)


class Replay(Backend):
    """Answers from a recorded trace, call by call (offline demos, cost regressions).

    Args:
        trace: path of a JSONL trace written by ``ContextPipeline(trace=...)``.
        strict: raise if a call's prompt differs from the recorded one (its hash chain),
            naming the call; otherwise answer anyway.
        model: override the profile (default: the recorded model's).
    """

    name = "replay"

    def __init__(self, trace: str | os.PathLike[str], *, strict: bool = False,
                 model: str | Profile | None = None) -> None:
        self.records = [r for r in load_trace(trace) if r.ok and r.response is not None]
        if not self.records:
            raise UserError(f"trace {trace} has no successful calls to replay")
        self.profile = _profile(model or self.records[0].model)
        self.strict = strict
        self._next = 0

    def complete(self, draft: Draft) -> Response:
        if self._next >= len(self.records):
            raise BackendError(f"the trace has only {len(self.records)} calls; the replayed "
                               "session asked for more")
        rec = self.records[self._next]
        self._next += 1
        chain = draft.chain()
        if self.strict and chain and chain[-1] != rec.prompt_hash:
            recorded = [b.hash for b in rec.blocks]
            pairs = enumerate(zip(recorded, draft.blocks, strict=False))
            i = next((k for k, (a, b) in pairs if a != b.hash),
                     min(len(recorded), len(draft.blocks)))
            where = draft.blocks[i].key if i < len(draft.blocks) else "(end)"
            raise BackendError(f"replay diverged at call {rec.index}: block {i} ({where}) "
                               "differs from the recording")
        assert rec.response is not None
        return rec.response.model_copy(update={"record_id": None})
