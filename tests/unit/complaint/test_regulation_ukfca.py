"""uk-fca (DISP 1.5 / 1.6) as code: business days across weekends, bank holidays, month ends and
the clock change; summary resolution; 8 weeks with a holding response; payment services 15/35."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from services.complaint import domain as d
from shared.contracts import complaint as ev
from shared.contracts.complaint import (
    Category,
    ClockBasis,
    HoldKind,
    InterimKind,
    LimitUnit,
    Nature,
    Outcome,
    ResponseKind,
    Urgency,
)
from tests.support.texts import ref
from tests.unit.complaint.regulation_given import LONDON, MATH, UK_BRANCH, Case, end_of, local

PSD = "payment_services"


def received(at: datetime, business_type: str | None = None, **kw: object) -> Case:
    case = Case.received(at, UK_BRANCH, business_type=business_type, **kw)
    case.walk_to_investigating(at + timedelta(minutes=5))
    return case


# ------------------------------------------------------------- payment services: business days

BUSINESS_DAYS = [
    # (why, received (London), the 15th business day after the day of receipt)
    ("three plain weeks", local(LONDON, 2026, 3, 6, 15), date(2026, 3, 27)),
    ("Easter and the clock change", local(LONDON, 2026, 3, 25, 11), date(2026, 4, 17)),
    ("received on a Saturday before a bank holiday", local(LONDON, 2026, 5, 2, 10), date(2026, 5, 26)),
    (
        "Christmas, Boxing Day and New Year, across the year end",
        local(LONDON, 2026, 12, 17),
        date(2027, 1, 12),
    ),
    ("received just before midnight", local(LONDON, 2026, 6, 30, 23, 59), date(2026, 7, 21)),
    ("received just after midnight", local(LONDON, 2026, 7, 1, 0, 1), date(2026, 7, 22)),
]


@pytest.mark.parametrize(("at", "last"), [c[1:] for c in BUSINESS_DAYS], ids=[c[0] for c in BUSINESS_DAYS])
def test_payment_services_final_response_by_the_end_of_15_business_days(at: datetime, last: date) -> None:
    case = received(at, PSD)
    clock = case.clock()
    assert (clock.clock, clock.limit, clock.unit) == ("payment_services", 15, LimitUnit.business_days)
    assert case.due() == end_of(LONDON, last)
    assert MATH.duration(clock) == end_of(LONDON, last) - at  # what the live deadline runs for


HOLDING = [
    ("three plain weeks", local(LONDON, 2026, 3, 6, 15), date(2026, 4, 28)),  # Easter inside the 35
    ("across the year end", local(LONDON, 2026, 12, 17), date(2027, 2, 9)),
]


@pytest.mark.parametrize(("at", "last"), [c[1:] for c in HOLDING], ids=[c[0] for c in HOLDING])
def test_a_holding_reply_by_day_15_moves_the_final_response_to_day_35(at: datetime, last: date) -> None:
    case = received(at, PSD)
    sent, extended = case.run(
        d.SendInterimResponse(
            at + timedelta(days=10), InterimKind.holding, ref("the card scheme investigates"), True
        )
    )
    assert isinstance(sent, ev.InterimResponseSent) and isinstance(extended, ev.RegulatoryDeadlineExtended)
    assert (extended.limit_days, extended.unit, extended.sla) == (
        35,
        LimitUnit.business_days,
        "complaint.regulatory",
    )
    assert sent.final_response_by == extended.due_at == end_of(LONDON, last) == case.due()
    case.refused(
        d.SendInterimResponse(at + timedelta(days=11), InterimKind.holding, ref("again"), True),
        "no regulatory deadline of this case waits for one",
    )


def test_a_holding_reply_after_business_day_15_is_too_late() -> None:
    at = local(LONDON, 2026, 3, 6, 15)
    case = received(at, PSD)
    late = end_of(LONDON, date(2026, 3, 27)) + timedelta(minutes=1)
    case.refused(d.SendInterimResponse(late, InterimKind.holding, ref("sorry"), True), "already passed")


# --------------------------------------------------------------------------- 8 weeks, DISP 1.6.2


def test_eight_weeks_that_a_hold_does_not_stop() -> None:
    at = local(LONDON, 2026, 3, 6, 15)
    case = received(at)
    clock = case.clock()
    assert (clock.clock, clock.limit, clock.unit, clock.pauses_on) == (
        "final_response",
        56,
        LimitUnit.days,
        frozenset(),
    )
    (held,) = case.run(d.Hold(at + timedelta(days=3), ref("waiting for the customer's statement")))
    assert isinstance(held, ev.ComplaintPutOnHold) and held.regulatory_clocks_paused == []
    case.run(d.Resume(at + timedelta(days=20)))
    assert case.due() == at + timedelta(weeks=8)
    case.refused(
        d.ExtendRegulatoryDeadline(at + timedelta(days=21), ref("complex")), "the most uk-fca allows"
    )


def test_a_holding_response_within_8_weeks_meets_the_rule() -> None:
    at = local(LONDON, 2026, 3, 6, 15)
    case = received(at)
    case.refused(d.SendInterimResponse(at + timedelta(days=50), InterimKind.holding, ref("x")), "Ombudsman")
    (sent,) = case.run(
        d.SendInterimResponse(
            at + timedelta(days=50), InterimKind.holding, ref("we need the merchant's file"), True
        )
    )
    assert isinstance(sent, ev.InterimResponseSent)
    (outcome,) = sent.regulatory_outcomes
    assert (outcome.by, outcome.within_limit) == ("holding", True) and not case.clock().is_open
    case.refused(d.SendInterimResponse(at + timedelta(days=51), InterimKind.in_progress, ref("x")), "holding")


def test_reclassified_as_payment_services_the_15_business_days_count_from_receipt() -> None:
    at = local(LONDON, 2026, 3, 6, 15)
    case = received(at)
    (classified,) = case.run(
        d.Classify(at + timedelta(days=2), Category.other, Nature.general, "web", Urgency.normal, PSD)
    )
    assert isinstance(classified, ev.ComplaintClassified)
    (clock,) = classified.regulatory_clocks
    assert (clock.clock, clock.basis, clock.started_at) == ("payment_services", ClockBasis.reclassified, at)
    assert case.due() == end_of(LONDON, date(2026, 3, 27))
    assert [c.clock for c in case.state.clocks.past] == ["final_response"]
    case.run(
        d.Classify(at + timedelta(days=3), Category.other, Nature.general, "web", Urgency.normal, "savings")
    )
    assert case.clock().clock == "final_response" and case.due() == at + timedelta(weeks=8)


# ------------------------------------------------------------------ summary resolution, DISP 1.5


# received Thu 2 April 2026: Good Friday and Easter Monday are not business days, so the third
# business day after receipt is Thu 9 April; the branch closes at 17:30
WINDOW = local(LONDON, 2026, 4, 2, 11)


@pytest.mark.parametrize(
    ("answered", "allowed"),
    [
        (local(LONDON, 2026, 4, 2, 16), True),
        (local(LONDON, 2026, 4, 9, 17, 30), True),
        (local(LONDON, 2026, 4, 9, 17, 31), False),
        (local(LONDON, 2026, 4, 10, 9), False),
    ],
)
def test_a_summary_resolution_only_by_close_of_business_on_the_third_business_day(
    answered: datetime, allowed: bool
) -> None:
    case = received(WINDOW)
    command = d.Answer(answered, ref("refunded"), Outcome.not_upheld, ResponseKind.summary_resolution, True)
    if not allowed:
        case.refused(command, "too late for a summary resolution communication")
        return
    (answer,) = case.run(command)
    assert (
        isinstance(answer, ev.ComplaintAnswered) and answer.response_kind is ResponseKind.summary_resolution
    )


def test_a_final_response_must_point_to_the_ombudsman() -> None:
    at = local(LONDON, 2026, 3, 6, 15)
    case = received(at)
    case.refused(
        d.Answer(at + timedelta(days=9), ref("no"), Outcome.not_upheld), "Financial Ombudsman Service"
    )
    (answer,) = case.run(
        d.Answer(at + timedelta(days=9), ref("no"), Outcome.not_upheld, ResponseKind.final, True)
    )
    assert isinstance(answer, ev.ComplaintAnswered) and answer.regulatory_outcomes[0].counted_days == 9


def test_the_acknowledgement_states_the_expected_timeline() -> None:
    at = local(LONDON, 2026, 3, 6, 15)
    case = Case.received(at, UK_BRANCH)
    (ack,) = case.run(d.Acknowledge(at + timedelta(minutes=10)))
    assert isinstance(ack, ev.ComplaintAcknowledged) and ack.expected_response_by == at + timedelta(weeks=8)
    assert "01 May 2026" in ack.timeline and "Financial Ombudsman Service" in ack.timeline


def test_uk_has_no_review_and_no_representative_limit() -> None:
    at = local(LONDON, 2026, 3, 6, 15)
    reps = tuple(f"cust_ref_{i:04d}" for i in range(8))
    case = received(at, representatives=reps)
    case.run(d.Answer(at + timedelta(days=9), ref("no"), Outcome.not_upheld, ResponseKind.final, True))
    case.refused(d.RequestReview(at + timedelta(days=10), ref("x")), "no review")


def test_waiting_on_an_appraisal_does_not_stop_the_fca_clock_either() -> None:
    at = local(LONDON, 2026, 3, 6, 15)
    case = received(at, PSD)
    case.run(d.Hold(at + timedelta(days=1), ref("card scheme"), HoldKind.external_appraisal))
    case.run(d.Resume(at + timedelta(days=9)))
    assert case.due() == end_of(LONDON, date(2026, 3, 27))
