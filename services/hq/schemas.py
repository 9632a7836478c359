"""HQ's response models: what every HQ route returns, typed for analysts' tools (OpenAPI).

Ratios are fractions (0.95 = 95 %) and ``null`` when there is no data (never 0 %); durations are
seconds; days are branch-local dates. The descriptions of the KPIs come from ``kpis.KPIS`` and of
the report's measures from ``report.DEFINITIONS``, so the schema and the arithmetic say the same.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model

from services.hq.kpis import KPIS
from services.hq.report import DEFINITIONS, MEASURE_COLUMNS, MEASURES


def _example(example: dict[str, Any], *, populate_by_name: bool = False) -> ConfigDict:
    """A response model's configuration with its one OpenAPI example."""
    config = ConfigDict(json_schema_extra={"examples": [example]})
    if populate_by_name:
        config["populate_by_name"] = True
    return config


def _kpi(name: str) -> Any:
    return Field(description=KPIS[name].description)


class Kpis(BaseModel):
    """Every KPI of a branch, region or the bank over a period (GET /hq/kpis defines them)."""

    visits: int = _kpi("visits")
    avg_wait_seconds: float | None = _kpi("avg_wait_seconds")
    p90_wait_seconds: float | None = _kpi("p90_wait_seconds")
    wait_within_target: float | None = _kpi("wait_within_target")
    wait_breaches: int = _kpi("wait_breaches")
    abandon_rate: float | None = _kpi("abandon_rate")
    phone_in_target: float | None = _kpi("phone_in_target")
    complaints_received: int = _kpi("complaints_received")
    complaints_closed: int = _kpi("complaints_closed")
    complaints_per_1000_visits: float | None = _kpi("complaints_per_1000_visits")
    fcr_rate: float | None = _kpi("fcr_rate")
    avg_ack_seconds: float | None = _kpi("avg_ack_seconds")
    avg_resolve_seconds: float | None = _kpi("avg_resolve_seconds")
    sla_compliance: float | None = _kpi("sla_compliance")
    sla_breaches: int = _kpi("sla_breaches")
    followups_overdue: int = _kpi("followups_overdue")
    satisfaction_rate: float | None = _kpi("satisfaction_rate")
    satisfaction_target: float = Field(description="the bank's satisfaction target (share)")
    satisfaction_gap: float | None = Field(description="satisfaction_rate − satisfaction_target")
    avg_score: float | None = _kpi("avg_score")
    response_rate: float | None = _kpi("response_rate")
    #: survey delivery, apart from the rates (issue 22): 0 for days folded before it was counted
    survey_send_failures: int = _kpi("survey_send_failures")
    surveys_given_up: int = _kpi("surveys_given_up")
    surveys_given_up_no_contact: int = _kpi("surveys_given_up_no_contact")
    surveys_delivered: int = _kpi("surveys_delivered")
    events: int = _kpi("events")


class WaitBucket(BaseModel):
    le: float | None = Field(description="upper bound in seconds (inclusive); null = +Inf")
    count: int


class SlaCompliance(BaseModel):
    sla: str = Field(examples=["complaint.acknowledge"])
    met: int
    breached: int
    late: int = Field(description="met after the breach (done late)")
    at_risk: int
    compliance: float | None = Field(description="met / (met + breached)")


class CategoryCount(BaseModel):
    category: str | None
    nature: str | None
    received: int
    closed: int


class BreachesNow(BaseModel):
    by_sla: dict[str, int] = Field(description="deadlines breached and not done yet, per SLA")
    branches_breaching: int
    followups_overdue_now: int


class Alert(BaseModel):
    alert_key: str
    kind: str = Field(description="spike (crisis suspected) or repeat_complainant")
    category: str | None
    customer_ref: str | None = Field(description="pseudonymous reference (repeat complainants only)")
    window_start: datetime
    window_end: datetime
    branches: int
    complaints: int
    branch_ids: list[str]
    complaints_from: datetime | None
    complaints_until: datetime | None
    buckets: list[str]
    published: bool = Field(description="went out as an event on hq.events.v1")
    alert_id: UUID | None
    raised_at: datetime | None
    stream_id: str | None


class BranchSummary(BaseModel):
    model_config = _example(
        {
            "branch_id": "b001",
            "region": "east",
            "complaints_received": 12,
            "last_event_at": "2026-11-26T09:30:00Z",
            "first_event_at": "2026-01-05T01:02:03Z",
            "date_from": "2026-11-26",
            "date_to": "2026-11-26",
            "kpis": {"visits": 140, "sla_compliance": 0.97, "satisfaction_rate": 0.96},
            "counters": {"visits": 140.0},
            "wait_histogram": [{"le": 30.0, "count": 12}],
            "sla": [],
            "by_category": [],
            "now": {"by_sla": {}, "branches_breaching": 0, "followups_overdue_now": 0},
            "alerts": [],
        }
    )

    branch_id: str
    region: str
    complaints_received: int = Field(description="every complaint ever received from the branch")
    last_event_at: datetime | None
    first_event_at: datetime | None = None
    date_from: date
    date_to: date
    kpis: Kpis
    counters: dict[str, float] = Field(description="the summed daily counters behind the KPIs")
    wait_histogram: list[WaitBucket]
    sla: list[SlaCompliance]
    by_category: list[CategoryCount]
    now: BreachesNow
    alerts: list[Alert]


class RankedBranch(BaseModel):
    rank: int
    branch_id: str
    region: str
    value: float | None = Field(description="the sorted KPI's value (null: no data, ranked last)")
    kpis: Kpis


class BranchRanking(BaseModel):
    model_config = _example(
        {
            "sort": "sla_compliance",
            "order": "asc",
            "date_from": "2026-11-01",
            "date_to": "2026-11-30",
            "region": None,
            "total": 1,
            "limit": 50,
            "offset": 0,
            "branches": [{"rank": 1, "branch_id": "b042", "region": "east", "value": 0.81, "kpis": {}}],
        }
    )

    sort: str
    order: str = Field(description="asc or desc")
    date_from: date
    date_to: date
    region: str | None
    total: int = Field(description="branches with activity in the period (all pages)")
    limit: int
    offset: int
    branches: list[RankedBranch]


class RegionKpis(BaseModel):
    region: str
    branches: int
    kpis: Kpis


class RegionList(BaseModel):
    model_config = _example(
        {
            "date_from": "2026-11-26",
            "date_to": "2026-11-26",
            "regions": [{"region": "east", "branches": 40, "kpis": {"visits": 5600}}],
        }
    )

    date_from: date
    date_to: date
    regions: list[RegionKpis]


class BranchValue(BaseModel):
    branch_id: str
    value: float | None


class RegionSummary(BaseModel):
    model_config = _example(
        {
            "region": "east",
            "date_from": "2026-11-26",
            "date_to": "2026-11-26",
            "branches": 40,
            "kpis": {"visits": 5600, "sla_compliance": 0.95},
            "counters": {"visits": 5600.0},
            "wait_histogram": [],
            "sla": [],
            "by_category": [],
            "now": {"by_sla": {}, "branches_breaching": 0, "followups_overdue_now": 0},
            "worst_by_sla_compliance": [{"branch_id": "b042", "value": 0.81}],
            "worst_by_satisfaction_rate": [],
            "worst_by_p90_wait_seconds": [],
        }
    )

    region: str
    date_from: date
    date_to: date
    branches: int
    kpis: Kpis
    counters: dict[str, float]
    wait_histogram: list[WaitBucket]
    sla: list[SlaCompliance]
    by_category: list[CategoryCount]
    now: BreachesNow
    worst_by_sla_compliance: list[BranchValue]
    worst_by_satisfaction_rate: list[BranchValue]
    worst_by_p90_wait_seconds: list[BranchValue]


class AlertList(BaseModel):
    model_config = _example({"alerts": []})

    alerts: list[Alert]


class KpiDefinition(BaseModel):
    name: str
    description: str
    higher_is_better: bool


class KpiDefinitions(BaseModel):
    model_config = _example(
        {
            "satisfaction_target": 0.95,
            "kpis": [{"name": "visits", "description": "visits", "higher_is_better": True}],
        }
    )

    satisfaction_target: float
    kpis: list[KpiDefinition]


class RebuildState(BaseModel):
    """The read model's generation and its (re)build."""

    model_config = _example(
        {
            "generation": 3,
            "consumer_group": "hq-read-model-g3",
            "rebuilding": False,
            "requested_at": "2026-11-26T02:00:00Z",
            "requested_by": "admin-1",
            "started_at": "2026-11-26T02:00:01Z",
            "caught_up_at": "2026-11-26T02:03:20Z",
            "records": 1200000,
            "seconds": 199.0,
            "records_per_second": 6030.2,
            "target": {"hqfeed.events.v1:0": 40000},
        }
    )

    generation: int
    consumer_group: str
    rebuilding: bool
    requested_at: datetime | None
    requested_by: str | None
    started_at: datetime | None
    caught_up_at: datetime | None
    records: int | None
    seconds: float | None
    records_per_second: float | None
    target: dict[str, int] | None = Field(description="end offsets the generation must reach")


class ReadModelStatus(RebuildState):
    branches: int
    last_event_at: datetime | None
    seconds_since_last_event: float | None


def _measure_type(name: str) -> Any:
    integer = {m.name for m in MEASURES if m.name != "handling_days_sum"} | {
        "extensions_pending",
        "reviews_pending",
    }
    return int if name in integer else float | None


#: a row of a breakdown: its dimension columns (strings; "ALL" in the totals row) and every measure
ReportRow: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "ComplaintReportRow",
    __config__=ConfigDict(extra="allow"),
    **{
        name: (_measure_type(name), Field(description=DEFINITIONS.get(name, name)))
        for name in MEASURE_COLUMNS
    },
)


class HandlingBucket(BaseModel):
    bucket: str
    from_days: float | None
    to_days: float | None
    complaints: int
    share_of_decided: float | None


class OverdueAction(BaseModel):
    task_id: UUID | None
    complaint_id: UUID | None
    branch_id: str
    action_id: UUID | None
    owner: str | None
    due_at: datetime | None
    days_overdue: float | None


class ComplaintReport(BaseModel):
    """The regulatory complaint statistics; with ``section=`` only the header and that section."""

    model_config = _example(
        {
            "from": "2026-11-01",
            "to": "2026-11-30",
            "as_of": "2026-12-01T00:00:00Z",
            "dimensions": ["category", "nature", "channel"],
            "region": None,
            "read_model_generation": 1,
            "branches": 120,
            "customers": 2400000,
            "complaints_per_1000_branches": 3500.0,
            "complaints_per_10m_customers": 1750.0,
            "summary": {"received": 420, "decided": 400, "share_decided_within_15d": 0.93},
        },
        populate_by_name=True,
    )

    from_: date = Field(alias="from", description="first receipt day")
    to: date = Field(description="last receipt day, inclusive")
    as_of: datetime = Field(description="when remediation actions are counted")
    dimensions: list[str]
    region: str | None = None
    read_model_generation: int | None = None
    branches: int
    customers: int
    complaints_per_1000_branches: float | None
    complaints_per_10m_customers: float | None
    definitions: dict[str, str] | None = Field(None, description="what each figure means")
    summary: dict[str, float | int | None] | None = None
    totals: ReportRow | None = None  # type: ignore[valid-type]
    rows: list[ReportRow] | None = None  # type: ignore[valid-type]
    by_channel: list[ReportRow] | None = None  # type: ignore[valid-type]
    by_business_type: list[ReportRow] | None = None  # type: ignore[valid-type]
    by_cause_code: list[ReportRow] | None = None  # type: ignore[valid-type]
    handling_time: list[HandlingBucket] | None = None
    handling_time_distribution: dict[str, int] | None = None
    extensions: dict[str, int] | None = None
    reviews: dict[str, int] | None = None
    remediation: dict[str, int] | None = None
    overdue_actions: list[OverdueAction] | None = None
