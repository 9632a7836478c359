"""Choreography: the complaint service's reactions to other contexts' events.

- reception ``ComplaintRaisedDuringVisit`` → a case linked to the visit (channel ``in_branch``);
- reception ``VisitLeft`` → the linked open case's resolve clock starts (24 h after leaving);
- feedback ``NegativeFeedbackReceived`` that describes a complaint → a case (channel ``survey``);
- follow-up ``VerificationFailed`` → the case is reopened (or, still open, its correction undone);
- reception ``CustomerErased`` → the texts the complaint service keeps about the customer are
  shredded (their data key is deleted);
- reception ``CustomersMerged`` / ``CustomerMergeReversed`` → ``customer_alias_facts`` and the
  ``customer_aliases`` derived from them (order-free, merges of merges followed), through which the
  repeat rule sees one complainant under every ref (``shared/customer_aliases.py``).

One projection (one consumer group over the three topics: one group join at start-up) with
exactly-once effects: the command joins the projection's transaction, and case ids derive from the
causing event id, so a redelivered event creates nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.complaint.app import ComplaintApp
from shared import customer_aliases
from shared.contracts.feedback import NegativeFeedbackReceived
from shared.contracts.followup import VerificationFailed
from shared.contracts.reception import ComplaintRaisedDuringVisit, CustomerErased, VisitLeft
from shared.envelope import Envelope
from shared.projection import EventHandlers, Projection
from shared.topology import events_topic


def reactions(app: ComplaintApp) -> Sequence[Projection]:
    async def react(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        await app.react(conn, env, data)

    topics = [events_topic(context) for context in ("reception", "feedback", "followup")]
    reactions = EventHandlers(app.settings.reactions_name, topics)
    for event_type in (
        ComplaintRaisedDuringVisit,
        VisitLeft,
        NegativeFeedbackReceived,
        VerificationFailed,
        CustomerErased,
    ):
        reactions.on(event_type)(react)

    return [customer_aliases.follow_merges(reactions)]
