"""A survey-channel preference set under one of a merged customer's refs is the customer's: asked
by the other ref (the next survey's channel, ``GET /customers/{ref}/survey-channel``) it is found,
the ref's own preference first; after a reversal each ref has its own again. Real PostgreSQL with
feedback's migrations, merges through the consumer's handlers (``follow_merges``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from services.feedback.preferences import preferred_channel
from services.feedback.service import SERVICE
from shared.contracts.customers import CustomerMergeReversed, CustomersMerged, MergeBasis
from shared.contracts.refs import synthetic_ref
from shared.customer_aliases import follow_merges
from shared.migrations import apply_migrations
from shared.projection import EventHandlers
from shared.registry import EventData
from tests.support.events import make_envelope

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
A, B, C = (synthetic_ref(f"pref-{x}") for x in "abc")


async def test_a_preference_follows_the_merge_and_its_reversal(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn, "feedback", SERVICE.migrations)
        await conn.execute("SET search_path TO feedback")
        consumer = follow_merges(EventHandlers("survey_rules", []))

        async def arrives(event: EventData) -> None:
            await consumer.apply(
                conn,
                [make_envelope("customer-x", 1, type=event.event_type, data=event.model_dump(mode="json"))],
            )

        await conn.execute(
            """INSERT INTO customer_preferences (customer_ref, channel, updated_at, updated_by)
               VALUES ($1, 'phone', $2, 'lm-1'), ($3, 'sms', $4, 'lm-1')""",
            A, T0, C, T0 + timedelta(hours=1),
        )  # fmt: skip
        assert await preferred_channel(conn, B) is None
        await arrives(CustomersMerged(survivor_ref=B, merged_ref=A, basis=MergeBasis.same_phone, at=T0))
        assert await preferred_channel(conn, B) == ("phone", T0)
        # B merged into C as well: C's own preference wins for C, the latest one for A and B
        await arrives(CustomersMerged(survivor_ref=C, merged_ref=B, basis=MergeBasis.same_phone, at=T0))
        assert (await preferred_channel(conn, C) or ("",))[0] == "sms"
        assert (await preferred_channel(conn, B) or ("",))[0] == "sms"
        assert (await preferred_channel(conn, A) or ("",))[0] == "phone"  # its own first
        await arrives(CustomerMergeReversed(survivor_ref=C, merged_ref=B, at=T0 + timedelta(minutes=1)))
        await arrives(CustomerMergeReversed(survivor_ref=B, merged_ref=A, at=T0 + timedelta(minutes=1)))
        assert await preferred_channel(conn, B) is None
    finally:
        await conn.close()
