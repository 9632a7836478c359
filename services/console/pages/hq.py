"""The HQ dashboard: branches ranked by any KPI, the region roll-up, complaints by category over
time, SLA compliance per policy, crisis alerts, and the regulatory report with its CSV.

Everything comes from HQ's read model (``/hq/*``, action ``hq.read``: HQ-wide tokens only). The
category chart asks the report for each day (or week) of the period; the bank-wide SLA figures
are the sums of the regions' per-policy counts.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import date, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.backend import Unavailable
from services.console.charts import stacked_columns
from services.console.i18n import Translator
from services.console.session import Session, Staff, T
from services.console.web import Panel, fetch, problem_of, render, unavailable_text

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter()

ACTION = "hq.read"
DEFAULT_DAYS = 30
MAX_BUCKETS = 16
RANK_LIMIT = 50
#: the KPIs shown next to the ranked one (the ranked one comes first)
HEADLINE = ("visits", "p90_wait_seconds", "complaints_received", "sla_compliance", "satisfaction_rate")
PERCENT_KPIS = frozenset(
    {
        "wait_within_target",
        "abandon_rate",
        "phone_in_target",
        "fcr_rate",
        "sla_compliance",
        "satisfaction_rate",
        "response_rate",
        "satisfaction_target",
        "satisfaction_gap",
        "compliance",
    }
)
REPORT_COLUMNS = ("received", "decided", "closed", "share_decided_within_15d", "share_decided_within_30d")


def kpi_kind(name: str) -> str:
    if name in PERCENT_KPIS or name.startswith("share_"):
        return "percent"
    if name.endswith("_seconds"):
        return "duration"
    if name.endswith("_days"):
        return "days"
    return "number"


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def buckets(first: date, last: date) -> list[tuple[date, date]]:
    """Days of the period, or weeks when there are too many days (at most ``MAX_BUCKETS``)."""
    days = (last - first).days + 1
    size = 1 if days <= MAX_BUCKETS else 7
    if days / size > MAX_BUCKETS:
        size = -(-days // MAX_BUCKETS)
    out = []
    start = first
    while start <= last:
        end = min(start + timedelta(days=size - 1), last)
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


def category_counts(report: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in report.get("rows", []):
        counts[str(row.get("category"))] += int(row.get("received") or 0)
    return dict(counts)


def sla_totals(region_views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per policy over every region: met, breached, late, at risk, and met / (met + breached)."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for view in region_views:
        for row in view.get("sla", []):
            for key in ("met", "breached", "late", "at_risk"):
                sums[row["sla"]][key] += int(row.get(key) or 0)
    out = []
    for sla in sorted(sums):
        s = sums[sla]
        decided = s["met"] + s["breached"]
        out.append({"sla": sla, **s, "compliance": None if not decided else s["met"] / decided})
    return out


async def _chart(
    request: Request, session: Session, t: Translator, first: date, last: date
) -> tuple[Any, str | None]:
    periods = buckets(first, last)
    panels = await asyncio.gather(
        *(
            fetch(
                request.app.state.backend,
                session,
                t,
                "hq",
                "/hq/reports/complaints",
                action=ACTION,
                params={"from": a.isoformat(), "to": b.isoformat(), "format": "json"},
            )
            for a, b in periods
        )
    )
    problem = next((p.problem for p in panels if not p.ok), None)
    if problem:
        return None, problem
    per_period = [category_counts(p.data) for p in panels]
    categories = sorted(
        {c for counts in per_period for c in counts}, key=lambda c: -sum(x.get(c, 0) for x in per_period)
    )
    series = {c: [counts.get(c, 0) for counts in per_period] for c in categories}
    labels = [a.strftime("%m-%d") for a, _ in periods]
    chart = stacked_columns(
        labels,
        series,
        labels={c: t.label("category", c) for c in categories},
        title=t("hq.complaints_chart"),
        empty=t("chart.empty"),
    )
    return chart, None


@router.get("/hq")
async def dashboard(request: Request, session: Staff, t: T) -> Response:
    session.require(ACTION)
    q = request.query_params
    today = request.app.state.clocks.today(None)
    last = _day(q.get("to")) or today
    first = _day(q.get("from")) or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    sort = q.get("sort") or "complaints_received"
    order = q.get("order") if q.get("order") in ("asc", "desc") else None
    period = {"date_from": first.isoformat(), "date_to": last.isoformat()}
    backend = request.app.state.backend

    def get(path: str, params: dict[str, Any] | None = None) -> Any:
        return fetch(backend, session, t, "hq", path, action=ACTION, params=params)

    kpis, ranking, regions, alerts, report, (chart, chart_problem) = await asyncio.gather(
        get("/hq/kpis"),
        get("/hq/branches", {**period, "sort": sort, "order": order, "limit": RANK_LIMIT}),
        get("/hq/regions", period),
        get("/hq/alerts", {"limit": 20}),
        get("/hq/reports/complaints", {"from": first.isoformat(), "to": last.isoformat(), "format": "json"}),
        _chart(request, session, t, first, last),
    )
    region_names = [r["region"] for r in regions.data.get("regions", [])] if regions.ok else []
    region_views = await asyncio.gather(
        *(get(f"/hq/regions/{name}", {**period, "top": 0}) for name in region_names)
    )
    sla = Panel(data=sla_totals([v.data for v in region_views if v.ok]))
    if regions.ok and any(not v.ok for v in region_views):
        sla.problem = next(v.problem for v in region_views if not v.ok)
    elif not regions.ok:
        sla.problem = regions.problem
    kpi_names = [k["name"] for k in kpis.data.get("kpis", [])] if kpis.ok else list(HEADLINE)
    if sort not in kpi_names:
        sort = kpi_names[0] if kpi_names else sort
    columns = [sort] + [k for k in HEADLINE if k != sort]
    return render(
        request,
        "hq.html",
        t,
        session,
        active="nav.hq",
        first=first,
        last=last,
        sort=sort,
        order=(ranking.data or {}).get("order") if ranking.ok else order,
        kpi_names=kpi_names,
        columns=columns,
        ranking=ranking,
        regions=regions,
        sla=sla,
        alerts=alerts,
        report=report,
        chart=chart,
        chart_problem=chart_problem,
        report_columns=REPORT_COLUMNS,
        kpi_kind=kpi_kind,
    )


@router.get("/hq/reports/complaints.{fmt}")
async def report_file(request: Request, session: Staff, t: T, fmt: Literal["csv", "xlsx"]) -> Response:
    """The regulatory report as HQ's CSV (UTF-8 with a BOM) or Excel workbook (a sheet per section),
    downloaded through the console (same token, same rule)."""
    session.require(ACTION)
    q = request.query_params
    params = {"from": q.get("from"), "to": q.get("to"), "region": q.get("region"), "format": fmt}
    accept = "text/csv" if fmt == "csv" else XLSX_MEDIA_TYPE
    try:
        result = await request.app.state.backend.get(
            session, "hq", "/hq/reports/complaints", action=ACTION, params=params, accept=accept
        )
    except Unavailable as exc:
        return Response(unavailable_text(exc, t), status_code=503, media_type="text/plain; charset=utf-8")
    if not result.ok:
        return Response(
            problem_of(result, t), status_code=result.status, media_type="text/plain; charset=utf-8"
        )
    disposition = result.headers.get("content-disposition") or f'attachment; filename="complaints.{fmt}"'
    return Response(
        result.content,
        media_type=result.headers.get("content-type", "text/csv; charset=utf-8"),
        headers={"Content-Disposition": disposition},
    )
