"""Every service's read models and how ``branchcare rebuild`` rebuilds each (``--list``).

Kinds: ``store`` (folded from the service's own event store under locks,
:mod:`shared.readmodels.store_fed`), ``topics`` (replayed from Kafka through its pure writers,
:mod:`shared.readmodels.kafka_fed`), ``generation`` (HQ: a new consumer generation reads its topic
from the beginning), ``refused`` (the command explains why and what to do instead).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    service: str
    name: str
    kind: str  # store | topics | generation | refused
    tables: tuple[str, ...]
    how: str


_HQFEED = (
    "the aggregator's state and its output (additive KPI deltas HQ has summed) go together: rebuilding "
    "it alone would make HQ count history twice. Procedure (services/hqfeed/README.md): stop hqfeed, "
    "drop schema hqfeed, delete the records of hqfeed.events.v1 (or create it afresh), start hqfeed, "
    "then `branchcare rebuild hq`. `branchcare restore-drill` rebuilds its state in its scratch copy from "
    "the restored stores and compares"
)
_FOLLOWUP_COMPLAINTS = (
    "the complaints' status and hold are the task rules' working state, written by the same handlers "
    "that schedule and cancel tasks (events, deadlines): a replay would run those rules again. It is "
    "restored by backup, never rebuilt live; `branchcare restore-drill` rebuilds it in its scratch copy "
    "from the restored complaint store (table writes only, no rule runs) and compares"
)
_ALIASES = (
    "replayed from reception.events.v1 (CustomersMerged / CustomerMergeReversed): the facts, and the "
    "aliases derived from them (shared/customer_aliases.py)"
)
_DISPATCH = (
    "the SMS dispatch queue is state, not a read model: rebuilding it could send a survey SMS twice. "
    "It is restored by backup, never rebuilt"
)

CATALOGUE: tuple[Entry, ...] = (
    Entry(
        "reception",
        "lobby",
        "store",
        ("visits", "calls", "counters"),
        "folded from reception's event store (visit-, call-, counter: streams) under locks",
    ),
    Entry(
        "complaint",
        "board",
        "store",
        ("complaint_board",),
        "folded from complaint's event store (complaint- streams) under locks",
    ),
    Entry(
        "complaint",
        "departures",
        "topics",
        ("visit_departures",),
        "replayed from reception.events.v1 (VisitLeft) without re-running the reactions",
    ),
    Entry(
        "complaint",
        "customer_aliases",
        "topics",
        ("customer_aliases", "customer_alias_facts"),
        _ALIASES,
    ),
    Entry(
        "followup",
        "tasks",
        "store",
        ("tasks",),
        "folded from follow-up's event store (followup- streams) under locks",
    ),
    Entry("followup", "customer_aliases", "topics", ("customer_aliases", "customer_alias_facts"), _ALIASES),
    Entry("followup", "complaints", "refused", ("complaints",), _FOLLOWUP_COMPLAINTS),
    Entry(
        "feedback",
        "survey_facts",
        "store",
        ("survey_facts",),
        "folded from feedback's event store (survey- streams) under locks; no SMS is sent",
    ),
    Entry("feedback", "customer_aliases", "topics", ("customer_aliases", "customer_alias_facts"), _ALIASES),
    Entry(
        "feedback",
        "complaint_customers",
        "topics",
        ("complaint_customers",),
        "replayed from complaint.events.v1 (ComplaintReceived); no survey is requested",
    ),
    Entry("feedback", "survey_dispatch", "refused", ("survey_dispatch", "sms_outbox"), _DISPATCH),
    Entry("hqfeed", "state", "refused", ("feed_streams", "complaints", "open_breaches"), _HQFEED),
    Entry(
        "hq",
        "branch_kpis",
        "generation",
        ("*",),
        "emptied; a new consumer generation reads hqfeed.events.v1 from the beginning (--wait follows it); "
        "`branchcare restore-drill` rebuilds it from the restored hqfeed store and compares",
    ),
)


def entries(service: str) -> list[Entry]:
    return [e for e in CATALOGUE if e.service == service]
