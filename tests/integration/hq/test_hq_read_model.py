"""Other contexts' events published to their topics become HQ's KPIs, ranking, region roll-up,
regulatory report and alerts — through a real broker, a real HQ process and real PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest

from services.hq.report_csv import parse_csv_sections
from services.simulator.envelopes import EnvelopeFactory, Made
from shared.contracts.complaint import Category, Channel, Nature
from tests.integration.hq.steps import now, publish, read, wait_events
from tests.support.harness import Running

pytestmark = pytest.mark.integration


def _branches(prefix: str, n: int) -> list[str]:
    run = uuid.uuid4().hex[:6]
    return [f"{prefix}-{run}-{i}" for i in range(n)]


async def test_branch_events_become_kpis_ranking_regions_report_and_alerts(hq: Running) -> None:
    f = EnvelopeFactory()
    t0 = now() - timedelta(hours=3)
    a, b = _branches("sh", 2)  # region "east" by prefix (regions.toml)
    items: list[Made] = []
    # branch a: 10 visits (waits 60 s … 600 s, one breached 40 min wait), surveys 5,5,4,2 + 1 expired
    for i, waited in enumerate([60, 60, 60, 120, 120, 300, 300, 600, 600]):
        items += f.visit(a, t0 + timedelta(minutes=i), waited=waited, customer_ref=f"cust_a{i:06d}")
    items += f.visit(a, t0 + timedelta(minutes=10), waited=2400, customer_ref="cust_a000099", breach=True)
    for score in (5, 5, 4, 2, None):
        items += f.survey(a, t0, customer_ref="cust_a000001", score=score)
    # complaints at a: one closed at first contact, one escalated, one reopened, one late acknowledgement
    items += f.complaint(a, t0, customer_ref="cust_rep00001", category=Category.waiting_time)
    items += f.complaint(
        a, t0, customer_ref="cust_x000002", category=Category.service_attitude, escalate=True
    )
    items += f.complaint(a, t0, customer_ref="cust_x000003", category=Category.waiting_time, reopen=True)
    items += f.complaint(
        a,
        t0,
        customer_ref="cust_x000004",
        category=Category.fees_and_information_transparency,
        nature=Nature.major,
        channel=Channel.phone_hotline,
        steps="classified",
        breach_ack=True,
    )
    # follow-ups at a: one on time, one overdue and still open
    items += f.followup(a, t0, overdue=False)
    items += f.followup(a, t0, overdue=True, complete=False)
    # branch b: 2 fast visits, one complaint by the same customer as at a (repeat complainant)
    items += f.visit(b, t0, waited=30, customer_ref="cust_b000001")
    items += f.visit(b, t0, waited=45, customer_ref="cust_b000002")
    items += f.complaint(b, t0 + timedelta(days=1), customer_ref="cust_rep00001", steps="received")
    await publish(hq, items)
    await wait_events(hq, [a, b], len(items))

    # branch-local days (Asia/Shanghai) may be a day after UTC's: a period wide enough for both
    period = {"date_from": str(t0.date() - timedelta(days=1)), "date_to": str(t0.date() + timedelta(days=2))}
    report_period = {"from": period["date_from"], "to": period["date_to"]}
    one = await read(hq, f"/hq/branches/{a}", **period)
    k = one["kpis"]
    assert one["region"] == "east" and one["complaints_received"] == 4
    assert k["visits"] == 10 and k["wait_breaches"] == 1
    assert k["avg_wait_seconds"] == pytest.approx((3 * 60 + 2 * 120 + 2 * 300 + 2 * 600 + 2400) / 10)
    assert 600 <= k["p90_wait_seconds"] <= 900  # the 9th of 10 waits (600 s) is in the 300–600 … 900 range
    assert k["satisfaction_rate"] == pytest.approx(3 / 4) and k["response_rate"] == pytest.approx(4 / 5)
    assert k["fcr_rate"] == pytest.approx(1 / 3)  # 3 first closes: one escalated, one reopened later
    assert k["followups_overdue"] == 1 and one["now"]["followups_overdue_now"] == 1
    sla = {s["sla"]: s for s in one["sla"]}
    assert sla["reception.wait"]["breached"] == 1 and sla["reception.wait"]["met"] == 9
    assert sla["reception.wait"]["late"] == 1
    assert sla["complaint.acknowledge"]["late"] == 1 and sla["complaint.acknowledge"]["met"] == 3
    cats = {(c["category"], c["nature"]): c["received"] for c in one["by_category"]}
    assert (
        cats[("waiting_time", "general")] == 2 and cats[("fees_and_information_transparency", "major")] == 1
    )

    skeleton = await read(hq, f"/hq/branches/{b}")
    assert skeleton["complaints_received"] == 1

    ranked = await read(hq, "/hq/branches", sort="visits", order="desc", region="east", **period)
    assert [r["branch_id"] for r in ranked["branches"]][:2] == [a, b]
    worst_wait = await read(hq, "/hq/branches", sort="p90_wait_seconds", region="east", **period)
    assert worst_wait["order"] == "desc" and worst_wait["branches"][0]["branch_id"] == a
    for ranked_branch in worst_wait["branches"]:  # the SQL quantile is the Python one
        assert ranked_branch["value"] == pytest.approx(ranked_branch["kpis"]["p90_wait_seconds"])

    region = await read(hq, "/hq/regions/east", **period)
    assert region["kpis"]["visits"] >= 12 and region["branches"] >= 2
    assert (await hq.http.get(f"{hq.url}/hq/regions/nowhere")).status_code == 404

    report = await read(hq, "/hq/reports/complaints", region="east", **report_period)
    totals = report["totals"]
    assert totals["received"] == 5 and totals["decided"] == 3 and totals["decided_within_15d"] == 3
    assert totals["share_decided_within_15d"] == pytest.approx(3 / 5)
    assert report["handling_time_distribution"]["handled_le_1d"] == 3
    assert report["handling_time_distribution"]["pending"] == 2
    rows = {(r["category"], r["nature"], r["channel"]): r for r in report["rows"]}
    assert rows[("fees_and_information_transparency", "major", "phone_hotline")]["received"] == 1
    by_code = await read(
        hq, "/hq/reports/complaints", by="cause_code,business_type", region="east", **report_period
    )
    assert by_code["dimensions"] == ["cause_code", "business_type"] and by_code["totals"]["received"] == 5
    assert [r["cause_code"] for r in by_code["rows"]] == ["unspecified"]  # the factory sets no cause codes
    bad = await hq.http.get(f"{hq.url}/hq/reports/complaints", params={"by": "colour"})
    assert bad.status_code == 422
    text = await read(
        hq, "/hq/reports/complaints", format="csv", region="east", section="rows", **report_period
    )
    table = list(csv.DictReader(io.StringIO(text)))
    assert table[-1]["category"] == "ALL" and table[-1]["received"] == "5"
    assert sum(int(r["received"]) for r in table[:-1]) == 5
    whole = parse_csv_sections(
        await read(hq, "/hq/reports/complaints", format="csv", region="east", **report_period)
    )
    assert whole["rows"] == table and {r["metric"]: r["value"] for r in whole["summary"]}["received"] == "5"

    alerts = (await read(hq, "/hq/alerts", kind="repeat_complainant"))["alerts"]
    mine = [x for x in alerts if x["customer_ref"] == "cust_rep00001"]
    assert len(mine) == 1 and sorted(mine[0]["branch_ids"]) == sorted([a, b]) and mine[0]["published"]

    metrics = (await hq.http.get(f"{hq.url}/metrics")).text
    assert 'branchcare_hq_region_events_total{region="east"}' in metrics
    assert "branchcare_hq_freshness_seconds_count" in metrics
    assert 'branchcare_hq_alerts_raised_total{category="none",kind="repeat_complainant"}' in metrics
