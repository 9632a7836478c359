"""OpenTelemetry tracing through the outbox: HTTP → append → Kafka → reaction → HQ, one trace.

Instrumenting HTTP and Kafka alone would not connect them: the outbox relay publishes from its own
task, long after the request's context is gone. So the context travels with the event:

1. HTTP requests get a SERVER span (the official FastAPI instrumentation); SQL gets CLIENT spans
   (the official asyncpg instrumentation).
2. ``EventStore.append`` stores :func:`current_traceparent` — the W3C ``traceparent`` of the
   command appending — in the event row (``events.traceparent``, nullable).
3. The relay's publisher starts a PRODUCER span as a child of that stored context and sends its
   ``traceparent`` as a Kafka header (:func:`producer_headers`).
4. The projection runner starts a CONSUMER span per record, child of the header's context, that
   lasts while its batch is applied (:func:`consuming`); a handler of an event runs inside its
   record's span (:func:`handling`), so the events a reaction appends store that trace again.
   Records published more than an hour before they are consumed (a rebuild, a replay) get none.

Zero overhead when off: without ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_SDK_DISABLED=true``)
nothing is installed, no span is created, nothing is stored in ``traceparent``. With it, spans go
by OTLP/HTTP (``…:4318``; the standard ``OTEL_EXPORTER_OTLP_*`` variables apply) in batches.
Sampling keeps traces started by an HTTP request or a consumed record — all of them, or the share
``OTEL_TRACES_SAMPLER_ARG`` (e.g. ``0.1``), decided once at the root so a trace is whole or absent
— and drops root spans of background SQL (the relay's polling would otherwise be thousands of
one-span traces a minute). JSON logs carry the
current ``trace_id`` (``shared.logs.set_trace_id_source``).

No PII in spans: SQL spans carry the statement text, never its parameters (the asyncpg
instrumentation's default); HTTP spans carry the route, path ids and status (no route takes PII
in its URL, and no headers are captured); messaging spans carry topic, offset, consumer group,
event type and stream id. The bodies of requests and events are never attributes.

Why no Kafka auto-instrumentation: the aiokafka instrumentation injects the *current* context at
send time, which in the relay is the relay's, not the command's; the spans here follow the
messaging semantic conventions by hand instead.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.envelope import Envelope
from shared.logs import set_trace_id_source
from shared.settings import TracingSettings

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
#: a record published longer ago than this is a replay or a rebuild (HQ reads millions of old
#: events again): it gets no span, or a rebuild would add a span to every trace of the past
REPLAY_AFTER_SECONDS = 3600
ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
SAMPLE_RATIO_ENV = "OTEL_TRACES_SAMPLER_ARG"
_W3C = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
#: event id → the CONSUMER span of the record that brought it (set while a batch is applied)
_record_spans: contextvars.ContextVar[dict[UUID, Span] | None] = contextvars.ContextVar(
    "record_spans", default=None
)


class _RootsOfWork(Sampler):
    """Start a trace for an HTTP request or a consumed record (a ``ratio`` of them), never for
    background SQL."""

    def __init__(self, ratio: float = 1.0) -> None:
        self.ratio = TraceIdRatioBased(min(max(ratio, 0.0), 1.0))

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind not in (SpanKind.SERVER, SpanKind.CONSUMER):
            return SamplingResult(Decision.DROP, attributes)
        return self.ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"RootsOfWork({self.ratio.get_description()})"


def enabled() -> bool:
    return _tracer is not None


def setup(service: str, provider: TracerProvider | None = None) -> bool:
    """Install tracing for this process if configured (or with ``provider``, e.g. in tests)."""
    global _provider, _tracer
    if provider is None:
        env = TracingSettings()
        endpoint = env.otel_exporter_otlp_endpoint.strip()
        if not endpoint or env.otel_sdk_disabled.lower() == "true":
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": service, "service.namespace": "branchcare"})
        provider = TracerProvider(resource=resource, sampler=sampler(_ratio_from_env()))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        log.info("tracing: OTLP export to %s", endpoint)
    _provider, _tracer = provider, provider.get_tracer("branchcare")
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    instrumentor = AsyncPGInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    set_trace_id_source(current_trace_id)
    return True


def shutdown() -> None:
    """Flush and switch tracing off again (process exit; tests that turned it on)."""
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        instrumentor = AsyncPGInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    _provider = _tracer = None
    set_trace_id_source(lambda: "")


def sampler(ratio: float = 1.0) -> Sampler:
    """The sampling rule of :func:`setup` (a trace is kept or dropped whole, at its root), for a
    provider built elsewhere (tests)."""
    return ParentBased(root=_RootsOfWork(ratio))


def _ratio_from_env() -> float:
    """``OTEL_TRACES_SAMPLER_ARG``: the share of traces kept (default 1: all)."""
    raw = TracingSettings().otel_traces_sampler_arg.strip()
    try:
        return float(raw) if raw else 1.0
    except ValueError:
        log.warning("%s=%r is not a number; keeping every trace", SAMPLE_RATIO_ENV, raw)
        return 1.0


def instrument_app(app: Any) -> None:
    """HTTP SERVER spans for a FastAPI app (nothing when tracing is off)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=_provider, excluded_urls="/health,/ready,/metrics,/asyncapi.json"
    )


def current_trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the running span, stored with the events a command appends."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(TRACEPARENT)


def producer_headers(topic: str, traceparent: str | None, event_type: str) -> dict[str, str]:
    """The ``traceparent`` header for one published event: a PRODUCER span in the event's trace."""
    if _tracer is None or not traceparent:
        return {}
    parent = _W3C.extract({TRACEPARENT: traceparent})
    span = _tracer.start_span(
        f"publish {topic}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "branchcare.event_type": event_type,
        },
    )
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    span.end()
    return {TRACEPARENT: carrier[TRACEPARENT]} if TRACEPARENT in carrier else {}


@contextmanager
def consuming(group: str, records: Iterable[tuple[Any, Envelope | None]]) -> Iterator[None]:
    """A CONSUMER span per record that carries a ``traceparent``, open while the batch applies."""
    if _tracer is None:
        yield
        return
    spans: dict[UUID, Span] = {}
    others: list[Span] = []
    oldest_ms = time.time() * 1000 - REPLAY_AFTER_SECONDS * 1000
    for record, envelope in records:
        header = _header(record, TRACEPARENT)
        if header is None or (record.timestamp or 0) < oldest_ms:  # a replay joins no old trace
            continue
        span = _tracer.start_span(
            f"process {record.topic}",
            context=_W3C.extract({TRACEPARENT: header}),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": group,
                "messaging.kafka.offset": record.offset,
                "messaging.destination.partition.id": str(record.partition),
                "branchcare.event_type": envelope.type if envelope else "",
                "branchcare.stream_id": envelope.stream_id if envelope else "",
            },
        )
        if envelope is not None:
            spans[envelope.event_id] = span
        else:
            others.append(span)
    token = _record_spans.set(spans)
    try:
        yield
    finally:
        _record_spans.reset(token)
        for span in (*spans.values(), *others):
            span.end()


@contextmanager
def handling(env: Envelope) -> Iterator[None]:
    """Run a handler of ``env`` inside its record's span (what it appends continues the trace)."""
    spans = _record_spans.get()
    span = spans.get(env.event_id) if spans else None
    if span is None:
        yield
        return
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        otel_context.detach(token)


def _header(record: Any, name: str) -> str | None:
    headers: Sequence[tuple[str, bytes]] = record.headers or ()
    for key, value in headers:
        if key == name and value:
            return bytes(value).decode("ascii", "replace")
    return None
