"""The model-written summary: the configured backend summarizes the turns being compacted,
reading the same cached prefix the agent's last call wrote.

Owns the summarization request: the previous call's blocks exactly as it rendered them
(system, tools, project files, then the whole history with its moving breakpoint) and
one instruction after them, so the provider serves everything but the instruction from
cache; parsing the JSON reply into a Summary; falling back to the extractive summarizer
when there is no usable reply. ``summarize`` calls the backend's ``complete``;
``asummarize`` awaits its ``acomplete`` (what ``arun`` uses). Knows nothing of policies or
sinks.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from pydantic import ValidationError

from .._backend import Backend
from .._block import Block, Provenance
from .._cache import place_breakpoints
from .._draft import Draft
from .._errors import BackendError, UserError
from ._summary import ExtractiveSummarizer, Summary, SummaryRequest

INSTRUCTION = (
    "Context compaction: the turns above, except the last {keep} user turn(s), are about to "
    "leave your context (they stay in episodic memory). Write the summary you will work "
    "from instead. Reply with JSON only, no prose: {{\"facts\": [...], \"decisions\": [...], "
    "\"open_questions\": [...], \"failed_attempts\": [{{\"attempt\": ..., \"error\": ...}}]}}. "
    "Facts: everything learned that is still true (a newer value replaces an older one). "
    "Failed attempts: what was tried and the exact error it gave. Include what an earlier "
    "summary above says that still holds. Be terse; one short sentence per item."
)
_JSON = re.compile(r"\{.*\}", re.S)


class LLMSummarizer:
    """Summaries written by ``backend``'s model over the agent's own cached prefix.

    Args:
        backend: the backend to ask (usually the pipeline's own).
        ttl: the TTL the history's moving breakpoint uses (to match the History layer).
        fallback: used when the reply is not a valid summary (default: extractive).

    Attributes:
        calls: the usage each summarization call reported (or None), in order.
        failures: how many replies could not be used (the fallback summarized instead).
    """

    def __init__(self, backend: Backend, *, ttl: str = "5m",
                 fallback: ExtractiveSummarizer | None = None) -> None:
        if not isinstance(backend, Backend):
            raise UserError(f"LLMSummarizer needs a ctxkit Backend, got {type(backend).__name__}")
        self.backend = backend
        self.ttl = ttl
        self.fallback = fallback or ExtractiveSummarizer()
        self.calls: list[Any] = []
        self.failures = 0

    def request_draft(self, request: SummaryRequest) -> Draft:
        """The summarization call: the last call's prefix and history, then the instruction."""
        base = request.draft
        draft = Draft(profile=base.profile, counter=base.counter, budget=base.budget)
        draft.extend(request.prefix)
        history = list(request.transcript)
        if history:
            draft.extend(history[:-1])
            draft.add(history[-1].replace(cache=self.ttl))
        draft.add(Block(layer="turn", role="user", key="compaction:instruction",
                        content=INSTRUCTION.format(keep=request.keep_turns),
                        provenance=Provenance(source="compaction")))
        cumulative = list(itertools.accumulate(draft.tokens(b) for b in draft.blocks))
        draft.breakpoints = place_breakpoints(draft.blocks, cumulative, draft.profile.cache)
        return draft

    def summarize(self, request: SummaryRequest) -> Summary:
        if request.draft is None:
            return self.fallback.summarize(request)
        try:
            response = self.backend.complete(self.request_draft(request))
        except BackendError:
            self.failures += 1
            return self.fallback.summarize(request)
        return self._parsed(request, response)

    async def asummarize(self, request: SummaryRequest) -> Summary:
        """``summarize`` without blocking the event loop: the backend's ``acomplete``."""
        if request.draft is None:
            return self.fallback.summarize(request)
        try:
            response = await self.backend.acomplete(self.request_draft(request))
        except BackendError:
            self.failures += 1
            return self.fallback.summarize(request)
        return self._parsed(request, response)

    def _parsed(self, request: SummaryRequest, response: Any) -> Summary:
        self.calls.append(response.usage)
        request.usage.append(response.usage)
        parsed = parse_summary(response.text)
        if parsed is None:
            self.failures += 1
            return self.fallback.summarize(request)
        return parsed


def parse_summary(text: str) -> Summary | None:
    """The Summary in a model's reply (the first JSON object in it), or None."""
    m = _JSON.search(text or "")
    if m is None:
        return None
    try:
        data = json.loads(m.group(0))
        data["failed_attempts"] = [
            a if isinstance(a, dict) else {"attempt": str(a), "error": ""}
            for a in data.get("failed_attempts") or []]
        for k in ("facts", "decisions", "open_questions"):
            data[k] = [str(x) for x in data.get(k) or []]
        return Summary.model_validate(
            {k: data[k] for k in ("facts", "decisions", "open_questions", "failed_attempts")})
    except (ValueError, TypeError, AttributeError, ValidationError):
        return None
