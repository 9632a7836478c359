"""KPI arithmetic: pure functions over summed counters, and the same formulas as SQL for sorting.

Every KPI is a function of counters that add up across days, branches and regions (sums and fixed
histogram buckets), so a period, a region or the whole bank is just a bigger sum. Ratios are None
when their denominator is zero ("no data", never 0 %).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: the counters, the wait histogram and its buckets are the HQ contract's vocabulary
from shared.contracts.hqfeed import (  # noqa: F401  (re-exported)
    COUNTERS,
    FLOAT_COUNTERS,
    WAIT_BUCKETS,
    WAIT_COLUMNS,
    bucket_index,
)

WAIT_TARGET_SECONDS = 900.0
#: the follow-up SLAs whose breaches count as "follow-ups overdue"
SLA_FOLLOWUP = "followup.due"
SLA_VERIFICATION = "followup.verification"


def quantile_from_buckets(
    counts: Sequence[float], q: float, bounds: Sequence[float] = WAIT_BUCKETS
) -> float | None:
    """Estimate the ``q`` quantile (0 < q ≤ 1) from bucket counts by linear interpolation inside the
    bucket that holds rank ``q * n``. The open last bucket answers its lower bound (a floor)."""
    n = sum(counts)
    if n <= 0:
        return None
    rank = q * n
    seen = 0.0
    lower = 0.0
    for count, upper in zip(counts, bounds, strict=True):
        if count > 0 and seen + count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper
    return lower


def ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def average(total: float, count: float) -> float | None:
    return None if count <= 0 else total / count


@dataclass(frozen=True)
class Kpi:
    name: str
    description: str
    #: the SQL expression over summed counters (``s.<counter>``), NULL when undefined
    sql: str
    higher_is_better: bool = True


def _r(num: str, den: str) -> str:
    return f"({num})::float8 / NULLIF({den}, 0)"


#: sums the ranking query may ask for besides the counters: cumulative wait buckets, so a quantile
#: is one short CASE over per-branch sums instead of re-adding the buckets in every branch
DERIVED_SUMS: dict[str, str] = {
    f"wait_cum{k}": " + ".join(WAIT_COLUMNS[: k + 1]) for k in range(len(WAIT_COLUMNS))
}


def _quantile_sql(q: float = 0.9) -> str:
    """A wait quantile in SQL over the cumulative sums, the same interpolation as
    :func:`quantile_from_buckets`."""
    last = len(WAIT_BUCKETS) - 1
    n = f"s.wait_cum{last}"
    cases = []
    lower = 0.0
    for k, upper in enumerate(WAIT_BUCKETS):
        cum, before = f"s.wait_cum{k}", ("0" if k == 0 else f"s.wait_cum{k - 1}")
        if math.isinf(upper):
            cases.append(f"WHEN {cum} >= {q} * {n} THEN {lower}")
        else:
            share = f"({q} * {n} - {before}) / ({cum} - {before})"
            cases.append(f"WHEN {cum} >= {q} * {n} THEN {lower} + {upper - lower} * {share}")
        lower = upper
    return f"CASE WHEN {n} = 0 THEN NULL {' '.join(cases)} END"


_WITHIN_TARGET = " + ".join(
    f"s.{c}" for c, b in zip(WAIT_COLUMNS, WAIT_BUCKETS, strict=True) if b <= WAIT_TARGET_SECONDS
)

KPIS: dict[str, Kpi] = {
    k.name: k
    for k in (
        Kpi("visits", "visits (customers arrived)", "s.visits"),
        Kpi(
            "avg_wait_seconds",
            "average wait from ticket to first call",
            _r("s.wait_seconds", "s.wait_count"),
            False,
        ),
        Kpi("p90_wait_seconds", "90th percentile wait (from the fixed buckets)", _quantile_sql(0.9), False),
        Kpi("wait_within_target", "share of waits ≤ 15 min", _r(_WITHIN_TARGET, "s.wait_count")),
        Kpi("wait_breaches", "waits that breached the 30 min SLA", "s.wait_breaches", False),
        Kpi(
            "abandon_rate",
            "share of visits abandoned or no-show",
            _r("s.visits_abandoned + s.visits_no_show", "s.visits"),
            False,
        ),
        Kpi(
            "phone_in_target",
            "share of answered calls within the ring limit",
            _r("s.calls_in_target", "s.calls_answered"),
        ),
        Kpi("complaints_received", "complaints received", "s.complaints_received", False),
        Kpi("complaints_closed", "complaints closed", "s.complaints_closed"),
        Kpi(
            "complaints_per_1000_visits",
            "complaints per 1,000 visits",
            _r("1000 * s.complaints_received", "s.visits"),
            False,
        ),
        Kpi(
            "fcr_rate",
            "first-contact resolution: first closes without escalation or reopen",
            _r("s.fcr_closes", "s.first_closes"),
        ),
        Kpi(
            "avg_ack_seconds",
            "average time from receipt to acknowledgement",
            _r("s.ack_seconds", "s.complaints_acknowledged"),
            False,
        ),
        Kpi(
            "avg_resolve_seconds",
            "average time from receipt (or reopen) to the decision",
            _r("s.decide_seconds", "s.complaints_decided"),
            False,
        ),
        Kpi(
            "sla_compliance",
            "deadlines met / (met + breached), every policy",
            _r("s.sla_met", "s.sla_met + s.sla_breached"),
        ),
        Kpi("sla_breaches", "deadlines breached, every policy", "s.sla_breached", False),
        Kpi("followups_overdue", "follow-up tasks that passed their due time", "s.followups_overdue", False),
        Kpi(
            "satisfaction_rate",
            "share of survey answers scoring 4 or 5",
            _r("s.surveys_satisfied", "s.surveys_answered"),
        ),
        Kpi("avg_score", "average survey score (1–5)", _r("s.score_sum", "s.surveys_answered")),
        Kpi(
            "response_rate",
            "surveys answered / (answered + expired): only surveys that reached the customer and "
            "whose window closed; a survey the channel could not deliver is given up, never expires, "
            "and stays out",
            _r("s.surveys_answered", "s.surveys_answered + s.surveys_expired"),
        ),
        Kpi(
            "survey_send_failures",
            "failed attempts to send a survey (each retried with backoff or followed by a give-up)",
            "s.survey_send_failures",
            False,
        ),
        Kpi(
            "surveys_given_up",
            "surveys that never reached the customer (attempts used up, no number, rejected)",
            "s.surveys_given_up",
            False,
        ),
        Kpi(
            "surveys_given_up_no_contact",
            "surveys given up for want of a number (the customer's record has none: the branch can fix it)",
            "s.surveys_given_up_no_contact",
            False,
        ),
        Kpi("surveys_delivered", "surveys the gateway reported delivered", "s.surveys_delivered"),
        Kpi("events", "events received from the branch", "s.events"),
    )
}


def compute(sums: Mapping[str, float], satisfaction_target: float) -> dict[str, float | int | None]:
    """Every KPI of :data:`KPIS` from summed counters, in Python (same formulas as the SQL)."""
    g = lambda name: float(sums.get(name) or 0)  # noqa: E731
    waits = [g(c) for c in WAIT_COLUMNS]
    within = sum(w for w, b in zip(waits, WAIT_BUCKETS, strict=True) if b <= WAIT_TARGET_SECONDS)
    satisfaction = ratio(g("surveys_satisfied"), g("surveys_answered"))
    return {
        "visits": int(g("visits")),
        "avg_wait_seconds": average(g("wait_seconds"), g("wait_count")),
        "p90_wait_seconds": quantile_from_buckets(waits, 0.9),
        "wait_within_target": ratio(within, g("wait_count")),
        "wait_breaches": int(g("wait_breaches")),
        "abandon_rate": ratio(g("visits_abandoned") + g("visits_no_show"), g("visits")),
        "phone_in_target": ratio(g("calls_in_target"), g("calls_answered")),
        "complaints_received": int(g("complaints_received")),
        "complaints_closed": int(g("complaints_closed")),
        "complaints_per_1000_visits": ratio(1000 * g("complaints_received"), g("visits")),
        "fcr_rate": ratio(g("fcr_closes"), g("first_closes")),
        "avg_ack_seconds": average(g("ack_seconds"), g("complaints_acknowledged")),
        "avg_resolve_seconds": average(g("decide_seconds"), g("complaints_decided")),
        "sla_compliance": ratio(g("sla_met"), g("sla_met") + g("sla_breached")),
        "sla_breaches": int(g("sla_breached")),
        "followups_overdue": int(g("followups_overdue")),
        "satisfaction_rate": satisfaction,
        "satisfaction_target": satisfaction_target,
        "satisfaction_gap": None if satisfaction is None else satisfaction - satisfaction_target,
        "avg_score": average(g("score_sum"), g("surveys_answered")),
        "response_rate": ratio(g("surveys_answered"), g("surveys_answered") + g("surveys_expired")),
        "survey_send_failures": int(g("survey_send_failures")),
        "surveys_given_up": int(g("surveys_given_up")),
        "surveys_given_up_no_contact": int(g("surveys_given_up_no_contact")),
        "surveys_delivered": int(g("surveys_delivered")),
        "events": int(g("events")),
    }


def wait_histogram(sums: Mapping[str, float]) -> list[dict[str, float | int | None]]:
    """The summed wait buckets as ``[{"le": bound, "count": n}, ...]`` (``le`` None = +Inf)."""
    return [
        {"le": None if math.isinf(b) else b, "count": int(sums.get(c) or 0)}
        for c, b in zip(WAIT_COLUMNS, WAIT_BUCKETS, strict=True)
    ]
