"""Follow-ups (contact, complete) and branch satisfaction, fed by the real services through Kafka."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
from playwright.async_api import expect

from tests.e2e.conftest import BrowserFactory, Stack, new_branch, shot, sign_in
from tests.support.services import wait_until


async def test_my_follow_up_is_contacted_and_completed(stack: Stack, browser: BrowserFactory) -> None:
    stack.require("followup")
    branch = new_branch("fu")
    staff = f"lm-{branch}"
    token = stack.token(staff, ["lobby_manager"], [branch])
    async with stack.api("complaint", token, staff) as complaints:
        created = await complaints.post(
            f"/branches/{branch}/complaints",
            json={
                "channel": "phone_hotline",
                "customer_ref": "cust_fu_00001",
                "description": "transfer late",
            },
        )
        assert created.status_code == 201, created.text
    async with stack.api("followup", token, staff) as followups:

        async def scheduled() -> list[dict[str, Any]]:
            listed = await followups.get(f"/branches/{branch}/follow-ups", params={"status": "open"})
            return listed.json()["tasks"] if listed.status_code == 200 else []

        (task,) = await wait_until(scheduled, timeout=20, message="no follow-up task was scheduled")
    assert task["owner"] == staff

    context = await browser()
    page = await sign_in(context, stack.console, token)
    await page.goto(f"{stack.console}/b/{branch}/follow-ups?mine=1")
    row = page.locator(f"tr[data-task='{task['task_id']}']")
    await expect(row).to_be_visible()
    await shot(page, "followups")

    await row.locator("details.step").nth(0).locator("summary").click()
    await row.locator("textarea[name=note]").first.fill("reached the customer, case explained")
    await row.locator("form[action$='/contact'] button[type=submit]").click()
    await expect(page.locator(".banner.ok")).to_be_visible()
    row = page.locator(f"tr[data-task='{task['task_id']}']")
    await expect(row.locator(".tag")).to_be_visible()  # "reached"

    complete = row.locator("form[action$='/complete']")
    await row.locator("details.step").nth(1).locator("summary").click()
    await complete.locator("textarea[name=note]").fill("customer informed of the progress")
    await complete.locator("button[type=submit]").click()
    await expect(page.locator(".banner.ok")).to_be_visible()
    await expect(page.locator(f"tr[data-task='{task['task_id']}']")).to_have_count(0)


async def _serve(api: httpx.AsyncClient, branch: str, service_type: str, customer_ref: str) -> None:
    arrival = {"service_type": service_type, "customer_ref": customer_ref}
    arrived = await api.post(f"/branches/{branch}/visits", json=arrival)
    assert arrived.status_code == 201, arrived.text
    visit = arrived.json()["visit_id"]
    steps: list[tuple[str, dict[str, str] | None]] = [
        ("call", {"counter_id": "C2"}),
        ("serve", {"outcome": "done"}),
        ("leave", None),
    ]
    for step, body in steps:
        response = await api.post(f"/visits/{visit}/{step}", json=body)
        assert response.status_code == 200, f"{step}: {response.text}"


async def test_branch_satisfaction_against_the_target(stack: Stack, browser: BrowserFactory) -> None:
    stack.require("feedback")
    branch = new_branch("sat")
    staff = f"cs-{branch}"
    clerk = stack.token(staff, ["counter_staff"], [branch])
    async with stack.api("reception", clerk, staff) as reception:
        await _serve(reception, branch, "deposit_demand", "cust_sat_00001")
        await _serve(reception, branch, "withdrawal", "cust_sat_00002")

    conn = await asyncpg.connect(stack.database_url)
    try:

        async def surveys() -> list[str]:
            rows = await conn.fetch(
                "SELECT survey_id FROM feedback.survey_facts WHERE branch_id = $1", branch
            )
            return [str(r["survey_id"]) for r in rows] if len(rows) == 2 else []

        survey_ids = await wait_until(surveys, timeout=20, message="no surveys were requested")
    finally:
        await conn.close()
    async with stack.api("feedback", clerk, staff) as feedback:  # the SMS gateway's webhook
        for survey_id, score, comment in zip(
            survey_ids, (5, 2), ("quick and friendly", "waited too long"), strict=True
        ):
            answer = await feedback.post(
                f"/surveys/{survey_id}/responses", json={"score": score, "comment": comment}
            )
            assert answer.status_code == 201, answer.text

    context = await browser()
    manager = stack.token(f"lm-{branch}", ["lobby_manager"], [branch])
    page = await sign_in(context, stack.console, manager)
    await page.goto(f"{stack.console}/b/{branch}/satisfaction")
    await expect(page.locator("#sat-rate")).to_have_text("50.0%")
    await expect(page.locator("#sat-rate")).to_have_class("kpi-big below")
    await expect(page.locator("svg.chart")).to_be_visible()
    await expect(page.locator("#type-h + table")).to_contain_text("活期存款")
    await expect(page.locator("#staff-h + table")).to_contain_text(staff)
    await expect(page.locator("#comments-h ~ *").first).to_be_visible()  # comments, or why they are missing
    await shot(page, "satisfaction")
