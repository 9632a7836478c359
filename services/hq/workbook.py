"""The complaint report as an Excel workbook (openpyxl) and as CSV that Excel opens correctly.

XLSX: one sheet per section (the same tables as the CSV sections, in the same order), a bold
filled header row that stays frozen while scrolling, an auto-filter, shares formatted as percent,
times in UTC (Excel has no time zones: the header says so) and column widths that fit. The
workbook's properties carry the period and the region.

CSV: UTF-8 with a byte-order mark, so Excel (which otherwise assumes the local ANSI code page)
shows Chinese labels and codes correctly; every other CSV reader ignores or strips the mark.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from services.hq import report, report_csv

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="000000"))
_PERCENT = "0.0%"
_DECIMAL = "#,##0.00"
_INTEGER = "#,##0"
_DATETIME = "yyyy-mm-dd hh:mm"
_DATE = "yyyy-mm-dd"
_MAX_WIDTH = 60


def to_csv_bytes(built: Mapping[str, Any], section: str | None = None) -> bytes:
    """The report's CSV (every section, or one) as UTF-8 with a BOM."""
    return (BOM + report_csv.to_csv(built, section)).encode("utf-8")


def _is_share(column: str) -> bool:
    return column.startswith("share_") or column == "compliance"


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, list | tuple | dict):
        return ", ".join(str(v) for v in value) if not isinstance(value, dict) else str(value)
    if value is not None and not isinstance(value, int | float | str | bool | date):
        return str(value)
    return value


def _header_label(column: str, sample: Sequence[Any]) -> str:
    return f"{column} (UTC)" if any(isinstance(v, datetime) for v in sample) else column


def _number_format(column: str, values: Sequence[Any], row_share: bool = False) -> str | None:
    if any(isinstance(v, datetime) for v in values):
        return _DATETIME
    if any(isinstance(v, date) for v in values):
        return _DATE
    if _is_share(column) or row_share:
        return _PERCENT
    if any(isinstance(v, float) and not float(v).is_integer() for v in values if v is not None):
        return _DECIMAL
    if any(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return _INTEGER
    return None


def to_xlsx(built: Mapping[str, Any], sections: Sequence[str] | None = None) -> bytes:
    """The report as an .xlsx file: one sheet per section (all, or the ones asked for)."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    region = built.get("region") or "all regions"
    book.properties.title = f"BranchCare complaint report {built['from']} to {built['to']}"
    book.properties.subject = f"complaints received {built['from']} to {built['to']}; {region}"
    book.properties.creator = "BranchCare HQ"
    for name in sections or report.SECTIONS:
        columns, body = report_csv.section_table(built, name)
        sheet = book.create_sheet(title=name[:31])
        columns_values = [[row[i] for row in body] for i in range(len(columns))]
        sheet.append([_header_label(c, v) for c, v in zip(columns, columns_values, strict=True)])
        for cell in sheet[1]:
            cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER
            cell.alignment = Alignment(vertical="center")
        for row in body:
            sheet.append([_cell(v) for v in row])
        for i, (column, values) in enumerate(zip(columns, columns_values, strict=True), start=1):
            letter = get_column_letter(i)
            # the summary's value column holds shares in the rows whose metric is a share
            if name == "summary" and column == "value":
                for r, metric in enumerate(columns_values[0], start=2):
                    value = sheet.cell(row=r, column=i)
                    if _is_share(str(metric)) and isinstance(value.value, float):
                        value.number_format = _PERCENT
            else:
                fmt = _number_format(column, values)
                if fmt is not None:
                    for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                        cell.number_format = fmt
            widest = max([len(str(column)) + 2, *(len(str(_cell(v) or "")) for v in values)])
            sheet.column_dimensions[letter].width = min(_MAX_WIDTH, max(10, widest + 1))
        sheet.freeze_panes = "A2"
        if body:
            sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(body) + 1}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
