"""What a token may see: another branch's pages are refused, HQ pages are for HQ tokens."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.conftest import BrowserFactory, Stack, new_branch, shot, sign_in


async def test_a_branch_b_token_is_refused_branch_a_pages(stack: Stack, browser: BrowserFactory) -> None:
    branch_a, branch_b = new_branch("a"), new_branch("b")
    context = await browser()
    page = await sign_in(context, stack.console, stack.token(f"lm-{branch_b}", ["lobby_manager"], [branch_b]))
    assert page.url.endswith(f"/b/{branch_b}/lobby")
    for path in ("lobby", "desk", "complaints", "follow-ups", "satisfaction"):
        response = await page.goto(f"{stack.console}/b/{branch_a}/{path}")
        assert response is not None and response.status == 403, f"/b/{branch_a}/{path}: {response}"
        await expect(page.locator("#page-error")).to_contain_text(branch_a)
        # its own branch stays one click away
        await expect(page.locator("header.top nav")).to_contain_text("大堂看板")
    await shot(page, "refused-other-branch")

    stream = await page.request.get(f"{stack.console}/b/{branch_a}/lobby/stream")
    assert stream.status == 403  # the live feed is guarded the same way
    response = await page.goto(f"{stack.console}/hq")
    assert response is not None and response.status == 403  # HQ-wide tokens only

    await page.click("form[action='/logout'] button")
    await expect(page.locator("#token")).to_be_visible()
    response = await page.goto(f"{stack.console}/b/{branch_b}/lobby")
    assert "/login" in page.url  # signed out: back to the sign-in form


async def test_a_tampered_token_is_refused_at_sign_in(stack: Stack, browser: BrowserFactory) -> None:
    branch = new_branch()
    token = stack.token(f"lm-{branch}", ["lobby_manager"], [branch])
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    context = await browser()
    page = await context.new_page()
    await page.goto(f"{stack.console}/login")
    await page.fill("#token", forged)
    await page.click("form[action='/login'] button[type=submit]")
    await expect(page.locator("#login-error")).to_be_visible()
    assert "/login" in page.url
    cookies = await context.cookies()
    assert not [c for c in cookies if c["name"] == "bc_session"]


async def test_the_session_cookie_is_http_only_and_strict(stack: Stack, browser: BrowserFactory) -> None:
    branch = new_branch()
    context = await browser()
    page = await sign_in(context, stack.console, stack.token(f"lm-{branch}", ["lobby_manager"], [branch]))
    (cookie,) = [c for c in await context.cookies() if c["name"] == "bc_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert await page.evaluate("document.cookie.includes('bc_session')") is False
