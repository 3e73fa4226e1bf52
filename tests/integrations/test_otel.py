"""CallRecords as OpenTelemetry spans: GenAI semantic-convention attributes, drift as span
events, failures as ERROR status; read back through the SDK's in-memory exporter."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="pip install 'ctxkit[otel]'")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from ctxkit import ContextPipeline, Usage  # noqa: E402
from ctxkit.integrations import otel  # noqa: E402
from ctxkit.layers import History, Prefix  # noqa: E402
from ctxkit.testing import ScriptedBackend  # noqa: E402
from tests.helpers import LONG_SYSTEM  # noqa: E402

pytestmark = pytest.mark.moves_prefix("the second call changes the date in the system prompt")


def spans_of(records: list[Any]) -> list[Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert otel.export_records(records, tracer_provider=provider) == len(records)
    return list(exporter.get_finished_spans())


def test_records_become_genai_spans_with_drift_events() -> None:
    pipe = ContextPipeline(ScriptedBackend(["one", "two"], model="claude-sonnet-4-5"),
                           [Prefix(system=LONG_SYSTEM + "Today is 2026-12-03."), History()])
    pipe.run("first")
    pipe.layers[0] = Prefix(system=LONG_SYSTEM + "Today is 2026-12-04.")
    pipe.run("second")
    first, second = spans_of(pipe.records)
    rec = pipe.records[1]
    assert second.name == "chat claude-sonnet-4-5" and second.kind == SpanKind.CLIENT
    a = second.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.conversation.id"] == rec.session_id
    assert a["gen_ai.usage.input_tokens"] == rec.usage.input_tokens > 0
    assert a["gen_ai.usage.output_tokens"] == rec.usage.output_tokens
    assert a["gen_ai.usage.cache_read.input_tokens"] == rec.usage.cache_read_tokens
    assert a["gen_ai.usage.cache_creation.input_tokens"] == rec.usage.cache_write_tokens > 0
    assert a["ctxkit.cost_usd"] == pytest.approx(rec.cost_usd) and rec.cost_usd > 0
    assert second.start_time == int(rec.started_at * 1e9)
    assert second.end_time - second.start_time == int(rec.latency_s * 1e9)
    assert first.events == ()
    (ev,) = second.events
    assert ev.name == "ctxkit.cache_miss"
    assert ev.attributes["ctxkit.drift.cause"] == "timestamp or date-like text"
    assert ev.attributes["ctxkit.drift.key"] == "system"
    assert ev.attributes["ctxkit.drift.tokens_invalidated"] == rec.drift[0].tokens_invalidated
    assert second.status.status_code == StatusCode.UNSET


def test_failed_call_is_an_error_span() -> None:
    pipe = ContextPipeline(ScriptedBackend(["ok"], model="gpt-4o"), [History()])
    pipe.run("hi")
    bad = pipe.records[0].model_copy(update={"ok": False, "error": "upstream answered 429",
                                             "extras": {"status": 429},
                                             "reported": Usage(input_tokens=3)})
    (span,) = spans_of([bad])
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "upstream answered 429"
    assert span.attributes["error.type"] == "429"
    assert span.attributes["gen_ai.provider.name"] == "openai"


def test_attribute_names_are_the_conventions() -> None:
    semconv = pytest.importorskip(
        "opentelemetry.semconv._incubating.attributes.gen_ai_attributes",
        reason="opentelemetry-semantic-conventions is not installed")
    assert otel.CACHE_READ == semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
    assert otel.CACHE_CREATION == semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
    assert otel.INPUT_TOKENS == semconv.GEN_AI_USAGE_INPUT_TOKENS
    assert otel.OUTPUT_TOKENS == semconv.GEN_AI_USAGE_OUTPUT_TOKENS
    assert otel.OPERATION == semconv.GEN_AI_OPERATION_NAME
    assert otel.PROVIDER == semconv.GEN_AI_PROVIDER_NAME
    assert otel.CONVERSATION == semconv.GEN_AI_CONVERSATION_ID
    assert otel.FIRST_CHUNK == semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
