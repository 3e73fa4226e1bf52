"""CallRecord and traces: what every model call leaves behind.

Owns the record's schema, cost arithmetic and the JSONL trace file (append, load). Reports
and Replay are built from records. Knows nothing of how the numbers were produced.
"""

from __future__ import annotations

import functools
import json
import math
import os
import stat
import threading
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

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

    read: int = Field(default=0, ge=0)
    write: int = Field(default=0, ge=0)
    uncached: int = Field(default=0, ge=0)

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


MAX_TRACE_BYTES = 2 * 1024**3  # what load_trace reads unless told otherwise


class TraceWarning(UserWarning):
    """A trace was read with something skipped (a last line cut off by a crash)."""


@functools.cache
def _summary_model() -> type[BaseModel]:
    """CallRecord without its per-block lists: what reports read (6x faster to parse)."""
    fields: dict[str, Any] = {k: (f.annotation, f) for k, f in CallRecord.model_fields.items()
                              if k not in ("blocks", "dropped")}
    return create_model("CallSummary", __config__=ConfigDict(extra="ignore"), **fields)


def load_trace(path: str | os.PathLike[str], *, max_bytes: int = MAX_TRACE_BYTES,
               with_blocks: bool = True) -> list[CallRecord]:
    """Read a trace back.

    Only a regular file is read (a FIFO, a device or a symlink to one is refused before it
    can hang or flood memory), of at most ``max_bytes``. A bad line raises StoreError
    naming the file and line, and so does a record written by a newer ctxkit (its
    ``schema_version`` is named) or JSON nested too deep to be a record. A last line that
    is cut off (no newline, not JSON: the writer crashed mid-line) is skipped with a
    ``TraceWarning``: every complete record before it is kept.

    ``with_blocks=False`` leaves each record's ``blocks`` and ``dropped`` lists empty (the
    rest is validated as usual); reports need none of it, and a long trace loads several
    times faster.
    """
    p = Path(path)
    if not p.exists():
        raise StoreError(f"no trace at {p}; pass the path a pipeline wrote with trace=...")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat decides on what opened
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise StoreError(f"cannot open trace {p} ({exc.strerror})") from exc
    fh = os.fdopen(fd, "rb")
    with fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"{p} is not a regular file; pass the JSONL file a pipeline "
                             "wrote with trace=...")
        if st.st_size > max_bytes:
            raise StoreError(f"{p} is {st.st_size:,} bytes, over the {max_bytes:,} this read "
                             "allows; pass load_trace(..., max_bytes=...) or split the trace")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise StoreError(f"{p} grew past {max_bytes:,} bytes while being read")
    # decoded line by line: a bad byte is one bad line; a Windows editor's byte order mark
    # before the first record is no part of it
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    cut = lines[-1]  # after the last newline: "" when the file ends with one
    records: list[CallRecord] = []
    model: type[BaseModel] = CallRecord if with_blocks else _summary_model()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:  # fast path: pydantic parses and validates the JSON in one pass
            fast = model.model_validate_json(line)
        except (ValueError, ValidationError, RecursionError):
            pass  # the careful path below names what is wrong
        else:
            if fast.schema_version <= SCHEMA_VERSION:  # type: ignore[attr-defined]
                _check_finite(p, n, fast)
                records.append(fast if isinstance(fast, CallRecord) else
                               CallRecord.model_construct(
                                   **{**fast.__dict__, "blocks": [], "dropped": []}))
                continue
        try:
            raw = json.loads(line.decode("utf-8"))
        except RecursionError as exc:
            raise StoreError(f"{p}:{n} nests JSON deeper than a CallRecord can; this is not "
                             "a ctxkit trace line") from exc
        except ValueError as exc:
            if n == len(lines) and line is cut and line.lstrip().startswith(b"{"):
                warnings.warn(TraceWarning(
                    f"{p}:{n}: skipped a last line cut off mid-record ({len(line):,} bytes, "
                    "no newline; the writer likely stopped while writing it)"), stacklevel=2)
                continue
            if isinstance(exc, UnicodeDecodeError):
                raise StoreError(f"{p}:{n} is not UTF-8 text ({exc.reason}); is it a ctxkit "
                                 "trace?") from exc
            raise _not_a_record(p, n, exc) from exc
        version = raw.get("schema_version") if isinstance(raw, dict) else None
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise StoreError(f"{p}:{n} was written by a newer ctxkit (trace schema_version "
                             f"{version}; this ctxkit reads up to {SCHEMA_VERSION}); upgrade "
                             "ctxkit to read it: pip install -U ctxkit")
        try:
            rec = CallRecord.model_validate(raw)
        except RecursionError as exc:
            raise StoreError(f"{p}:{n} nests JSON deeper than a CallRecord can; this is not "
                             "a ctxkit trace line") from exc
        except ValidationError as exc:
            raise _not_a_record(p, n, exc) from exc
        if rec.schema_version > SCHEMA_VERSION:  # spelled "2" or 2.0, which the check missed
            raise StoreError(f"{p}:{n} was written by a newer ctxkit (trace schema_version "
                             f"{rec.schema_version}; this ctxkit reads up to {SCHEMA_VERSION}); "
                             "upgrade ctxkit to read it: pip install -U ctxkit")
        _check_finite(p, n, rec)
        records.append(rec if with_blocks else rec.model_copy(update={"blocks": [],
                                                                      "dropped": []}))
    return records


_FLOATS = ("started_at", "latency_s", "cost_usd", "cost_uncached_usd")


def _check_finite(p: Path, n: int, rec: Any) -> None:
    """A record's figures are finite: NaN or Infinity (which JSON parsers here accept) would
    reach the report's JSON, which no JSON reader accepts, and stop the HTML page's charts."""
    for name in _FLOATS:
        value = getattr(rec, name)
        if not math.isfinite(value):
            raise StoreError(f"{p}:{n} has {name}={value}, which is not a finite number; a "
                             "ctxkit trace holds none (was the line edited?): fix or remove "
                             "the line")


def _not_a_record(p: Path, n: int, exc: Exception) -> StoreError:
    what = str(exc).splitlines()[0]
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]  # the field and what is wrong with it, not just a count
        where = ".".join(str(part) for part in first["loc"]) or "the record"
        what = f"{where}: {first['msg']}"
        if exc.error_count() > 1:
            what += f"; and {exc.error_count() - 1} more"
    return StoreError(
        f"{p}:{n} is not a ctxkit CallRecord ({what}); is this a trace "
        "written by ContextPipeline(trace=...)? For other agents' logs use `ctxkit audit`")
