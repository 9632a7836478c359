"""The lobby: register at the desk, watch the board of a second page change live, serve, leave."""

from __future__ import annotations

import time

from playwright.async_api import Page, expect

from tests.e2e.conftest import LAPTOP, BrowserFactory, Stack, new_branch, shot, sign_in
from tests.support.pii import phone


async def appears(page: Page, selector: str, *, since: float, timeout: float = 5.0) -> float:
    """Seconds from ``since`` until ``selector`` is on the page (polled every 20 ms)."""
    while time.monotonic() - since < timeout:
        if await page.locator(selector).count():
            return time.monotonic() - since
        await page.wait_for_timeout(20)
    raise AssertionError(f"{selector} did not appear within {timeout} s")


async def test_a_visit_registered_at_the_desk_appears_live_on_the_lobby_board(
    stack: Stack, browser: BrowserFactory
) -> None:
    branch = new_branch()
    token = stack.token(f"lm-{branch}", ["lobby_manager"], [branch])
    context = await browser()
    desk = await sign_in(context, stack.console, token)
    assert desk.url.endswith(f"/b/{branch}/lobby"), "a branch token lands on its lobby board"

    board = await context.new_page()
    await board.goto(f"{stack.console}/b/{branch}/lobby")
    await expect(board.locator(".line-card").first).to_be_visible()
    await board.evaluate("window.__sameDocument = true")  # gone if the page reloads

    await desk.goto(f"{stack.console}/b/{branch}/desk")
    await desk.select_option("#f-service_type", "deposit_demand")
    await desk.check("input[name=accessibility][value=hearing]")
    started = time.monotonic()
    await desk.click("#register-form button[type=submit]")
    await expect(desk.locator("#desk-flash .big-ticket")).to_have_text("A001")

    row = board.locator("tr[data-ticket='A001']")
    await expect(row).to_be_visible(timeout=5_000)
    print(f"A001 on the board {time.monotonic() - started:.2f} s after pressing register")
    assert await board.evaluate("window.__sameDocument === true"), "the board reloaded"
    await expect(row).to_have_attribute("data-sla", "on_track")

    # the board's latency from the moment of the change: another desk queues a customer over the API
    async with stack.api("reception", token, f"lm-{branch}") as api:
        changed = time.monotonic()
        express = await api.post(f"/branches/{branch}/visits", json={"service_type": "account_opening"})
        assert express.status_code == 201, express.text
        ticket = express.json()["ticket"]
        latency = await appears(board, f"tr[data-ticket='{ticket}']", since=changed)
    print(f"{ticket} on the board {latency:.2f} s after the change")
    assert latency <= 1.0, f"the board showed the change after {latency:.2f} s"
    assert await board.evaluate("window.__sameDocument === true"), "the board reloaded"
    await shot(desk, "desk-registered")
    await shot(board, "lobby-board")

    # a second customer, documents missing: no ticket, the desk says what is missing
    await desk.goto(f"{stack.console}/b/{branch}/desk")
    await desk.select_option("#f-service_type", "withdrawal")
    await desk.uncheck("fieldset[data-docs-for=withdrawal] input[value=id_card]")
    await desk.click("#register-form button[type=submit]")
    await expect(desk.locator("#desk-flash")).to_contain_text("身份证件")

    # call the first ticket to counter C1: the board shows the counter busy, then serve and leave
    await desk.fill("#counter-deposits", "C1")
    await desk.click("form.call-next button")
    await expect(desk.locator("h1 .big-ticket")).to_have_text("A001")
    await expect(board.locator("li[data-counter='C1'].counter-busy")).to_be_visible(timeout=5_000)
    await desk.fill("#serve-outcome", "deposited 2,000 CNY")
    await desk.fill("#serve-next_steps", "the receipt is in the app")
    await desk.click("#step-serve button[type=submit]")
    await expect(desk.locator("#step-leave")).to_be_visible()
    await shot(desk, "visit-served")
    await desk.click("#step-leave button[type=submit]")
    await expect(desk.locator(".kv")).to_contain_text("已离店")
    await expect(board.locator("li[data-counter='C1'].counter-free")).to_be_visible(timeout=5_000)
    await expect(board.locator("tr[data-ticket='A001']")).to_have_count(0)

    await board.goto(f"{stack.console}/b/{branch}/lobby?screen=1")
    await shot(board, "lobby-board-screen-mode")


async def test_desk_errors_show_next_to_the_field_and_the_language_switches(
    stack: Stack, browser: BrowserFactory
) -> None:
    branch = new_branch()
    token = stack.token(f"cs-{branch}", ["counter_staff"], [branch])
    context = await browser(viewport=LAPTOP)
    page = await sign_in(context, stack.console, token)
    await page.goto(f"{stack.console}/b/{branch}/desk")
    # the customer is looked up in the vault; what the vault refuses is shown next to the field,
    # and the typed number is never shown again
    bad_mobile = phone()[:-1]
    await page.fill("#f-customer_name", "王小明")
    await page.fill("#f-customer_phone", bad_mobile)
    await page.click("#register-form button[type=submit]")
    error = page.locator("#err-customer_phone")
    await expect(error).to_be_visible()
    await expect(page.locator("#f-customer_phone")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#f-customer_phone")).to_have_value("")
    assert bad_mobile not in await page.content()

    await page.click("a.lang")
    await expect(page.locator("h1")).to_contain_text("Reception desk")
    await page.fill("#f-customer_name", "Wang Xiaoming")
    await page.fill("#f-customer_phone", phone())
    await page.select_option("#f-service_type", "complaint")
    await page.click("#register-form button[type=submit]")  # a complaint need must be described
    await expect(page.locator("#err-notes, .banner.error").first).to_be_visible()
    await shot(page, "desk-error-english-laptop")
    await expect(page.locator("header.top nav")).not_to_contain_text("HQ")  # not for counter staff
