"""The HQ dashboard over HQ's real read model, and the regulatory report's CSV download."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from services.hq.report_csv import parse_csv_sections
from tests.e2e.conftest import BrowserFactory, Stack, new_branch, shot, sign_in
from tests.support.services import wait_until


async def test_hq_ranks_branches_and_downloads_the_regulatory_report(
    stack: Stack, browser: BrowserFactory
) -> None:
    stack.require("hq")
    branch = new_branch("hq")
    manager = stack.token(f"lm-{branch}", ["lobby_manager"], [branch])
    hq_token = stack.token("hq-analyst", ["hq_analyst"], ["*"])
    async with stack.api("hq", hq_token, "hq-analyst") as hq:
        if (await hq.get("/hq/kpis")).status_code == 404:
            pytest.skip("the HQ service does not offer GET /hq/kpis yet")
        async with stack.api("complaint", manager, f"lm-{branch}") as complaints:
            for n, description in enumerate(["ATM swallowed my card", "app down at noon"]):
                created = await complaints.post(
                    f"/branches/{branch}/complaints",
                    json={
                        "channel": "in_branch",
                        "customer_ref": f"cust_hq_{n:05d}",
                        "description": description,
                    },
                )
                assert created.status_code == 201, created.text

        async def hq_sees_them() -> bool:
            response = await hq.get(f"/hq/branches/{branch}")
            return response.status_code == 200 and response.json()["kpis"]["complaints_received"] >= 2

        await wait_until(hq_sees_them, timeout=20, message="HQ never counted the branch's complaints")

    context = await browser()
    page = await sign_in(context, stack.console, hq_token)
    assert page.url.endswith("/hq"), "an HQ token lands on the dashboard"
    row = page.locator(f"#ranking tr[data-branch='{branch}']")
    await expect(row).to_be_visible()
    await expect(row.locator("td.ranked")).to_have_text("2")
    await expect(page.locator("#regions")).to_be_visible()
    await expect(page.locator("svg.chart").first).to_be_visible()
    await shot(page, "hq-dashboard")

    await page.select_option("#sort", "sla_compliance")
    await page.click("#hq-filter button[type=submit]")
    await expect(page.locator("#rank-h")).to_contain_text("时限达标率")

    async with page.expect_download() as waiting:
        await page.click("#report-csv")
    download = await waiting.value
    path = await download.path()
    assert download.suggested_filename.endswith(".csv")
    rows = parse_csv_sections(path.read_text(encoding="utf-8"))["rows"]  # the whole report, by section
    total = next(r for r in rows if r["category"] == "ALL")
    assert int(total["received"]) >= 2

    # HQ reads a branch's pages but runs none of its commands
    await page.goto(f"{stack.console}/b/{branch}/complaints")
    await expect(page.locator("#complaint-board")).to_be_visible()
    await expect(page.locator("#complaint-register")).to_have_count(0)
    response = await page.goto(f"{stack.console}/b/{branch}/desk")
    assert response is not None and response.status == 403
