"""HQ HTTP routes: branches (one, or ranked by any KPI), regions, the complaint report, alerts, status
and the rebuild.

Periods are inclusive branch-local days (``date_from``/``date_to``, or ``from``/``to`` on the
report); the default is today in HQ's time zone. Read models only: HQ never sees raw PII.

Access (``shared/SECURITY.md``): the reports are ``hq.read`` (HQ analysts, HQ-wide token); the
read model's status is ``hq.status.read`` (analysts and admins, who start rebuilds); a rebuild is
``hq.admin.rebuild`` (admin).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

from services.hq import queries, report, report_queries, workbook
from services.hq.components import HqComponents, Parts
from services.hq.config import report_data
from services.hq.kpis import KPIS, compute
from services.hq.rebuild import request_rebuild, status
from services.hq.schemas import (
    AlertList,
    BranchRanking,
    BranchSummary,
    ComplaintReport,
    KpiDefinitions,
    ReadModelStatus,
    RebuildState,
    RegionList,
    RegionSummary,
)
from shared.auth import Principal, requires
from shared.envelope import Metadata
from shared.http import command_metadata

router = APIRouter(tags=["hq"])

BranchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:\-]{1,128}$")]
RegionName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Meta = Annotated[Metadata, Depends(command_metadata)]
MAX_PERIOD_DAYS = 366
HqReader = Annotated[Principal, Depends(requires("hq.read"))]


def _period(parts: HqComponents, first: date | None, last: date | None) -> tuple[date, date]:
    today = parts.today()
    last = last or (first if first and first > today else today)
    first = first or last
    if first > last:
        raise HTTPException(422, "date_from must not be after date_to")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise HTTPException(422, f"the period is limited to {MAX_PERIOD_DAYS} days")
    return first, last


DateFrom = Annotated[date | None, Query(description="first day, inclusive (default: today)")]
DateTo = Annotated[date | None, Query(description="last day, inclusive (default: today)")]


@router.get("/hq/branches/{branch_id}", response_model=BranchSummary, operation_id="hq_branch_summary")
async def branch_summary(
    branch_id: BranchId, parts: Parts, staff: HqReader, date_from: DateFrom = None, date_to: DateTo = None
) -> BranchSummary:
    """One branch: KPIs for the period, SLA compliance per policy, complaints by category and
    nature, what is breaching now, and the alerts it is part of."""
    first, last = _period(parts, date_from, date_to)
    async with parts.pool.acquire() as conn:
        detail = await queries.branch_detail(conn, branch_id, first, last, parts.config.satisfaction_target)
    return BranchSummary(
        branch_id=branch_id,
        region=parts.regions.region_of(branch_id),
        date_from=first,
        date_to=last,
        **detail,
    )


@router.get("/hq/branches", response_model=BranchRanking, operation_id="hq_rank_branches")
async def rank_branches(
    parts: Parts,
    staff: HqReader,
    sort: Annotated[str, Query(description="a KPI name (GET /hq/kpis)")] = "complaints_received",
    order: Annotated[Literal["asc", "desc"] | None, Query(description="default: worst first")] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    region: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_\-]{1,64}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Branches with activity in the period, ranked by any KPI; undefined values (no data) last."""
    if sort not in KPIS:
        raise HTTPException(422, f"unknown KPI {sort!r}; one of: {', '.join(sorted(KPIS))}")
    first, last = _period(parts, date_from, date_to)
    kpi = KPIS[sort]
    descending = (order == "desc") if order else not kpi.higher_is_better
    async with parts.pool.acquire() as conn:
        branches = None if region is None else await parts.directory.in_region(conn, region)
        total, rows = await queries.ranking(
            conn,
            sort=sort,
            descending=descending,
            first=first,
            last=last,
            branches=branches,
            limit=limit,
            offset=offset,
        )
    target = parts.config.satisfaction_target
    items = []
    for rank, row in enumerate(rows, start=offset + 1):
        value = row.pop("sort_value")
        branch = row.pop("branch_id")
        items.append(
            {
                "rank": rank,
                "branch_id": branch,
                "region": parts.regions.region_of(branch),
                "value": value,
                "kpis": compute(row, target),
            }
        )
    return {
        "sort": sort,
        "order": "desc" if descending else "asc",
        "date_from": first,
        "date_to": last,
        "region": region,
        "total": total,
        "limit": limit,
        "offset": offset,
        "branches": items,
    }


@router.get("/hq/regions", response_model=RegionList, operation_id="hq_regions")
async def regions(
    parts: Parts, staff: HqReader, date_from: DateFrom = None, date_to: DateTo = None
) -> dict[str, Any]:
    """Every region with known branches: branch count and headline KPIs for the period."""
    first, last = _period(parts, date_from, date_to)
    out = []
    async with parts.pool.acquire() as conn:
        by_region = await parts.directory.by_region(conn)
        for name in sorted(set(by_region) | parts.regions.configured_regions()):
            members = by_region.get(name, [])
            sums = await queries.period_sums(conn, first, last, members) if members else {}
            out.append(
                {
                    "region": name,
                    "branches": len(members),
                    "kpis": compute(sums, parts.config.satisfaction_target),
                }
            )
    return {"date_from": first, "date_to": last, "regions": out}


@router.get("/hq/regions/{region}", response_model=RegionSummary, operation_id="hq_region_summary")
async def region_summary(
    region: RegionName,
    parts: Parts,
    staff: HqReader,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    top: Annotated[int, Query(ge=0, le=100, description="best and worst branches to list")] = 5,
) -> dict[str, Any]:
    """A region's roll-up: the sums of its branches' counters, the KPIs from those sums, SLA
    compliance per policy, categories, breaches now, and its best and worst branches."""
    first, last = _period(parts, date_from, date_to)
    target = parts.config.satisfaction_target
    async with parts.pool.acquire() as conn:
        members = await parts.directory.in_region(conn, region)
        if not members and region not in parts.regions.configured_regions():
            raise HTTPException(404, f"no branch belongs to region {region!r}")
        sums = await queries.period_sums(conn, first, last, members)
        view = queries.kpi_view(sums, target)
        sla = await queries.sla_by_policy(conn, first, last, members)
        categories = await queries.by_category(conn, first, last, members)
        now = await queries.open_breaches(conn, members)
        ranked: dict[str, Any] = {}
        for sort in ("sla_compliance", "satisfaction_rate", "p90_wait_seconds"):
            kpi = KPIS[sort]
            _, worst = await queries.ranking(
                conn,
                sort=sort,
                descending=not kpi.higher_is_better,
                first=first,
                last=last,
                branches=members,
                limit=top,
                offset=0,
            )
            ranked[f"worst_by_{sort}"] = [
                {"branch_id": r["branch_id"], "value": r["sort_value"]} for r in worst
            ]
    return {
        "region": region,
        "date_from": first,
        "date_to": last,
        "branches": len(members),
        **view,
        "sla": sla,
        "by_category": categories,
        "now": now,
        **ranked,
    }


@router.get(
    "/hq/reports/complaints",
    response_model=ComplaintReport,
    response_model_exclude_unset=True,  # with ``section``: the header and that section only
    operation_id="hq_complaint_report",
    responses={
        200: {
            "description": "JSON; or with ``format=csv`` / ``format=xlsx`` the same report as a file",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                workbook.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def complaint_report(
    parts: Parts,
    staff: HqReader,
    from_: Annotated[
        date | None, Query(alias="from", description="first receipt day (default: 30 days ago)")
    ] = None,
    to: Annotated[date | None, Query(description="last receipt day, inclusive (default: today)")] = None,
    format: Annotated[
        Literal["json", "csv", "xlsx"],
        Query(description="json; csv (UTF-8 with BOM, for Excel); xlsx (one sheet per section)"),
    ] = "json",
    region: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_\-]{1,64}$")] = None,
    by: Annotated[
        str | None,
        Query(
            description="dimensions (default category,nature,channel): "
            + ", ".join(report.AVAILABLE_DIMENSIONS)
        ),
    ] = None,
    as_of: Annotated[
        datetime | None, Query(description="count remediation actions at this moment (default: now)")
    ] = None,
    section: Annotated[
        str | None, Query(description="one section only: " + ", ".join(report.SECTIONS))
    ] = None,
) -> Any:
    """The regulatory complaint statistics for complaints received in the period: classification
    by channel, business type and cause code, counts by category × nature × channel (or ``by``),
    rates per 1,000 branches and per 10 million customers, the handling-time distribution and the
    shares decided within 15 / 30 / 60 days, extensions, reviews and remediation actions open /
    overdue at ``as_of`` (definitions in the response). CSV: every section in one file, or one
    ``section`` as a plain table; XLSX: one sheet per section (or the one ``section``)."""
    try:
        dimensions = report.parse_dimensions(by)
        only = report.parse_section(section)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    last = to or parts.today()
    first = from_ or last - timedelta(days=29)
    first, last = _period(parts, first, last)
    customers, codes = report_data(parts.config)
    async with parts.pool.acquire() as conn:
        members = None if region is None else await parts.directory.in_region(conn, region)
        covered = members if members is not None else await parts.directory.all_branches(conn)
        built = await report_queries.generate(
            conn,
            first=first,
            last=last,
            branches=members,
            covered_branches=covered,
            as_of=as_of or parts.clock.now(),
            customers=customers,
            codes=codes,
            dimensions=dimensions,
            region=region,
            read_model_generation=(await status(conn))["generation"],
        )
    name = f"complaints_{first}_{last}{'' if only is None else '_' + only}"
    if format == "csv":
        return Response(
            workbook.to_csv_bytes(built, only),
            media_type=workbook.CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "xlsx":
        return Response(
            workbook.to_xlsx(built, None if only is None else [only]),
            media_type=workbook.XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return report.select(built, only)


@router.get("/hq/alerts", response_model=AlertList, operation_id="hq_alerts")
async def alerts(
    parts: Parts,
    staff: HqReader,
    kind: Annotated[Literal["spike", "repeat_complainant"] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="alerts whose window ended after this")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Cross-branch patterns: category spikes (crisis suspected) and customers complaining in
    several branches; ``published`` tells whether the alert went out as an event on hq.events.v1."""
    async with parts.pool.acquire() as conn:
        items = await queries.list_alerts(conn, kind=kind, since=since, limit=limit)
    return {"alerts": items}


@router.get("/hq/kpis", response_model=KpiDefinitions, operation_id="hq_kpi_definitions")
async def kpi_definitions(parts: Parts, staff: HqReader) -> dict[str, Any]:
    """The KPIs branches can be ranked by, with their definitions."""
    return {
        "satisfaction_target": parts.config.satisfaction_target,
        "kpis": [
            {"name": k.name, "description": k.description, "higher_is_better": k.higher_is_better}
            for k in KPIS.values()
        ],
    }


@router.get("/hq/status", response_model=ReadModelStatus, operation_id="hq_status")
async def hq_status(
    parts: Parts, staff: Annotated[Principal, Depends(requires("hq.status.read"))]
) -> dict[str, Any]:
    """The read model's generation, whether it is (re)building, and how fresh it is."""
    async with parts.pool.acquire() as conn:
        state = await status(conn)
        last = await conn.fetchval("SELECT max(last_event_at) FROM branches")
        branches = await conn.fetchval("SELECT count(*) FROM branches")
    now = parts.clock.now()
    return {
        **state,
        "branches": branches,
        "last_event_at": last,
        "seconds_since_last_event": None if last is None else (now - last).total_seconds(),
    }


@router.post("/hq/admin/rebuild", status_code=202, response_model=RebuildState, operation_id="hq_rebuild")
async def rebuild(
    parts: Parts,
    staff: Annotated[Principal, Depends(requires("hq.admin.rebuild"))],
    meta: Meta,
    response: Response,
) -> dict[str, Any]:
    """Empty the read model and rebuild it from the topics, from the beginning (a new consumer
    group generation). Poll GET /hq/status until ``rebuilding`` is false."""
    async with parts.pool.acquire() as conn:
        generation = await request_rebuild(conn, requested_by=meta.actor, now=parts.clock.now())
        state = await status(conn)
    response.headers["Location"] = "/hq/status"
    return {**state, "generation": generation}
