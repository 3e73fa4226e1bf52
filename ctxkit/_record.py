"""CallRecord and traces: what every model call leaves behind.

Owns the record's schema, cost arithmetic and the JSONL trace file (append, load). Reports
and Replay are built from records. Knows nothing of how the numbers were produced.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ._drift import DriftEvent
from ._errors import StoreError
from ._profile import Prices
from ._types import Response, Usage

SCHEMA_VERSION = 1


class BlockRecord(BaseModel):
    """A block as the record keeps it: identity and size, not content."""

    layer: str
    key: str
    role: str
    kind: str
    hash: str
    tokens: int
    cache: str | None = None
    must_keep: bool = True
    score: float | None = None
    trust: str = "trusted"


class LayerTokens(BaseModel):
    """Tokens of one layer in one call, by how the cache treated them."""

    read: int = 0
    write: int = 0
    uncached: int = 0

    @property
    def total(self) -> int:
        return self.read + self.write + self.uncached


class LayoutNote(BaseModel):
    """Tokens kept out of the cache because a changed layer sits before unchanged ones."""

    changed_layer: str
    unchanged_after: list[str]
    tokens_missed: int
    advice: str


class CallRecord(BaseModel):
    """Everything ctxkit knows about one model call.

    ``predicted`` is ctxkit's cache model; ``reported`` is what the backend said (None if
    it reports nothing). ``by_layer`` uses the reported split when there is one.
    """

    schema_version: int = SCHEMA_VERSION
    call_id: str
    session_id: str
    index: int
    turn: int
    step: int
    started_at: float
    latency_s: float = 0.0
    backend: str
    model: str
    ok: bool = True
    error: str | None = None
    tokenizer: str
    tokens_exact: bool
    blocks: list[BlockRecord] = Field(default_factory=list)
    dropped: list[BlockRecord] = Field(default_factory=list)
    breakpoints: list[tuple[int, str]] = Field(default_factory=list)
    framing_tokens: int = 0
    predicted: Usage
    reported: Usage | None = None
    disagreement: str | None = None
    by_layer: dict[str, LayerTokens] = Field(default_factory=dict)
    cost_usd: float = 0.0
    cost_uncached_usd: float = 0.0
    prices_as_of: str = "unknown"
    drift: list[DriftEvent] = Field(default_factory=list)
    layout: LayoutNote | None = None
    prompt_hash: str = ""
    response: Response | None = None
    extras: dict[str, Any] = Field(default_factory=dict)

    @property
    def usage(self) -> Usage:
        """The best-known usage: reported when the backend reports, else predicted."""
        return self.reported or self.predicted

    @property
    def hit_rate(self) -> float:
        u = self.usage
        return u.cache_read_tokens / u.input_tokens if u.input_tokens else 0.0


def cost_usd(usage: Usage, prices: Prices) -> float:
    """Dollars for ``usage`` at ``prices`` (USD per million tokens)."""
    return (
        usage.uncached_tokens * prices.input
        + usage.cache_write_5m_tokens * prices.cache_write_5m
        + usage.cache_write_1h_tokens * prices.cache_write_1h
        + usage.cache_read_tokens * prices.cache_read
        + usage.output_tokens * prices.output
    ) / 1_000_000


class Trace:
    """An append-only JSONL file of CallRecords, one line per call, flushed per line."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, record: CallRecord) -> None:
        line = record.model_dump_json() + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()


def load_trace(path: str | os.PathLike[str]) -> list[CallRecord]:
    """Read a trace back; a bad line raises StoreError naming the file and line."""
    p = Path(path)
    if not p.exists():
        raise StoreError(f"no trace at {p}; pass the path a pipeline wrote with trace=...")
    records: list[CallRecord] = []
    with open(p, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                records.append(CallRecord.model_validate(json.loads(line)))
            except (ValueError, ValidationError) as exc:
                raise StoreError(
                    f"{p}:{n} is not a ctxkit CallRecord ({str(exc).splitlines()[0]}); "
                    "is this a trace written by ContextPipeline(trace=...)? For other "
                    "agents' logs use `ctxkit audit`"
                ) from exc
    return records
