"""Satisfaction figures from ``survey_facts``: one definition for the API and the gauges.

* satisfaction rate = share of answers scoring 4 or 5;
* CSAT average = mean score of the answers;
* response rate = answered / reached: only surveys that reached the customer count (sent, or
  answered on the phone); one that could not be delivered (``send_failed``, retrying or given up)
  is a channel failure the customer never saw and is shown apart (``delivery``), never as an
  unanswered survey. Surveys sent and still inside their window count as not answered yet
  (``pending`` shows how many);
* a survey belongs to the branch-local day it was requested on (the day of the service).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

import asyncpg

_FIGURES = """count(*) AS requested,
       count(*) FILTER (WHERE sent_at IS NOT NULL OR answered_at IS NOT NULL) AS reached,
       count(*) FILTER (WHERE status = 'answered') AS answered,
       count(*) FILTER (WHERE status = 'expired') AS expired,
       count(*) FILTER (WHERE status = 'sent') AS pending,
       count(*) FILTER (WHERE status = 'requested') AS not_sent_yet,
       count(*) FILTER (WHERE status = 'send_failed' AND given_up_at IS NULL) AS send_failed,
       count(*) FILTER (WHERE status = 'send_failed' AND given_up_at IS NOT NULL) AS given_up,
       count(*) FILTER (WHERE score >= 4) AS satisfied,
       count(*) FILTER (WHERE negative) AS negative,
       avg(score)::float8 AS csat"""

_DIMENSIONS = {
    "service_type": "coalesce(service_type, 'unknown')",
    "staff_id": "coalesce(staff_id, 'unknown')",
    "day": "local_day::text",
    "subject_type": "subject_type",
}


@dataclass(frozen=True)
class Figures:
    requested: int
    answered: int
    expired: int
    pending: int
    satisfied: int
    negative: int
    csat: float | None
    reached: int = 0
    not_sent_yet: int = 0
    send_failed: int = 0
    given_up: int = 0

    @property
    def satisfaction_rate(self) -> float | None:
        return self.satisfied / self.answered if self.answered else None

    @property
    def response_rate(self) -> float | None:
        """Answered / reached the customer (never the surveys the channel failed to deliver)."""
        return self.answered / self.reached if self.reached else None

    def to_json(self, target: float) -> dict[str, Any]:
        rate = self.satisfaction_rate
        return {
            "requested": self.requested,
            #: reached the customer (sent, or answered on the phone): the response rate's base
            "reached": self.reached,
            "answered": self.answered,
            "expired": self.expired,
            "pending": self.pending,
            "negative": self.negative,
            "satisfaction_rate": None if rate is None else round(rate, 4),
            "csat_average": None if self.csat is None else round(self.csat, 3),
            "response_rate": None if self.response_rate is None else round(self.response_rate, 4),
            "target": target,
            #: how far below the target (positive) or above it (negative), in share points
            "gap_to_target": None if rate is None else round(target - rate, 4),
            "meets_target": None if rate is None else rate >= target,
            #: not (yet) delivered: apart from the rates (a channel failure, not the customer's)
            "delivery": {
                "not_sent_yet": self.not_sent_yet,
                "send_failed": self.send_failed,
                "given_up": self.given_up,
            },
        }


#: ``_FIGURES`` names each column after the figure it is
_FIGURE_NAMES = tuple(f.name for f in fields(Figures))


def _figures(row: asyncpg.Record) -> Figures:
    return Figures(**{name: row[name] for name in _FIGURE_NAMES})


async def branch_satisfaction(
    conn: asyncpg.Connection, branch_id: str, first: date, last: date, target: float
) -> dict[str, Any]:
    """Overall and per service type, staff member, day and subject type, for days first..last."""
    where = "branch_id = $1 AND local_day BETWEEN $2 AND $3"
    overall = await conn.fetchrow(
        f"SELECT {_FIGURES} FROM survey_facts WHERE {where}", branch_id, first, last
    )
    assert overall is not None
    result: dict[str, Any] = {"overall": _figures(overall).to_json(target)}
    failures = await conn.fetch(
        f"""SELECT delivery_failure AS reason, count(*) AS n FROM survey_facts
            WHERE {where} AND status = 'send_failed' GROUP BY 1 ORDER BY 2 DESC, 1""",
        branch_id,
        first,
        last,
    )
    #: surveys not delivered now (retrying or given up), by the last failure's reason
    result["overall"]["delivery"]["by_reason"] = {r["reason"]: r["n"] for r in failures}
    for name, expression in _DIMENSIONS.items():
        rows = await conn.fetch(
            f"""SELECT {expression} AS key, {_FIGURES} FROM survey_facts WHERE {where}
                GROUP BY 1 ORDER BY 1""",
            branch_id,
            first,
            last,
        )
        result[f"by_{name}"] = [{"key": r["key"], **_figures(r).to_json(target)} for r in rows]
    return result


async def service_satisfaction(conn: asyncpg.Connection, since: datetime) -> dict[str, Figures]:
    """All branches together, by service type (and ``all``), for answers since ``since``."""
    rows = await conn.fetch(
        f"""SELECT coalesce(service_type, 'unknown') AS key, {_FIGURES} FROM survey_facts
            WHERE answered_at >= $1 GROUP BY ROLLUP (coalesce(service_type, 'unknown'))""",
        since,
    )
    return {("all" if r["key"] is None else r["key"]): _figures(r) for r in rows}
