"""HQ's consumer: the shared batch consumer over the branch side's contract topic, in its
generation-switching mode (:mod:`shared.batch_consumer`, :mod:`shared.generations`).

The loop — one consumer group per read-model generation, offsets committed only after the batch's
transaction, starting over under the new group when a rebuild (here, by the CLI or by another
replica) bumps the generation, "rebuilding" until the end offsets seen at the start are reached —
is shared. What is HQ's own: the registry that validates contract events without copying them, and
what happens after a batch (metrics, waking the relay for published alerts).
"""

from __future__ import annotations

from services.hq import metrics
from services.hq.config import HqConfig
from services.hq.projections import BranchKpis
from services.hq.rebuild import generations
from shared.batch_consumer import BatchConsumer, Hooks, Records
from shared.envelope import Envelope
from shared.registry import REGISTRY, EventRegistry
from shared.runner import ServiceContext


class ValidatingRegistry(EventRegistry):
    """The event registry as HQ's runner uses it: an event at its model's current version is
    validated exactly as the general path does, without the re-serialisation and comparison (and
    copy) the general path adds; older versions take the general path, which upcasts them.

    Contract events leave their defaults out (smaller records), so the general path would always
    find its re-serialisation different and copy the envelope: a third of a rebuild's time."""

    def __init__(self, inner: EventRegistry = REGISTRY) -> None:
        super().__init__()
        self.inner = inner
        for model in inner.models().values():
            self.register(model)

    def upcast(self, envelope: Envelope, *, stored: bool = False) -> Envelope:
        model = self.model_for(envelope.type)
        if envelope.schema_version != model.schema_version:
            return self.inner.upcast(envelope, stored=stored)
        model.model_validate(envelope.data)
        return envelope


class HqHooks(Hooks):
    """Metrics per batch and generation; the relay woken when a batch published alerts."""

    def __init__(self, ctx: ServiceContext, projection: BranchKpis) -> None:
        self.ctx = ctx
        self.projection = projection

    def after_batch(self, records: Records, *, polled_at: float, seconds: float, rebuilding: bool) -> None:
        metrics.BATCH_SECONDS.observe(seconds)
        metrics.BATCH_RECORDS.observe(len(records))
        now = self.ctx.clock.now()
        if not rebuilding:
            for recorded in self.projection.applied_recorded_at:
                metrics.FRESHNESS.observe(max((now - recorded).total_seconds(), 0.0))
        self.projection.applied_recorded_at.clear()
        if self.projection.published:
            self.projection.published = 0
            self.ctx.store.notifier.poke()  # the alerts are committed: wake the relay

    def on_generation(self, generation: int, *, rebuilding: bool) -> None:
        metrics.GENERATION.set(generation)
        metrics.REBUILDING.set(1 if rebuilding else 0)


class HqConsumer(BatchConsumer):
    def __init__(self, ctx: ServiceContext, projection: BranchKpis, config: HqConfig) -> None:
        super().__init__(
            ctx,
            projection,
            max_batch=config.max_batch,
            registry=ValidatingRegistry(ctx.registry),
            generations=generations(config.generation_poll_seconds),
            hooks=HqHooks(ctx, projection),
            consumer_options={"max_partition_fetch_bytes": 8 * 1024 * 1024},
            create_missing_topics=True,  # a branch topic lost with its broker: HQ reads the others
            announced=True,  # the HQ feed's relay announces every batch (services/hqfeed/service.py)
        )
        self.config = config
