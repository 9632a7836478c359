"""HQ for analysts: every route has a typed response in OpenAPI with a stable operationId; the
complaint report as an Excel workbook (a sheet per section, formatted frozen headers) and as CSV
with a BOM."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import load_workbook

from services.hq.report import SECTIONS
from services.hq.report_csv import parse_csv_sections, section_table
from services.hq.service import SERVICE
from services.hq.workbook import BOM, to_csv_bytes, to_xlsx
from shared.runner import create_app
from shared.settings import ServiceSettings
from tests.unit.hq.test_report import full

#: clients (generated SDKs, Power Query scripts) call these by name: renaming one breaks them
OPERATION_IDS = {
    ("get", "/hq/branches/{branch_id}"): "hq_branch_summary",
    ("get", "/hq/branches"): "hq_rank_branches",
    ("get", "/hq/regions"): "hq_regions",
    ("get", "/hq/regions/{region}"): "hq_region_summary",
    ("get", "/hq/reports/complaints"): "hq_complaint_report",
    ("get", "/hq/alerts"): "hq_alerts",
    ("get", "/hq/kpis"): "hq_kpi_definitions",
    ("get", "/hq/status"): "hq_status",
    ("post", "/hq/admin/rebuild"): "hq_rebuild",
}


def openapi() -> dict[str, Any]:
    settings = ServiceSettings(
        database_url="postgresql://x@127.0.0.1:1/x", kafka_bootstrap_servers="127.0.0.1:1"
    )
    return create_app(SERVICE, settings).openapi()


def test_every_hq_route_has_a_typed_response_with_an_example_and_a_stable_operation_id() -> None:
    spec = openapi()
    routes = {
        (m, p): op for p, item in spec["paths"].items() if p.startswith("/hq/") for m, op in item.items()
    }
    assert set(routes) == set(OPERATION_IDS)
    schemas = spec["components"]["schemas"]
    for key, op in routes.items():
        assert op["operationId"] == OPERATION_IDS[key]
        ok = next(code for code in op["responses"] if code.startswith("2"))
        schema = op["responses"][ok]["content"]["application/json"]["schema"]
        name = schema["$ref"].rsplit("/", 1)[-1]
        model = schemas[name]
        assert model["type"] == "object" and model["properties"], f"{key}: {name} is untyped"
        assert model.get("examples"), f"{key}: {name} has no example"
    report = routes[("get", "/hq/reports/complaints")]["responses"]["200"]["content"]
    assert {"text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"} <= set(report)
    kpis = schemas["Kpis"]["properties"]
    assert kpis["sla_compliance"]["description"] and "integer" in str(kpis["visits"])


def test_the_xlsx_has_a_sheet_per_section_with_formatted_frozen_headers() -> None:
    built = full()
    book = load_workbook(io.BytesIO(to_xlsx(built)))
    assert book.sheetnames == list(SECTIONS)
    assert "complaint report" in (book.properties.title or "")
    for name in SECTIONS:
        sheet = book[name]
        columns, body = section_table(built, name)
        header = [c.value for c in sheet[1]]
        assert [h.removesuffix(" (UTC)") for h in header] == list(columns), name
        assert sheet.freeze_panes == "A2" and all(c.font.bold for c in sheet[1])
        assert sheet.max_row == len(body) + 1
    rows = book["rows"]
    header = [c.value for c in rows[1]]
    total = rows[rows.max_row]
    assert total[0].value == "ALL" and total[header.index("received")].value == 10
    share = total[header.index("share_decided_within_15d")]
    assert share.number_format == "0.0%" and abs(share.value - 0.6) < 1e-9
    overdue = book["overdue_actions"]
    assert [c.value for c in overdue[1]][5] == "due_at (UTC)"
    assert overdue.cell(row=2, column=6).value.year == 2026  # a real Excel date, not text
    summary = {r[0].value: r[1] for r in book["summary"].iter_rows(min_row=2)}
    assert summary["share_decided"].number_format == "0.0%" and summary["received"].value == 10


def test_one_section_as_xlsx() -> None:
    book = load_workbook(io.BytesIO(to_xlsx(full(), ["by_cause_code"])))
    assert book.sheetnames == ["by_cause_code"]


def test_the_csv_starts_with_a_bom_and_keeps_chinese_text() -> None:
    built = full()
    built["rows"][0]["category"] = "服务态度"
    data = to_csv_bytes(built)
    assert data.startswith(b"\xef\xbb\xbf") and "服务态度".encode() in data
    text = data.decode("utf-8")
    assert text.startswith(BOM) and list(parse_csv_sections(text)) == list(SECTIONS)
    one = to_csv_bytes(built, "rows").decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(one)))[0] == "category"
