"""A complaint from receipt to close through the case page's buttons, and a colleague's conflict."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.e2e.conftest import BrowserFactory, Stack, new_branch, shot, sign_in
from tests.support.pii import phone


async def step(
    page: Page, name: str, fields: dict[str, str] | None = None, *, status: str | None = None
) -> None:
    """Open a step's form on the case page, fill it, submit, and wait for the new state."""
    form = page.locator(f"#step-{name}")
    await expect(form).to_be_visible()
    if await form.get_attribute("open") is None:
        await form.locator("summary").click()
    for selector, value in (fields or {}).items():
        target = form.locator(selector)
        if await target.evaluate("e => e.tagName") == "SELECT":
            await target.select_option(value)
        else:
            await target.fill(value)
    await form.locator("button[type=submit]").click()
    await page.wait_for_url(f"**done={name}")
    if status:
        await expect(page.locator("#case-status")).to_have_attribute("data-status", status)


async def test_a_complaint_goes_from_receipt_to_close_through_the_buttons(
    stack: Stack, browser: BrowserFactory
) -> None:
    branch = new_branch()
    staff = f"lm-{branch}"
    context = await browser()
    page = await sign_in(context, stack.console, stack.token(staff, ["lobby_manager"], [branch]))
    await page.goto(f"{stack.console}/b/{branch}/complaints")

    # bad input is shown next to the field it concerns
    await page.fill("#f-description", "waited 40 minutes and nobody explained why")
    await page.click("#complaint-register button[type=submit]")  # no customer picked
    await expect(page.locator("#err-customer_name")).to_be_visible()

    # the customer is looked up in the vault: only the reference and the masked name go further
    await page.fill("#f-customer_name", "王小明")
    await page.fill("#f-customer_phone", phone())
    await page.fill("#f-description", "waited 40 minutes and nobody explained why")
    await page.click("#complaint-register button[type=submit]")
    await expect(page.locator("#case-status")).to_have_attribute("data-status", "received")
    case_url = page.url.split("?")[0]
    # only the steps allowed now: acknowledge yes, close not yet
    await expect(page.locator("#step-acknowledge")).to_be_visible()
    await expect(page.locator("#step-close")).to_have_count(0)
    await expect(page.locator("#deadlines tr[data-sla='complaint.acknowledge']")).to_be_visible()
    await expect(page.locator("#deadlines")).to_contain_text("30")  # the rule behind the deadline

    await page.goto(f"{stack.console}/b/{branch}/complaints")
    await expect(page.locator("#complaint-board .countdown").first).to_be_visible()
    await shot(page, "complaints-board")
    await page.goto(case_url)

    await step(
        page, "acknowledge", {"textarea[name=apology]": "We are sorry for the wait."}, status="acknowledged"
    )
    await step(
        page,
        "classify",
        {
            "select[name=category]": "waiting_time",
            "select[name=nature]": "general",
            "input[name=source]": "lobby",
        },
        status="classified",
    )
    await step(page, "start-investigation", status="investigating")
    await step(
        page,
        "propose",
        {
            "input[name='solutions.0.description']": "Refund the queue-jump fee",
            "input[name='solutions.0.compensation']": "20",
            "input[name='solutions.1.description']": "Priority ticket on the next visit",
        },
        status="solutions_proposed",
    )
    await step(page, "accept", status="solution_accepted")
    await step(page, "implement", {"textarea[name=note]": "refunded at counter 2"}, status="implemented")

    # a colleague has the same case open; they act first, this page's form is now stale
    colleague = await context.new_page()
    await colleague.goto(case_url)
    await step(colleague, "progress-update", {"textarea[name=note]": "told the customer by phone"})
    form = page.locator("#step-answer")
    if await form.get_attribute("open") is None:
        await form.locator("summary").click()
    await form.locator("textarea[name=answer]").fill("The fee was refunded; we apologise.")
    await form.locator("button[type=submit]").click()
    banner = page.locator(".banner.conflict")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("同事")  # "a colleague changed this record meanwhile"
    await shot(page, "complaint-conflict")
    await page.goto(case_url)
    await expect(page.locator("#history tr[data-event='ProgressUpdateGiven']")).to_have_count(1)

    await step(
        page, "answer", {"textarea[name=answer]": "The fee was refunded; we apologise."}, status="answered"
    )
    await step(
        page, "close", {"textarea[name=result]": "Refunded 20 CNY; customer satisfied."}, status="closed"
    )
    await expect(page.locator("#step-reopen")).to_be_visible()  # the only step left
    await expect(page.locator("details.step")).to_have_count(1)

    history = page.locator("#history tbody tr")
    events = [await row.get_attribute("data-event") for row in await history.all()]
    for expected in (
        "ComplaintReceived",
        "ComplaintAcknowledged",
        "ComplaintClassified",
        "InvestigationStarted",
        "SolutionsProposed",
        "SolutionAccepted",
        "SolutionImplemented",
        "ProgressUpdateGiven",
        "ComplaintAnswered",
        "ComplaintClosed",
    ):
        assert expected in events, f"{expected} missing from the history {events}"
    for row in await history.all():  # who did it, for every event
        assert (await row.locator("td").nth(3).inner_text()).strip() == staff
    await shot(page, "complaint-closed")


async def test_a_counter_clerk_reads_the_case_but_gets_no_manager_buttons(
    stack: Stack, browser: BrowserFactory
) -> None:
    branch = new_branch()
    manager = stack.token(f"lm-{branch}", ["lobby_manager"], [branch])
    async with stack.api("complaint", manager, f"lm-{branch}") as api:
        created = await api.post(
            f"/branches/{branch}/complaints",
            json={
                "channel": "phone_hotline",
                "customer_ref": "cust_e2e_0100",
                "description": "card swallowed",
            },
        )
        assert created.status_code == 201, created.text
        complaint_id = created.json()["complaint_id"]
    context = await browser()
    page = await sign_in(context, stack.console, stack.token(f"cs-{branch}", ["counter_staff"], [branch]))
    await page.goto(f"{stack.console}/b/{branch}/complaints/{complaint_id}")
    await expect(page.locator("#case-status")).to_have_attribute("data-status", "received")
    await expect(page.locator("details.step")).to_have_count(0)  # acknowledging is for managers
    await expect(page.locator("#complaint-register, #step-acknowledge")).to_have_count(0)
