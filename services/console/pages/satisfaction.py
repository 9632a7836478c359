"""Branch satisfaction: the rate against the 95 % target, the daily trend, by service type and by
staff member, and the latest comments."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from services.console.charts import rate_line
from services.console.pages.page import BranchPage

router = APIRouter()

DEFAULT_DAYS = 30
COMMENTS = 20
OVERALL_KEYS = (
    "requested", "reached", "answered", "expired", "pending", "negative", "satisfaction_rate", "csat_average",
    "response_rate", "target", "gap_to_target", "meets_target", "delivery",
)  # fmt: skip


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def day_points(by_day: list[dict[str, Any]], first: date, last: date) -> list[tuple[str, float | None]]:
    """One point per day of the period; a day without answers is a gap, not a zero."""
    rates = {str(row.get("key")): row.get("satisfaction_rate") for row in by_day}
    points = []
    day = first
    while day <= last:
        points.append((day.strftime("%m-%d"), rates.get(day.isoformat())))
        day += timedelta(days=1)
    return points


def comments_of(body: Any) -> list[dict[str, Any]]:
    """Answered surveys with a comment, whatever list shape the feedback service returns."""
    items = (
        body
        if isinstance(body, list)
        else next(
            (
                body[k]
                for k in ("surveys", "items", "responses", "comments")
                if isinstance(body, dict) and k in body
            ),
            [],
        )
    )
    return [i for i in items if isinstance(i, dict) and i.get("comment")][:COMMENTS]


@router.get("/b/{branch_id}/satisfaction")
async def satisfaction_page(page: BranchPage) -> Response:
    page.require("feedback.read")
    t, branch_id, params = page.t, page.branch_id, page.request.query_params
    last = _day(params.get("to")) or page.request.app.state.clocks.today(branch_id)
    first = _day(params.get("from")) or last - timedelta(days=DEFAULT_DAYS - 1)
    figures, comments = await asyncio.gather(
        page.fetch(
            "feedback", f"/branches/{branch_id}/satisfaction", action="feedback.read",
            params={"from": first.isoformat(), "to": last.isoformat()},
        ),
        page.fetch(
            "feedback", f"/branches/{branch_id}/surveys", action="feedback.read",
            params={"status": "answered", "limit": COMMENTS},
        ),
    )  # fmt: skip
    chart = None
    target = 0.95
    if figures.ok:
        target = float(figures.data.get("target") or target)
        overall = figures.data.get("overall") or {}
        figures.data["overall"] = {key: overall.get(key) for key in OVERALL_KEYS}
        chart = rate_line(
            day_points(figures.data.get("by_day", []), first, last),
            target=target,
            title=t("sat.trend"),
            target_label=t("chart.target_line"),
            empty=t("chart.empty"),
            y_min=0.5,
        )
    comments_problem = None
    if not comments.ok:
        missing = comments.result is not None and comments.result.route_missing
        comments_problem = t("sat.comments_missing", branch=branch_id) if missing else comments.problem
    return page.render(
        "satisfaction.html",
        active="nav.satisfaction",
        figures=figures,
        chart=chart,
        target=target,
        first=first,
        last=last,
        comments=comments_of(comments.data) if comments.ok else [],
        comments_problem=comments_problem,
    )
