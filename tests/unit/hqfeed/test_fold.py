"""Folding batches of branch events into HQ's changes: FCR, SLA met/late/breached, open breaches
across batches, waits, surveys, local days — no database."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta, tzinfo
from uuid import uuid4
from zoneinfo import ZoneInfo

from services.hqfeed.facts import BatchChanges, ComplaintFacts
from services.hqfeed.fold import fold_batch, subjects_needing_breaches
from services.simulator.envelopes import EnvelopeFactory, Made
from shared.contracts import complaint as c
from shared.contracts.complaint import Category, Nature
from shared.envelope import Envelope
from tests.support.texts import ref

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


def tz(_: str) -> tzinfo:
    return SHANGHAI


class Model:
    """The read model in memory: what the projection keeps in PostgreSQL between batches."""

    def __init__(self) -> None:
        self.facts: dict[str, ComplaintFacts] = {}
        self.open: set[tuple[str, str]] = set()
        self.day: dict[tuple[str, date], Counter[str]] = {}
        self.sla: dict[tuple[str, date, str], Counter[str]] = {}
        self.category: Counter[tuple[str, date, str, str, str]] = Counter()

    def apply(self, made: list[Made]) -> BatchChanges:
        events: list[Envelope] = [m.envelope for m in made]
        wanted = subjects_needing_breaches(events)
        changes = fold_batch(
            events,
            facts={k: v for k, v in self.facts.items()},
            open_breaches=[k for k in self.open if k[0] in wanted],
            tz_of=tz,
        )
        self.facts.update(changes.complaints)
        self.open -= changes.breaches_deleted
        self.open |= set(changes.breaches_added)
        for day_key, day_delta in changes.day.items():
            self.day.setdefault(day_key, Counter()).update(day_delta)
        for sla_key, sla_delta in changes.day_sla.items():
            self.sla.setdefault(sla_key, Counter()).update(sla_delta)
        for cat_key, cat_delta in changes.day_category.items():
            self.category[cat_key] += cat_delta["received"]
        return changes

    def total(self, name: str) -> float:
        return sum(c[name] for c in self.day.values())

    def sla_total(self, sla: str, outcome: str) -> int:
        return sum(c[outcome] for k, c in self.sla.items() if k[2] == sla)


def test_first_contact_resolution_is_undone_by_a_reopen_in_a_later_batch() -> None:
    f, m = EnvelopeFactory(), Model()
    plain = f.complaint("b1", T0, customer_ref="cust_000001")
    escalated = f.complaint("b1", T0, customer_ref="cust_000002", escalate=True)
    reopened = f.complaint("b1", T0, customer_ref="cust_000003", reopen=True)
    m.apply(plain + escalated + reopened[:-1])
    assert (m.total("first_closes"), m.total("fcr_closes")) == (3, 2)
    m.apply(reopened[-1:])  # the reopen arrives in its own batch, the next day
    assert (m.total("first_closes"), m.total("fcr_closes")) == (3, 1)
    facts = m.facts[str(reopened[0].envelope.data["complaint_id"])]
    assert facts.cycle == 2 and not facts.fcr and facts.reopened == 1 and not facts.closed
    assert m.total("complaints_received") == 3 and m.total("complaints_escalated") == 1


def test_acknowledgement_after_a_breach_is_late_and_closes_the_open_breach() -> None:
    f, m = EnvelopeFactory(), Model()
    late = f.complaint("b1", T0, customer_ref="cust_000001", steps="acknowledged", breach_ack=True)
    m.apply(late[:2])  # received, breached
    cid = str(late[0].envelope.data["complaint_id"])
    assert m.open == {(cid, "complaint.acknowledge")}
    m.apply(late[2:])  # acknowledged in the next batch
    assert m.open == set()
    assert m.sla_total("complaint.acknowledge", "breached") == 1
    assert (
        m.sla_total("complaint.acknowledge", "late") == 1 and m.sla_total("complaint.acknowledge", "met") == 0
    )
    assert m.total("sla_breached") == 1 and m.total("sla_met") == 0
    assert m.total("ack_seconds") == (41 * 60)  # 31 min breach + 10 min


def test_one_batch_or_many_give_the_same_counters() -> None:
    f = EnvelopeFactory()
    made = f.complaint("b1", T0, customer_ref="cust_000001", breach_ack=True, reopen=True)
    made += f.visit("b1", T0, waited=2400, breach=True) + f.followup("b1", T0, overdue=True)
    whole, pieces = Model(), Model()
    whole.apply(made)
    for m in made:
        pieces.apply([m])
    assert whole.day == pieces.day and whole.sla == pieces.sla and whole.open == pieces.open
    assert {k: v for k, v in whole.facts.items()} == {k: v for k, v in pieces.facts.items()}


def test_wait_histogram_sla_and_visit_counters() -> None:
    f, m = EnvelopeFactory(), Model()
    m.apply(f.visit("b1", T0, waited=45) + f.visit("b1", T0, waited=2000, breach=True))
    m.apply(f.visit("b1", T0, waited=100, served=False))
    assert m.total("visits") == 3 and m.total("visits_served") == 2 and m.total("visits_abandoned") == 1
    assert m.total("wait_count") == 2 and m.total("wait_seconds") == 2045
    assert m.total("wait_b1") == 1 and m.total("wait_b8") == 1  # ≤ 60 s and (1800, 2700]
    assert m.total("wait_breaches") == 1
    assert m.sla_total("reception.wait", "met") == 1 and m.sla_total("reception.wait", "late") == 1
    assert m.open == set()  # the breached visit was called and left


def test_an_overdue_follow_up_stays_open_until_done() -> None:
    f, m = EnvelopeFactory(), Model()
    made = f.followup("b1", T0, overdue=True)
    m.apply(made[:2])
    assert m.total("followups_overdue") == 1 and len(m.open) == 1
    m.apply(made[2:])
    assert m.open == set() and m.sla_total("followup.due", "late") == 1


def test_surveys_satisfaction_and_response_counters() -> None:
    f, m = EnvelopeFactory(), Model()
    for score in (5, 4, 3, 1, None):
        m.apply(f.survey("b1", T0, customer_ref="cust_000001", score=score))
    assert m.total("surveys_requested") == 5 and m.total("surveys_answered") == 4
    assert m.total("surveys_satisfied") == 2 and m.total("surveys_expired") == 1
    assert m.total("score_sum") == 13 and m.total("surveys_negative") == 1


def test_reclassification_moves_the_received_count_and_days_are_branch_local() -> None:
    f, m = EnvelopeFactory(), Model()
    late_evening = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai, 3 March 00:00 after
    made = f.complaint(
        "b1", late_evening, customer_ref="cust_000001", category=Category.waiting_time, steps="classified"
    )
    m.apply(made)
    at = late_evening + timedelta(hours=1)
    reclassified = c.ComplaintClassified(
        complaint_id=made[0].envelope.data["complaint_id"],
        category=Category.system_failure,
        nature=Nature.major,
        source="customer",
        urgency=c.Urgency.normal,
        at=at,
    )
    again = f.make("complaint", made[0].envelope.stream_id, "b1", reclassified, at)
    m.apply([again])
    day = date(2026, 3, 2)  # received on the 2nd, local time
    assert m.category[("b1", day, "system_failure", "major", "in_branch")] == 1
    assert m.category[("b1", day, "waiting_time", "general", "in_branch")] == 0
    assert m.category[("b1", day, "unclassified", "unclassified", "in_branch")] == 0
    assert ("b1", date(2026, 3, 3)) in m.day  # the reclassification happened on the 3rd, local time


def test_handling_time_excludes_time_on_hold() -> None:
    f, m = EnvelopeFactory(), Model()
    made = f.complaint("b1", T0, customer_ref="cust_000001", steps="classified", hours_to_decide=5)
    cid = made[0].envelope.data["complaint_id"]
    sid = made[0].envelope.stream_id
    hold, resume, answer = T0 + timedelta(hours=1), T0 + timedelta(hours=3), T0 + timedelta(hours=5)
    made += [
        f.make(
            "complaint",
            sid,
            "b1",
            c.ComplaintPutOnHold(complaint_id=cid, reason=ref("appraisal"), at=hold),
            hold,
        ),
        f.make("complaint", sid, "b1", c.ComplaintResumed(complaint_id=cid, at=resume), resume),
        f.make(
            "complaint",
            sid,
            "b1",
            c.ComplaintAnswered(complaint_id=cid, outcome=c.Outcome.not_upheld, answer=ref("no"), at=answer),
            answer,
        ),
    ]
    m.apply(made)
    facts = m.facts[str(cid)]
    assert facts.handling_seconds == 3 * 3600 and facts.held_seconds == 2 * 3600
    assert m.total("complaints_decided") == 1 and m.total("decide_seconds") == 5 * 3600


def test_a_review_is_a_new_cycle_and_extensions_and_codes_are_kept() -> None:
    f, m = EnvelopeFactory(), Model()
    made = f.complaint("b1", T0, customer_ref="cust_000001")
    cid, sid = made[0].envelope.data["complaint_id"], made[0].envelope.stream_id
    m.apply(made)
    assert m.total("fcr_closes") == 1
    later = T0 + timedelta(days=3)
    review = c.ReviewRequested(
        complaint_id=cid,
        at=later,
        reason=ref("disagrees"),
        cycle=2,
        decision_at=T0,
        reviewing_level=c.Level.branch_head,
    )
    asked = c.ExtensionRequested(
        complaint_id=cid,
        request_id=uuid4(),
        requested_by="lm-1",
        reason=ref("complex"),
        limit_days=60,
        extension=2,
        at=later,
    )
    approved = c.ExtensionApproved(
        complaint_id=cid,
        request_id=asked.request_id,
        approved_by="head-1",
        requested_by="lm-1",
        limit_days=60,
        at=later,
    )
    m.apply([f.make("complaint", sid, "b1", e, later) for e in (review, asked, approved)])
    facts = m.facts[str(cid)]
    assert m.total("fcr_closes") == 0 and facts.reviews == 1 and facts.cycle == 2 and not facts.closed
    assert (facts.extensions_requested, facts.extensions_approved, facts.limit_days) == (1, 1, 60)


def test_an_erasure_is_about_no_branch() -> None:
    """``CustomerErased`` travels on the reception topic under a branch id of its own: HQ counts
    no branch for it (it is not one)."""
    from shared.contracts.reception import ERASURE_BRANCH, CustomerErased

    erased = CustomerErased(customer_ref="cust_ref_0001", at=T0)
    made = EnvelopeFactory().make("reception", "customer-cust_ref_0001", ERASURE_BRANCH, erased, T0)
    changes = Model().apply([made])
    assert changes.branches == {} and not changes.day
