"""Queries over the reception read models: the live lobby board and a day's statistics."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from services.reception.catalogue import Catalogue
from services.reception.estimate import estimated_wait, mean_service_time
from services.reception.visit_list import in_progress
from shared.sla.policy import PolicyBook

#: service times considered for the estimate: the latest N of the line within the window
RECENT_SERVICES = 20
RECENT_WINDOW = timedelta(days=7)


def day_bounds(book: PolicyBook, branch_id: str, day: date) -> tuple[datetime, datetime]:
    tz = book.calendar(branch_id).tz
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)


async def lobby(
    conn: asyncpg.Connection, branch_id: str, now: datetime, catalogue: Catalogue, book: PolicyBook
) -> dict[str, Any]:
    waiting = await conn.fetch(
        """SELECT v.visit_id, v.ticket, v.line, v.service_type, v.priority, v.accessibility, v.display_name,
                  v.status, v.calls, v.counter_id, v.queued_at, v.first_called_at, v.sla_status,
                  v.relationship_manager, d.due_at AS wait_due_at
           FROM visits v
           LEFT JOIN deadlines d ON d.subject_id = v.visit_id::text AND d.sla = 'reception.wait'
           WHERE v.branch_id = $1 AND v.status IN ('queued', 'called')
           ORDER BY v.line, (v.priority IS NOT NULL) DESC, v.queued_at, v.ticket""",
        branch_id,
    )
    today_start, _ = day_bounds(book, branch_id, now.astimezone(book.calendar(branch_id).tz).date())
    counters = await conn.fetch(
        """SELECT counter_id, staff_id, visit_id, ticket, line, busy_since, last_line, last_active_at,
                  state, pause_reason, state_since, lines
           FROM counters WHERE branch_id = $1
             AND (visit_id IS NOT NULL OR greatest(last_active_at, state_since) >= $2)
           ORDER BY counter_id""",
        branch_id,
        today_start,
    )
    recent = await conn.fetch(
        """SELECT line, service_seconds FROM (
               SELECT line, service_seconds,
                      row_number() OVER (PARTITION BY line ORDER BY served_at DESC) AS rn
               FROM visits
               WHERE branch_id = $1 AND served_at >= $2 AND service_seconds IS NOT NULL) s
           WHERE rn <= $3""",
        branch_id,
        now - RECENT_WINDOW,
        RECENT_SERVICES,
    )
    service_times: dict[str, list[float]] = defaultdict(list)
    for row in recent:
        service_times[row["line"]].append(row["service_seconds"])
    # only open counters serve a line (paused and closed ones call nobody): those that declared
    # the line, or declared none (every line); a busy one is busy for every line it serves
    open_by_line: dict[str, int] = defaultdict(int)
    busy_by_line: dict[str, int] = defaultdict(int)
    for row in counters:
        # open for today: opened (or re-opened by a call) since the day began
        if row["state"] != "open" or (row["state_since"] or row["last_active_at"]) < today_start:
            continue
        for name in row["lines"] or catalogue.lines:
            open_by_line[name] += 1
            busy_by_line[name] += row["visit_id"] is not None

    people = [_waiting_row(r, now) for r in waiting]
    lines = []
    for name, spec in catalogue.lines.items():
        queued = [p for p in people if p["line"] == name and p["status"] == "queued"]
        mean = mean_service_time(service_times.get(name, []), spec.default_service_time)
        open_counters = open_by_line.get(name, 0)
        estimate = (
            estimated_wait(
                waiting=len(queued), busy=busy_by_line.get(name, 0), counters=open_counters, service_time=mean
            )
            if open_counters
            else None  # no counter open for the line: no honest estimate
        )
        lines.append(
            {
                "line": name,
                "label": spec.label,
                "prefix": spec.prefix,
                "waiting": len(queued),
                "called": sum(1 for p in people if p["line"] == name and p["status"] == "called"),
                "longest_wait_seconds": max((p["waited_seconds"] for p in queued), default=0),
                "at_risk": sum(1 for p in queued if p["sla"] == "at_risk"),
                "breached": sum(1 for p in queued if p["sla"] == "breached"),
                "open_counters": open_counters,
                #: the same figure (the name before counters could be opened and closed)
                "counters_serving": open_counters,
                "mean_service_seconds": round(mean.total_seconds()),
                "service_time_samples": len(service_times.get(name, [])),
                "estimated_wait_seconds": None if estimate is None else round(estimate.total_seconds()),
            }
        )
    return {
        "branch_id": branch_id,
        "at": now,
        "waiting": people,
        "counters": [
            {
                "counter_id": r["counter_id"],
                #: busy (a customer at it), free (open, nobody at it), paused, closed
                "status": "busy" if r["visit_id"] is not None else _free_or(r["state"]),
                "state": r["state"],
                "pause_reason": r["pause_reason"],
                "state_since": r["state_since"],
                "lines": list(r["lines"]),
                "staff_id": r["staff_id"],
                "visit_id": r["visit_id"],
                "ticket": r["ticket"],
                "line": r["line"] or r["last_line"],
                "busy_since": r["busy_since"],
            }
            for r in counters
        ],
        "lines": lines,
        #: greeted, guided, documents, being served: counts and who (tickets, no names)
        "in_progress": await in_progress(conn, branch_id, now),
    }


def _free_or(state: str) -> str:
    return "free" if state == "open" else state


def _waiting_row(r: asyncpg.Record, now: datetime) -> dict[str, Any]:
    until = r["first_called_at"] if r["status"] == "called" else now
    return {
        "visit_id": r["visit_id"],
        "ticket": r["ticket"],
        "line": r["line"],
        "service_type": r["service_type"],
        "status": r["status"],
        "priority": r["priority"],
        "accessibility": list(r["accessibility"]),
        "display_name": r["display_name"],
        "relationship_manager": r["relationship_manager"],
        "calls": r["calls"],
        "counter_id": r["counter_id"],
        "queued_at": r["queued_at"],
        "waited_seconds": max(round((until - r["queued_at"]).total_seconds()), 0),
        "sla": r["sla_status"] or "on_track",
        "wait_due_at": r["wait_due_at"],
    }


async def day_stats(conn: asyncpg.Connection, branch_id: str, day: date, book: PolicyBook) -> dict[str, Any]:
    totals = await conn.fetchrow(
        """SELECT count(*) AS visits,
                  count(*) FILTER (WHERE served_at IS NOT NULL) AS served,
                  count(*) FILTER (WHERE queued_at IS NOT NULL) AS queued,
                  count(*) FILTER (WHERE left_reason = 'abandoned') AS abandoned,
                  count(*) FILTER (WHERE left_reason = 'no_show') AS no_shows,
                  count(*) FILTER (WHERE left_reason = 'before_queue') AS left_before_queue,
                  count(*) FILTER (WHERE left_reason = 'did_not_return') AS did_not_return,
                  count(*) FILTER (WHERE status NOT IN ('left')) AS still_in_branch,
                  count(*) FILTER (WHERE waited_seconds IS NOT NULL) AS waits,
                  avg(waited_seconds) AS avg_wait,
                  percentile_cont(0.9) WITHIN GROUP (ORDER BY waited_seconds) AS p90_wait,
                  max(waited_seconds) AS max_wait,
                  avg(service_seconds) AS avg_service,
                  count(*) FILTER (WHERE document_checks > 0) AS checked,
                  count(*) FILTER (WHERE first_check_complete) AS complete_first_time,
                  count(*) FILTER (WHERE sla_status = 'at_risk') AS at_risk,
                  count(*) FILTER (WHERE sla_status = 'breached') AS breached,
                  coalesce(sum(complaints), 0) AS complaints,
                  count(*) FILTER (WHERE priority IS NOT NULL) AS priority
           FROM visits WHERE branch_id = $1 AND day = $2""",
        branch_id,
        day,
    )
    by_type = await conn.fetch(
        """SELECT coalesce(service_type, 'not_confirmed') AS service_type, count(*) AS visits,
                  count(*) FILTER (WHERE served_at IS NOT NULL) AS served,
                  avg(waited_seconds) AS avg_wait,
                  percentile_cont(0.9) WITHIN GROUP (ORDER BY waited_seconds) AS p90_wait
           FROM visits WHERE branch_id = $1 AND day = $2
           GROUP BY 1 ORDER BY 2 DESC, 1""",
        branch_id,
        day,
    )
    start, end = day_bounds(book, branch_id, day)
    calls = await conn.fetchrow(
        """SELECT count(*) AS received, count(answered_at) AS answered,
                  count(*) FILTER (WHERE within_target) AS within_target,
                  count(*) FILTER (WHERE outcome = 'missed') AS missed,
                  avg(seconds_to_answer) AS avg_seconds_to_answer
           FROM calls WHERE branch_id = $1 AND received_at >= $2 AND received_at < $3""",
        branch_id,
        start,
        end,
    )
    assert totals is not None and calls is not None
    return {
        "branch_id": branch_id,
        "date": day,
        "visits": totals["visits"],
        "served": totals["served"],
        "still_in_branch": totals["still_in_branch"],
        "priority_visits": totals["priority"],
        "complaints_raised": totals["complaints"],
        "by_service_type": [
            {
                "service_type": r["service_type"],
                "visits": r["visits"],
                "served": r["served"],
                "average_wait_seconds": _round(r["avg_wait"]),
                "p90_wait_seconds": _round(r["p90_wait"]),
            }
            for r in by_type
        ],
        "wait": {
            "called": totals["waits"],
            "average_seconds": _round(totals["avg_wait"]),
            "p90_seconds": _round(totals["p90_wait"]),
            "max_seconds": _round(totals["max_wait"]),
            "at_risk": totals["at_risk"],
            "breached": totals["breached"],
        },
        "average_service_seconds": _round(totals["avg_service"]),
        "abandonment": {
            "queued": totals["queued"],
            "abandoned": totals["abandoned"],
            "no_shows": totals["no_shows"],
            "rate": _ratio(totals["abandoned"], totals["queued"]),
        },
        "left_before_queue": totals["left_before_queue"],
        "did_not_return": totals["did_not_return"],
        "first_visit_completion": {
            "documents_checked": totals["checked"],
            "complete_first_time": totals["complete_first_time"],
            "rate": _ratio(totals["complete_first_time"], totals["checked"]),
        },
        "calls": {
            "received": calls["received"],
            "answered": calls["answered"],
            "answered_within_target": calls["within_target"],
            "missed": calls["missed"],
            "within_target_rate": _ratio(calls["within_target"], calls["answered"]),
            "average_seconds_to_answer": _round(calls["avg_seconds_to_answer"], 1),
        },
    }


def _round(value: float | None, digits: int = 0) -> float | None:
    return None if value is None else round(float(value), digits)


def _ratio(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)
