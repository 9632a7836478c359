"""Tracing is off (no spans, nothing stored, no headers) unless configured; on, log lines carry the
trace id and a published event's header continues the trace stored with it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import tracing
from shared.logs import ContextFilter, json_formatter
from tests.support.events import make_envelope


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing.sampler())
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.setup("unit", provider=provider)
    try:
        yield spans
    finally:
        tracing.shutdown()


def test_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracing.ENDPOINT_ENV, raising=False)
    assert tracing.setup("unit") is False
    assert not tracing.enabled()
    assert tracing.current_traceparent() is None
    assert tracing.producer_headers("t", "00-" + "1" * 32 + "-" + "2" * 16 + "-01", "X") == {}


def test_a_published_event_continues_its_stored_trace_and_consumers_join_it(
    exporter: InMemorySpanExporter,
) -> None:
    stored = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    headers = tracing.producer_headers("complaint.events.v1", stored, "ComplaintReceived")
    _, trace_id, span_id, _ = headers["traceparent"].split("-")
    assert trace_id == "ab" * 16 and span_id != "cd" * 8  # a PRODUCER span, child of the stored one

    env = make_envelope("s1", 1)
    header = [("traceparent", headers["traceparent"].encode())]
    now_ms = int(time.time() * 1000)
    record = SimpleNamespace(
        topic="complaint.events.v1", partition=0, offset=7, timestamp=now_ms, headers=header
    )
    replayed = SimpleNamespace(
        topic="complaint.events.v1", partition=0, offset=1, timestamp=now_ms - 2 * 3600_000, headers=header
    )
    with tracing.consuming("hq.rebuild", [(replayed, make_envelope("s0", 1))]):
        pass
    assert {s.kind for s in exporter.get_finished_spans()} == {SpanKind.PRODUCER}, (
        "a replay joins no old trace"
    )
    with tracing.consuming("followup.task_rules", [(record, env)]), tracing.handling(env):
        inside = tracing.current_traceparent()
        log_record = logging.LogRecord("x", logging.INFO, __file__, 1, "reacting", None, None)
        ContextFilter("followup").filter(log_record)
        line = json.loads(json_formatter().format(log_record))
    assert inside is not None and inside.split("-")[1] == trace_id
    assert line["trace_id"] == trace_id
    kinds = {s.kind for s in exporter.get_finished_spans()}
    assert kinds == {SpanKind.PRODUCER, SpanKind.CONSUMER}


def test_background_sql_starts_no_trace(exporter: InMemorySpanExporter) -> None:
    tracer = TracerProvider(sampler=tracing.sampler()).get_tracer("t")
    assert not tracer.start_span("SELECT", kind=SpanKind.CLIENT).is_recording()
    assert tracer.start_span("POST /x", kind=SpanKind.SERVER).is_recording()


def test_a_sampling_ratio_keeps_or_drops_whole_traces_at_the_root() -> None:
    none = TracerProvider(sampler=tracing.sampler(0.0)).get_tracer("t")
    root = none.start_span("POST /x", kind=SpanKind.SERVER)
    assert not root.is_recording() and root.get_span_context().is_valid  # still propagated
