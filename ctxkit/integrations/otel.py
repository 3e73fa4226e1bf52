"""CallRecords as OpenTelemetry spans, following the GenAI semantic conventions.

Owns the mapping of one CallRecord to one span: ``{operation} {model}`` of kind CLIENT,
timed from the record (``started_at``, ``latency_s``), with the conventions' attributes
(``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.conversation.id``, ``gen_ai.usage.input_tokens`` / ``output_tokens`` /
``cache_read.input_tokens`` / ``cache_creation.input_tokens``,
``gen_ai.response.finish_reasons``) plus ctxkit's own under ``ctxkit.*`` (cost, predicted
cache split, hit rate, tokens by layer). Each drift event is a span event
``ctxkit.cache_miss`` naming the block, its layer, the cause and the tokens lost. A failed
call gets an ERROR status. Any OTel backend (Jaeger, Langfuse, Phoenix) shows them.

    from ctxkit.integrations.otel import export_records
    export_records(pipe.records)                       # the global tracer provider
    export_records(load_trace("run.jsonl"), tracer_provider=provider)

Needs ``pip install 'ctxkit[otel]'``. Knows nothing of how records were made.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._errors import require
from .._record import CallRecord

# attribute names of the OpenTelemetry GenAI semantic conventions (gen_ai_attributes)
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
CONVERSATION = "gen_ai.conversation.id"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
CACHE_MISS_EVENT = "ctxkit.cache_miss"
_PROVIDERS = (("anthropic", "anthropic"), ("claude", "anthropic"), ("openai", "openai"),
              ("gpt", "openai"), ("local", "ctxkit"), ("engine", "ctxkit"))


def provider_of(record: CallRecord) -> str:
    """The conventions' provider name (``anthropic``, ``openai``) from the record."""
    api = str(record.extras.get("api", ""))
    for hint in (api, record.backend.lower(), record.model.lower()):
        for needle, name in _PROVIDERS:
            if needle in hint:
                return name
    return record.backend


def attributes(record: CallRecord) -> dict[str, Any]:
    """The span attributes of one record."""
    u = record.usage
    attrs: dict[str, Any] = {
        OPERATION: "chat", PROVIDER: provider_of(record), REQUEST_MODEL: record.model,
        CONVERSATION: record.session_id, INPUT_TOKENS: u.input_tokens,
        OUTPUT_TOKENS: u.output_tokens, CACHE_READ: u.cache_read_tokens,
        CACHE_CREATION: u.cache_write_tokens,
        "ctxkit.call_id": record.call_id, "ctxkit.call.index": record.index,
        "ctxkit.turn": record.turn, "ctxkit.step": record.step,
        "ctxkit.backend": record.backend, "ctxkit.cost_usd": record.cost_usd,
        "ctxkit.cost_uncached_usd": record.cost_uncached_usd,
        "ctxkit.hit_rate": record.hit_rate, "ctxkit.usage_source":
            "reported" if record.reported is not None else "predicted",
        "ctxkit.predicted.input_tokens": record.predicted.input_tokens,
        "ctxkit.predicted.cache_read_tokens": record.predicted.cache_read_tokens,
        "ctxkit.predicted.cache_write_tokens": record.predicted.cache_write_tokens,
        "ctxkit.num_blocks": len(record.blocks), "ctxkit.prompt_hash": record.prompt_hash,
    }
    for layer, lt in record.by_layer.items():
        attrs[f"ctxkit.layer.{layer}.tokens"] = lt.total
        attrs[f"ctxkit.layer.{layer}.cache_read_tokens"] = lt.read
    r = record.response
    if r is not None:
        if r.model:
            attrs[RESPONSE_MODEL] = r.model
        if r.stop_reason:
            attrs[FINISH_REASONS] = [r.stop_reason]
    first = record.extras.get("first_byte_s")
    if isinstance(first, (int, float)):
        attrs[FIRST_CHUNK] = float(first)
    if record.disagreement:
        attrs["ctxkit.disagreement"] = record.disagreement
    return attrs


def record_span(tracer: Any, record: CallRecord) -> Any:
    """Emit one finished span for ``record`` on ``tracer``; returns the span."""
    trace: Any = require("opentelemetry.trace", "otel")
    start = int(record.started_at * 1e9)
    span = tracer.start_span(f"chat {record.model}", kind=trace.SpanKind.CLIENT,
                             start_time=start, attributes=attributes(record))
    for d in record.drift:
        span.add_event(CACHE_MISS_EVENT, timestamp=start, attributes={
            "ctxkit.drift.layer": d.layer, "ctxkit.drift.key": d.key,
            "ctxkit.drift.cause": d.cause, "ctxkit.drift.detail": d.detail,
            "ctxkit.drift.tokens_invalidated": d.tokens_invalidated,
            "ctxkit.drift.declared": d.declared})
    if not record.ok:
        span.set_status(trace.Status(trace.StatusCode.ERROR, record.error or "call failed"))
        span.set_attribute("error.type", _error_type(record))
    span.end(end_time=start + int(record.latency_s * 1e9))
    return span


def _error_type(record: CallRecord) -> str:
    status = record.extras.get("status")
    return str(status) if isinstance(status, int) and status else "_OTHER"


def export_records(records: Iterable[CallRecord], *, tracer_provider: Any = None) -> int:
    """Emit a span per record through ``tracer_provider`` (default: the global one);
    returns how many."""
    trace: Any = require("opentelemetry.trace", "otel")
    from .. import __version__

    tracer = trace.get_tracer("ctxkit", __version__, tracer_provider=tracer_provider)
    n = 0
    for record in records:
        record_span(tracer, record)
        n += 1
    return n
