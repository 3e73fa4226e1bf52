"""One proxied call as a CallRecord: the prediction, the reported usage, drift, cost, and
the redaction of everything textual before it is kept.

Owns ``Pending`` (what is known when the request arrives) and ``make_record`` (what is
known when the reply has ended). Tokens are counted per block with the model profile's
tokenizer over the audit's block serialization; the prediction replays the session's
cache model (``ctxkit._cache``) under the request's own breakpoints (Anthropic
``cache_control``) or the provider's automatic rules. Text that reaches a record (drift
excerpts, the reply, upstream error messages) goes through the memory store's redactor
(``ctxkit.memory.redact``). Keys never reach this module: the forwarder keeps headers.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from .._assembly import cache_step, usage_disagreement
from .._block import Block
from .._cache import PartialHit, Prediction, place_breakpoints
from .._draft import Breakpoint
from .._drift import DriftEvent
from .._record import CallRecord, LayerTokens, cost_usd
from .._types import Response, ToolCall, Usage
from ..audit._prompt import RecordedCall, header
from ..memory import redact
from ..memory._redact import redact_value
from ._sessions import Session
from ._wire import Request, block_record


@dataclass(slots=True)
class Pending:
    """A call between its request and the end of its reply."""

    route: str
    started_at: float
    request: Request | None = None
    session: Session | None = None
    index: int = 0
    tokens: list[int] = field(default_factory=list)
    drift: DriftEvent | None = None
    chain: list[str] = field(default_factory=list)
    problem: str | None = None  # why the request could not be read
    changed: str | None = None  # what --place-breakpoints changed
    partial: PartialHit | None = None  # the cached start of the first changed block


def segment_tokens(call: RecordedCall, count: Any) -> list[int]:
    """Tokens of each block: its header line and content, as the audit counts them."""
    return [int(count(header(b) + b.content + "\n")) for b in call.blocks]


def extend_chain(prev: list[Block], prev_chain: list[str], blocks: list[Block]) -> list[str]:
    """The fingerprint chain of ``blocks`` (entry i identifies blocks[0..i]), reusing the
    previous call's entries for the blocks the two calls share at the start."""
    n, m = 0, min(len(prev), len(blocks), len(prev_chain))
    while n < m and prev[n].hash == blocks[n].hash:
        n += 1
    out = prev_chain[:n]
    last = out[-1] if out else ""
    for b in blocks[n:]:
        last = hashlib.sha256((last + b.hash).encode()).hexdigest()[:20]
        out.append(last)
    return out


def predict(p: Pending, now: float, ok: bool) -> tuple[Prediction, list[Breakpoint]]:
    """Replay the session's cache model for this call; commit what it cached if ``ok``."""
    assert p.session is not None and p.request is not None
    s = p.session
    cumulative = list(itertools.accumulate(p.tokens))
    blocks = p.request.call.blocks
    bps = place_breakpoints(blocks, cumulative, s.profile.cache)
    chain = p.chain
    pred = s.cache.predict(chain, cumulative, bps, now, p.partial)
    if ok and chain:
        s.cache.commit(chain, cumulative, bps, pred.read, now)
    return pred, bps


def clean(text: str | None) -> str | None:
    """``text`` with secrets and personal data replaced by ``[REDACTED:<kind>]``."""
    return None if text is None else redact(text).text


def _clean_response(r: Response | None) -> Response | None:
    if r is None:
        return None
    calls = []
    for c in r.tool_calls:
        # string by string: in the arguments' JSON text a quoted secret would read
        # DB_PASSWORD=\"...\", which the redactor (reading text as written) misses
        safe = redact_value(c.arguments)
        calls.append(c if safe == c.arguments else ToolCall(id=c.id, name=c.name,
                                                             arguments=safe))
    return r.model_copy(update={"text": clean(r.text) or "", "thinking": clean(r.thinking),
                                "tool_calls": calls})


def by_layer(blocks: list[Any], tokens: list[int], usage: Usage) -> dict[str, LayerTokens]:
    """Each layer's tokens split into read / write / uncached by position in the prompt."""
    read_end = usage.cache_read_tokens
    write_end = read_end + usage.cache_write_tokens
    read: dict[str, int] = {}
    write: dict[str, int] = {}
    unc: dict[str, int] = {}
    start = 0
    for b, n in zip(blocks, tokens, strict=True):
        end = start + n
        layer = b.layer
        if end <= read_end:  # the common cases first: wholly read, wholly uncached
            read[layer] = read.get(layer, 0) + n
        elif start >= write_end:
            unc[layer] = unc.get(layer, 0) + n
        else:
            r = max(0, min(end, read_end) - start)
            w = max(0, min(end, write_end) - max(start, read_end))
            read[layer] = read.get(layer, 0) + r
            write[layer] = write.get(layer, 0) + w
            unc[layer] = unc.get(layer, 0) + n - r - w
        start = end
    layers = dict.fromkeys(b.layer for b in blocks)
    return {k: LayerTokens(read=read.get(k, 0), write=write.get(k, 0), uncached=unc.get(k, 0))
            for k in layers}


def make_record(p: Pending, *, status: int, response: Response | None, error: str | None,
                latency_s: float, first_byte_s: float | None, now: float,
                extras: dict[str, Any]) -> CallRecord:
    """The CallRecord of a finished call (redacted, ready for the trace)."""
    ok = error is None and 200 <= status < 300
    rep = response.usage if response is not None else None
    common: dict[str, Any] = dict(
        call_id=uuid.uuid4().hex[:16], started_at=p.started_at, latency_s=latency_s,
        backend=f"proxy:{p.route}", ok=ok, error=clean(error), response=_clean_response(
            response), extras={**extras, "status": status, "first_byte_s": first_byte_s,
                               "changed": p.changed})
    if p.request is None or p.session is None:
        return CallRecord(session_id="unparsed", index=0, turn=0, step=0, model="unknown",
                          tokenizer="none", tokens_exact=False, predicted=Usage(),
                          reported=rep, **{**common, "error": clean(error or p.problem)})
    s, req = p.session, p.request
    pred, bps = predict(p, now, ok)
    out_tokens = rep.output_tokens if rep is not None else 0
    predicted = Usage(input_tokens=pred.total, output_tokens=out_tokens,
                      cache_read_tokens=pred.read, cache_write_tokens=pred.write,
                      cache_write_1h_tokens=pred.write_1h)
    usage = rep or predicted
    blocks = req.call.blocks
    drift = []
    if p.drift is not None:
        drift = [p.drift.model_copy(update={"diff": clean(p.drift.diff) or "",
                                            "detail": clean(p.drift.detail) or ""})]
    prices = s.profile.prices
    return CallRecord(
        session_id=s.id, index=p.index, turn=p.index, step=0, model=req.model,
        tokenizer=s.profile.tokenizer, tokens_exact=s.profile.tokenizer != "estimate",
        blocks=req.block_records or [block_record(b, n) for b, n in zip(blocks, p.tokens,
                                                                         strict=True)],
        breakpoints=[(bp.index, bp.ttl) for bp in bps], predicted=predicted, reported=rep,
        disagreement=(usage_disagreement(predicted, rep, exact=False,
                                         step=cache_step(s.profile.cache))
                      if ok and rep is not None else None),
        by_layer=by_layer(blocks, p.tokens, usage) if ok else {},
        cost_usd=cost_usd(usage, prices) if ok else 0.0,
        cost_uncached_usd=cost_usd(Usage(input_tokens=usage.input_tokens,
                                         output_tokens=usage.output_tokens), prices)
        if ok else 0.0,
        prices_as_of=prices.as_of, drift=drift,
        prompt_hash=p.chain[-1] if p.chain else "", **common)


