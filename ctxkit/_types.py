"""Value types that cross the pipeline/backend boundary: Usage, ToolCall, ToolResult,
Response, Turn and Session.

Owns their shapes and validation. Pydantic models, because they are read back from traces
and built from API responses (outside JSON). Knows nothing of wire formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._block import Block
from ._errors import UserError


class Usage(BaseModel):
    """Tokens of one call, as predicted by ctxkit or reported by a backend.

    ``input_tokens`` counts the whole prompt, cached or not; ``cache_read_tokens`` and
    ``cache_write_tokens`` are parts of it (``cache_write_1h_tokens`` is the 1h part of the
    writes). Anthropic's ``input_tokens`` excludes cached tokens: backends normalize.
    """

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @model_validator(mode="after")
    def _check(self) -> Usage:
        if min(self.input_tokens, self.output_tokens, self.cache_read_tokens,
               self.cache_write_tokens, self.cache_write_1h_tokens) < 0:
            raise ValueError("token counts must be >= 0")
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            raise ValueError("cache_write_1h_tokens is part of cache_write_tokens")
        return self

    @property
    def uncached_tokens(self) -> int:
        return max(0, self.input_tokens - self.cache_read_tokens - self.cache_write_tokens)

    @property
    def cache_write_5m_tokens(self) -> int:
        return self.cache_write_tokens - self.cache_write_1h_tokens


class ToolCall(BaseModel):
    """A tool the model asked to call."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolResult(BaseModel):
    """The result of a tool call, paired with it by ``call_id``."""

    model_config = ConfigDict(frozen=True)

    call_id: str
    content: str
    name: str | None = None
    is_error: bool = False


class Response(BaseModel):
    """What a backend answered.

    Attributes:
        text: the reply text (may be empty when the model only calls tools).
        tool_calls: tools the model asked to call, in order.
        thinking: the model's visible reasoning, when the provider returns it.
        stop_reason: the provider's stop reason, normalized where possible.
        usage: tokens the backend *reported*; None when it reports nothing.
        model: the model that answered.
        record_id: the CallRecord of the call that produced it (set by the pipeline).
        output_ids: the reply's token ids when the backend knows them (``Local``); they
            let the cache model mirror an engine that caches generated tokens too. Not
            written to traces.
    """

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    thinking: str | None = None
    stop_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    record_id: str | None = None
    output_ids: list[int] | None = Field(default=None, exclude=True, repr=False)


@dataclass(slots=True)
class Session:
    """The append-only transcript of one conversation, owned by the pipeline.

    History reads it; compaction (a separate concern) is the only thing allowed to rewrite
    it, and declares when it does.
    """

    id: str
    transcript: list[Block] = field(default_factory=list)
    num_turns: int = 0
    pending_calls: dict[str, ToolCall] = field(default_factory=dict)
    rewrites: list[str] = field(default_factory=list)

    def rewrite(self, blocks: list[Block], reason: str) -> None:
        """Replace the transcript (compaction); the next call's drift is declared, not a bug."""
        open_uses = {b.call_id for b in blocks if b.kind == "tool_use"}
        results = {b.call_id for b in blocks if b.kind == "tool_result"}
        if results - open_uses:
            raise UserError(
                "rewrite would orphan tool results "
                f"{sorted(c for c in results - open_uses if c)}; keep each call with its result"
            )
        self.transcript = list(blocks)
        self.rewrites.append(reason)


@dataclass(slots=True, frozen=True)
class Turn:
    """What one call of the pipeline is about.

    Attributes:
        index: the turn number in the session (a tool loop stays in one turn).
        step: the model call within this turn's tool loop (0 first).
        message: the user's text for this turn, if any.
        session: the session transcript the History layer renders.
        dry_run: True in ``pipe.assemble()``: a layer builds exactly what it would send,
            but writes nothing and calls no model. The built-ins honour it: State renders
            without committing a version, Memory/Recall read (audited as a dry-run read)
            but do not write through or remember the session as opened, compaction
            summarizes extractively and writes no episodes, Retrieval skips an LLM query
            rewriter or reranker.
    """

    index: int
    step: int
    message: str | None
    session: Session
    dry_run: bool = False
