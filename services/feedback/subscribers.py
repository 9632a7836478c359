"""Choreography: a survey after every served visit and every closed complaint.

Handlers run inside the projection runner's transaction and append the survey's events there
(:meth:`FeedbackApp.request_in`): the request and the consumer's progress commit together. A
whole batch's handlers share one reaction batch (``shared.reactions``): the survey requests and
``complaint_customers`` rows are queued and written together; a read of what the batch may have
queued flushes first. What the handlers read is read for the whole batch before them
(``prepare``): the channel preferences of every customer surveyed (not written by any reaction;
a batch with a merge reads them one by one, as the merge changes whose preference counts) and
the complainants of the complaints it closes (stored, or received earlier in the batch). The
survey id is derived from the subject, so a redelivered event — or a complaint closed a second
time after a reopen — requests nothing new: one survey per visit or case, never two.

Decisions where the issue is silent (see README): a visit without a ``customer_ref`` cannot be
surveyed (counted in ``branchcare_feedback_surveys_skipped_total{reason="anonymous"}``); a visit
whose need was ``complaint`` is not surveyed as a visit — the case's own survey asks when it closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic_core import to_json

from services.feedback import metrics
from services.feedback.app import FeedbackApp
from shared import reactions
from shared.actors import staff_actor
from shared.contracts.complaint import ComplaintClosed, ComplaintReceived
from shared.contracts.customers import CustomerMergeReversed, CustomersMerged
from shared.contracts.reception import CustomerErased, ServiceType, VisitServed
from shared.customer_aliases import follow_merges, same_customer_sql
from shared.envelope import Envelope, Metadata
from shared.projection import EventHandlers
from shared.topology import events_topic

ACTOR = "system:survey-rules"
_MERGES = frozenset(e.event_type for e in (CustomersMerged, CustomerMergeReversed))
#: ``preferences.preferred_channel`` for many customers at once
_PREFERENCES = f"""
SELECT r.ref, p.channel, p.updated_at FROM unnest($1::text[]) AS r(ref)
LEFT JOIN LATERAL (
    SELECT channel, updated_at FROM customer_preferences WHERE customer_ref IN {same_customer_sql("r.ref")}
    ORDER BY customer_ref = r.ref DESC, updated_at DESC LIMIT 1
) p ON true"""


#: the complainants of the complaints a batch receives, from one JSON array (``reactions.json_rows``):
#: with the batch's last statement (``reactions.write_alongside``: only a receipt writes the row,
#: once per complaint; a read of it flushes first), not an ``executemany`` of one execution each
_COMPLAINANT_ROWS = """INSERT INTO complaint_customers (complaint_id, branch_id, customer_ref)
SELECT r.complaint_id, r.branch_id, r.customer_ref
FROM json_to_recordset($1::json) AS r(complaint_id uuid, branch_id text, customer_ref text)
ON CONFLICT (complaint_id) DO NOTHING"""

_COMPLAINANTS = (
    "SELECT complaint_id, customer_ref FROM complaint_customers WHERE complaint_id = ANY($1::uuid[])"
)


@dataclass
class _Known:
    """What a batch's handlers read, read for the whole batch before them (``prepare``)."""

    #: channel preference (None: never chose) by customer ref, of every customer surveyed
    preferences: dict[str, tuple[str, datetime] | None] = field(default_factory=dict)
    #: the complaints the batch closes, and their complainants: stored, or received in the batch
    #: before (the handlers add those as they go, in order)
    closing: set[UUID] = field(default_factory=set)
    complainants: dict[UUID, str] = field(default_factory=dict)


def _received_and_closed(env: Envelope, closing: set[UUID]) -> bool:
    return env.type == ComplaintReceived.event_type and UUID(env.data["complaint_id"]) in closing


def _surveyed_visit(env: Envelope) -> bool:
    return env.type == VisitServed.event_type and env.data.get("customer_ref") is not None


def _meta(env: Envelope) -> Metadata:
    return Metadata(actor=ACTOR, correlation_id=env.correlation_id, causation_id=env.event_id)


def _staff(actor: str) -> str | None:
    """The member of staff who acted, or None for a system actor (``shared.actors``)."""
    return staff_actor(actor)


def survey_rules(app: FeedbackApp) -> EventHandlers:
    """A survey for every served visit (reception) and every closed complaint (complaint):
    one consumer group over both topics; an erased customer's comments are shredded."""
    # reception's merges keep the alias tables the survey-channel preference is found through
    proj = follow_merges(
        EventHandlers("survey_rules", [events_topic("reception"), events_topic("complaint")])
    )
    known = _Known()

    async def prepare(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        """What the batch's handlers will read, in one statement each: the complainants of the
        complaints it closes and every surveyed customer's channel preference."""
        known.preferences.clear()
        known.complainants.clear()
        known.closing = {UUID(e.data["complaint_id"]) for e in events if e.type == ComplaintClosed.event_type}
        if known.closing:
            rows = await conn.fetch(_COMPLAINANTS, list(known.closing))
            known.complainants.update({r["complaint_id"]: r["customer_ref"] for r in rows})
        if any(e.type in _MERGES for e in events):
            return  # a merge in the batch changes whose preference counts: each reads its own
        refs = {str(e.data["customer_ref"]) for e in events if _surveyed_visit(e)}
        refs.update(known.complainants.values())
        refs.update(str(e.data["customer_ref"]) for e in events if _received_and_closed(e, known.closing))
        if refs:
            rows = await conn.fetch(_PREFERENCES, sorted(refs))
            known.preferences.update(
                {r["ref"]: (r["channel"], r["updated_at"]) if r["channel"] else None for r in rows}
            )

    proj.prepare = prepare

    @proj.on(VisitServed)
    async def served(conn: asyncpg.Connection, env: Envelope, data: VisitServed) -> None:
        if data.customer_ref is None:
            metrics.SURVEYS_SKIPPED.labels("anonymous").inc()
            return
        if data.service_type is ServiceType.complaint:
            metrics.SURVEYS_SKIPPED.labels("complaint_visit").inc()
            return
        await app.request_in(
            conn,
            cause=env,
            subject=f"visit:{data.visit_id}",
            customer_ref=data.customer_ref,
            staff_id=data.staff_id,
            service_type=data.service_type.value,
            meta=_meta(env),
            known=known.preferences,
        )

    @proj.on(ComplaintReceived)
    async def received(conn: asyncpg.Connection, env: Envelope, data: ComplaintReceived) -> None:
        row = {
            "complaint_id": data.complaint_id,
            "branch_id": env.branch_id,
            "customer_ref": data.customer_ref,
        }
        await reactions.write_alongside(conn, _COMPLAINANT_ROWS, to_json([row]).decode())
        if data.complaint_id in known.closing:  # the row stored first stays (DO NOTHING)
            known.complainants.setdefault(data.complaint_id, data.customer_ref)

    @proj.on(ComplaintClosed)
    async def closed(conn: asyncpg.Connection, env: Envelope, data: ComplaintClosed) -> None:
        customer_ref = known.complainants.get(data.complaint_id)
        if data.complaint_id not in known.closing:  # not prepared: read it
            await reactions.flush(conn)  # the batch's earlier reactions are written (their complaints)
            customer_ref = await conn.fetchval(
                "SELECT customer_ref FROM complaint_customers WHERE complaint_id = $1", data.complaint_id
            )
        if customer_ref is None:  # the case was received before this service kept track
            metrics.SURVEYS_SKIPPED.labels("unknown_complainant").inc()
            return
        await app.request_in(
            conn,
            cause=env,
            subject=f"complaint:{data.complaint_id}",
            customer_ref=customer_ref,
            staff_id=_staff(env.actor),
            service_type=ServiceType.complaint.value,
            meta=_meta(env),
            known=known.preferences,
        )

    @proj.on(CustomerErased)
    async def erased(conn: asyncpg.Connection, env: Envelope, data: CustomerErased) -> None:
        """The vault erased a customer: their comments are shredded (crypto-shredding)."""
        await reactions.flush(conn)
        await app.texts.erase_customer(conn, data.customer_ref)

    return proj
