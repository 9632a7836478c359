"""HQ's answers from the aggregated contract equal HQ's answers from the raw branch events.

A simulator's day of 24 branches (visits with long waits and breaches, surveys, complaints through
their lifecycle with escalations, follow-ups with overdue ones, a crisis across branches, a
repeat complainant, one registered twice whose records the vault merged and a merge reversed) goes
both ways over real PostgreSQL: folded from the raw domain events straight
into HQ's tables (what HQ did before the contract), and through the branch-side aggregator and
HQ's contract projection in random batch sizes. Every read-model table must be identical (HQ's
endpoints, reports and alerts are queries over these tables), the contract must be much smaller
than the raw stream, and nothing in it may be free text.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from services.simulator.envelopes import EnvelopeFactory, Made, branch_traffic, interleave
from shared.contracts import feedback as fb
from shared.contracts.complaint import Category
from shared.contracts.customers import CustomerMergeReversed, CustomersMerged, MergeBasis, customer_stream
from shared.contracts.hqfeed import HQ_CONTRACT
from shared.contracts.refs import synthetic_ref
from tests.integration.hqfeed import folds
from tests.support.databases import NewDatabase

pytestmark = pytest.mark.integration

#: what a contract string may look like: a code, a date or time, a UUID, a pseudonym
_SAFE = re.compile(r"^[A-Za-z0-9_.:+\-]{1,128}$")


def simulated_day(seed: int = 11, branches: int = 24) -> list[Made]:
    rng = random.Random(seed)
    factory = EnvelopeFactory()
    run = uuid.uuid4().hex[:6]
    t0 = folds.NOW - timedelta(hours=6)
    names = [f"r0{i % 3}-{run}-{i}" for i in range(branches)]
    traffic = [branch_traffic(factory, b, t0, rng=rng, visits=25) for b in names]
    for i, b in enumerate(names[:6]):  # a crisis (one category in 6 branches within minutes) …
        traffic.append(
            factory.complaint(
                b,
                t0 + timedelta(minutes=i),
                customer_ref=synthetic_ref(f"crisis-{run}-{i}"),
                category=Category.system_failure,
                steps="classified",
            )
        )
    for i, b in enumerate(names[6:9]):  # … and one customer complaining in three branches
        traffic.append(
            factory.complaint(
                b,
                t0 + timedelta(hours=1, minutes=i),
                customer_ref=synthetic_ref(f"repeat-{run}"),
                steps="closed",
            )
        )
    # one person under two refs, complaining in two branches: a repeat complainant once merged;
    # another pair merged and the merge reversed (two customers again, no alert)
    refs = [synthetic_ref(f"dup-{run}-{i}") for i in range(4)]
    dup: list[Made] = []
    for i, ref in enumerate(refs):
        dup += factory.complaint(
            names[-4 + i], t0 + timedelta(hours=2, minutes=i), customer_ref=ref, steps="closed"
        )
    at = t0 + timedelta(hours=3)
    for survivor, merged in ((refs[0], refs[1]), (refs[2], refs[3])):
        merge = CustomersMerged(survivor_ref=survivor, merged_ref=merged, basis=MergeBasis.same_phone, at=at)
        dup.append(factory.make("reception", customer_stream(survivor), names[-4], merge, at))
    undo = CustomerMergeReversed(survivor_ref=refs[2], merged_ref=refs[3], at=at + timedelta(minutes=5))
    dup.append(
        factory.make("reception", customer_stream(refs[2]), names[-2], undo, at + timedelta(minutes=5))
    )
    traffic.append(dup)
    for i, b in enumerate(names[:5]):  # survey delivery (issue 22): failed attempts, give-ups, reports
        traffic.append(
            _delivery(factory, b, t0 + timedelta(minutes=20 + i), given_up=i % 2 == 0, no_contact=i == 0)
        )
    return list(interleave(traffic))


def _delivery(
    factory: EnvelopeFactory, branch: str, at: datetime, *, given_up: bool, no_contact: bool = False
) -> list[Made]:
    """A survey whose first send fails; then given up (its window breached first) or sent,
    delivered and answered."""
    made = factory.survey(branch, at, customer_ref=synthetic_ref(f"dlv-{branch}"), score=4)[:1]
    sid = UUID(str(made[0].envelope.data["survey_id"]))
    stream = f"survey-{sid}"
    factory.versions[stream] = 1  # the factory's answer was dropped: the next event is v2
    sms = fb.SurveyChannel.sms
    error = fb.DeliveryFailure.no_contact if no_contact else fb.DeliveryFailure.gateway_error
    failed = fb.SurveySendFailed(
        survey_id=sid,
        channel=sms,
        attempt=1,
        reason=error,
        retry_at=None if no_contact else at + timedelta(seconds=20),  # no number: not retried
        at=at,
    )
    made.append(factory.make("feedback", stream, branch, failed, at))
    later = at + timedelta(minutes=5)
    if given_up:
        made.append(
            factory._breach(
                "feedback", stream, branch, "feedback.survey_window", "survey", str(sid), at, later
            )
        )
        gone = fb.SurveyGivenUp(survey_id=sid, channel=sms, attempts=1, reason=error, at=later)
        made.append(factory.make("feedback", stream, branch, gone, later))
        return made
    sent = fb.SurveySent(survey_id=sid, channel=sms, message_id="m-1", at=later)
    made.append(factory.make("feedback", stream, branch, sent, later))
    for event in (
        fb.SurveyDelivered(survey_id=sid, channel=sms, at=later),
        fb.SurveyAnswered(survey_id=sid, subject="visit:x", score=4, at=later),
    ):
        made.append(factory.make("feedback", stream, branch, event, later))
    return made


async def test_hq_from_the_contract_equals_hq_from_the_raw_events(new_database: NewDatabase) -> None:
    raw = [m.envelope for m in simulated_day()]
    urls = {}
    for side in ("raw", "contract"):
        urls[side] = await new_database()
    await folds.from_raw_events(urls["raw"], raw)
    rng = random.Random(3)
    contract = await folds.aggregate(urls["contract"], raw, rng, largest=60)
    await folds.through_contract(urls["contract"], contract, rng, largest=25)
    expected, actual = await folds.dump(urls["raw"]), await folds.dump(urls["contract"])
    assert expected["branch_day"] and expected["complaints"] and expected["crisis_slots"]
    assert expected["branch_day_sla"] and expected["repeat_alerts"] and expected["spike_alerts"]
    # failed attempts, given up, of them for want of a number, delivered
    assert await _delivery_totals(urls["raw"]) == (5, 3, 1, 2)
    assert len(expected["customer_aliases"]) == 1  # the merge; the reversed one is gone
    assert len(expected["repeat_alerts"]) == 2  # the customer of three branches, and the merged one
    for table in expected:
        assert actual[table] == expected[table], f"{table}: the contract path differs from the raw fold"

    # HQ's input shrinks: fewer messages and fewer bytes than the branch events behind them
    raw_bytes = sum(len(e.model_dump_json()) for e in raw)
    contract_bytes = sum(len(e.model_dump_json()) for e in contract)
    assert len(contract) < len(raw), (len(contract), len(raw))
    assert contract_bytes < raw_bytes, (contract_bytes, raw_bytes)

    # a scan of what goes on HQ's topic: contract types only, and no string that is not a code,
    # a time, an id or a pseudonym (no words, no text references, no numbers of 8+ digits)
    types = {m.event_type for m in HQ_CONTRACT}
    for env in contract:
        assert env.type in types
        assert unsafe_strings(env.data) == [], env.type
        # no text reference by any name (keys, not values: a random pseudonym may spell "ref")
        keys = [k.lower().replace("customer_ref", "") for k in _keys(env.data)]  # pseudonyms: fine
        refs = [k for k in keys if "ref" in k or k == "text_id"]
        assert refs == [], (env.type, refs)


def _keys(value: object) -> list[str]:
    """Every key of a JSON-like value, nested ones too."""
    if isinstance(value, dict):
        return [k for key, v in value.items() for k in (str(key), *_keys(v))]
    if isinstance(value, list | tuple):
        return [k for v in value for k in _keys(v)]
    return []


async def _delivery_totals(url: str) -> tuple[int, ...]:
    conn = await asyncpg.connect(url, server_settings={"search_path": "hq"})
    try:
        row = await conn.fetchrow(
            "SELECT sum(survey_send_failures), sum(surveys_given_up), sum(surveys_given_up_no_contact),"
            " sum(surveys_delivered) FROM branch_day"
        )
    finally:
        await conn.close()
    assert row is not None
    return tuple(int(v) for v in row)


def unsafe_strings(data: Any) -> list[str]:
    """Strings (keys included) that are not a code, a time, an id or a pseudonym, or that hold 8+
    digits in a row without being a UUID or a time (a phone, card or account number)."""
    return [
        s for s in _strings(data) if not _SAFE.match(s) or (re.search(r"\d{8}", s) and not _is_id_or_time(s))
    ]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _is_id_or_time(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return bool(re.match(r"^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$", value))
