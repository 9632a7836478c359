"""One trace through the outbox: HTTP request → append → Kafka record → follow-up's reaction.

Real PostgreSQL and the real broker; the spans go to the OpenTelemetry SDK's in-memory exporter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import tracing
from shared.clock import FixedClock
from tests.integration.cli.support import run_json
from tests.integration.complaint.steps import T0
from tests.support.harness import Running, running
from tests.support.kafka import read_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def spans() -> AsyncIterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing.sampler())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert tracing.setup("test", provider=provider)
    try:
        yield exporter  # type: ignore[misc]
    finally:
        tracing.shutdown()


def _trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


async def test_a_complaint_is_one_trace_from_http_through_kafka_to_the_followup_reaction(
    database_url: str,
    kafka: Any,
    spans: InMemorySpanExporter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bootstrap = kafka.bootstrap_servers
    clock = FixedClock(T0)  # one clock for the four services

    def run(name: str) -> AbstractAsyncContextManager[Running]:
        return running(name, database_url, bootstrap, clock=clock)

    branch = "trace-b01"
    # HQ reads the branch side's contract (hqfeed)
    async with run("hq"), run("hqfeed"), run("followup") as followup, run("complaint") as complaint:
        body = {"channel": "phone_hotline", "customer_ref": "cust_ref_0042", "description": "card kept"}
        response = await complaint.post(f"/branches/{branch}/complaints", body)
        assert response.status_code == 201, response.text
        stream = f"complaint-{response.json()['complaint_id']}"

        server = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER and "POST" in s.name]
        assert len(server) == 1, [s.name for s in spans.get_finished_spans()]
        trace_id = _trace(server[0])
        assert any(s.kind == SpanKind.CLIENT and _trace(s) == trace_id for s in spans.get_finished_spans()), (
            "the append's SQL is a span of the request's trace"
        )

        def mine(records: list[Any]) -> list[Any]:
            return [r for r in records if stream.encode() in (r.value or b"")]

        records = await read_topic(bootstrap, "complaint.events.v1", until=lambda rs: bool(mine(rs)))
        headers = dict(mine(records)[0].headers)
        traceparent = headers["traceparent"].decode()
        version, header_trace, parent_span, flags = traceparent.split("-")
        assert (version, header_trace) == ("00", trace_id)
        assert int(flags, 16) & 1, "sampled"

        def consumed(service: str) -> list[ReadableSpan]:
            return [
                s
                for s in spans.get_finished_spans()
                if s.kind == SpanKind.CONSUMER
                and _trace(s) == trace_id
                and str((s.attributes or {}).get("messaging.consumer.group.name", "")).startswith(service)
            ]

        processed = await wait_until(lambda: consumed("followup.") or None, timeout=30, message="follow-up")
        await wait_until(lambda: consumed("hq") or None, timeout=30, message="HQ's update in the trace")
        producer = [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
        assert any(format(s.context.span_id, "016x") == parent_span for s in producer if s.context)
        assert processed[0].parent is not None and format(processed[0].parent.span_id, "016x") == parent_span

        async def reaction_traced() -> list[Any] | None:
            rows = await followup.fetch("SELECT type, traceparent FROM events WHERE branch_id = $1", branch)
            return rows or None

        rows = await wait_until(reaction_traced, timeout=30, message="follow-up's reaction")
        assert all(r["traceparent"] and r["traceparent"].split("-")[1] == trace_id for r in rows), rows

    # the operator finds the trace from the stream
    code, shown = await run_json(capsys, "stream", "show", stream, "--database-url", database_url)
    assert code == 0 and {e["trace_id"] for e in shown["services"]["complaint"]} == {trace_id}
