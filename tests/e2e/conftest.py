"""Browser tests of the staff console against the REAL services, in headless Debian Chromium.

- ``chromium``: ``/usr/bin/chromium``; installed by ``tests/e2e/install-browser.sh`` (apt-get) when
  missing; the tests skip with the reason when it cannot be installed.
- ``stack`` (session): reception, complaint, follow-up, feedback and HQ started as processes
  (``python -m services.<name>``) on one fresh database and the session's broker, then the console
  pointed at them; all verify tokens signed with a secret of this run. A service that fails to
  start is reported (``stack.problems``) and the tests that need it skip with the reason.
- ``browser``: a factory of browser sessions (contexts) of one headless Chromium started on a
  fresh user-data directory.
- Screenshots go to ``test-artifacts/e2e/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from shared.auth import issue_token
from shared.devstack import TansuBroker, create_topics, with_database
from shared.topology import CONTEXTS, all_topics
from tests.support.databases import FreshDatabases
from tests.support.services import REPO_ROOT, ServiceProcess

try:
    from playwright.async_api import Browser, BrowserContext, Page, async_playwright
except ImportError:  # pragma: no cover - the dev extras are not installed
    async_playwright = None  # type: ignore[assignment]

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_SCRIPT = Path(__file__).with_name("install-browser.sh")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"
JWT_SECRET = "e2e-" + secrets.token_urlsafe(40)
SCREEN = {"width": 1920, "height": 1080}
LAPTOP = {"width": 1366, "height": 768}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the console in a real browser against the real services")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.e2e)


# ------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get when missing (idempotent script)."""
    if async_playwright is None:
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    if not CHROMIUM.exists():
        run = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900)
        if run.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(f"cannot install chromium: {(run.stderr or run.stdout).strip()[-500:]}")
    return CHROMIUM


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def chromium_browser(chromium: Path) -> AsyncIterator[Browser]:
    """One headless Chromium for the run. Playwright starts it on a fresh temporary user-data
    directory (removed at exit); every test's sessions are separate contexts of it (own cookies,
    own storage), so nothing leaks from one test or one signed-in user to another."""
    async with async_playwright() as driver:
        instance = await driver.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield instance
        finally:
            await instance.close()


BrowserFactory = Callable[..., Awaitable["BrowserContext"]]


@pytest_asyncio.fixture(loop_scope="session")
async def browser(chromium_browser: Browser) -> AsyncIterator[BrowserFactory]:
    """``await browser(viewport=SCREEN)``: a new browser session (one signed-in user)."""
    opened: list[BrowserContext] = []

    async def open_session(viewport: dict[str, int] | None = None) -> BrowserContext:
        size = viewport or SCREEN
        context = await chromium_browser.new_context(
            viewport={"width": size["width"], "height": size["height"]}, accept_downloads=True, locale="zh-CN"
        )
        context.set_default_timeout(10_000)
        opened.append(context)
        return context

    yield open_session
    for context in opened:
        await context.close()


async def shot(page: Page, name: str) -> Path:
    """A full-page screenshot under test-artifacts/e2e/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


# --------------------------------------------------------------------------------------- stack


@dataclass
class Stack:
    console: str
    urls: dict[str, str]
    database_url: str
    problems: dict[str, str] = field(default_factory=dict)

    def token(self, staff_id: str, roles: list[str], branches: list[str]) -> str:
        return issue_token(staff_id, roles, branches, timedelta(hours=1), JWT_SECRET)

    def require(self, *services: str) -> None:
        for name in services:
            if name in self.problems:
                pytest.skip(f"the {name} service is not available: {self.problems[name]}")

    def api(self, service: str, token: str, staff_id: str) -> httpx.AsyncClient:
        """A client of a service's API acting with ``token`` (whose subject is ``staff_id``; for
        setting the scene only)."""
        return httpx.AsyncClient(
            base_url=self.urls[service],
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        )


def new_branch(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest_asyncio.fixture(loop_scope="session", scope="package")
async def e2e_broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TansuBroker]:
    """A broker of the browser tests' own: the stack's consumer groups (``feedback.…``,
    ``complaint.…``) must not share partitions with other tests' services of the same name."""
    broker = TansuBroker.start(log_dir=tmp_path_factory.mktemp("e2e-tansu"))
    try:
        await create_topics(broker.bootstrap_servers, all_topics())
        yield broker
    finally:
        broker.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="package")
async def e2e_database(fresh_databases: FreshDatabases) -> AsyncIterator[str]:
    """The stack's database, every schema migrated (tests/support/databases.py)."""
    name = await fresh_databases.take()
    try:
        yield with_database(fresh_databases.server_url, name)
    finally:
        fresh_databases.give_back(name)


@pytest_asyncio.fixture(loop_scope="session", scope="package")
async def stack(
    e2e_database: str, e2e_broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory, chromium: Path
) -> AsyncIterator[Stack]:
    """Every service and the console as real processes, for the browser tests of this folder only
    (package scope: they stop before the rest of the suite runs)."""
    kafka = e2e_broker
    logs = tmp_path_factory.mktemp("e2e-logs")
    env = {
        "BRANCHCARE_JWT_SECRET": JWT_SECRET,
        "BRANCHCARE_DEV_MODE": "1",  # development PII / master keys
        "LOG_LEVEL": "WARNING",
    }
    services = {
        name: ServiceProcess(
            name,
            database_url=e2e_database,
            kafka_bootstrap_servers=kafka.bootstrap_servers,
            env=env,
            log_dir=logs,
        )
        for name in CONTEXTS
    }
    # every port is chosen before anything starts: the console starts next to the services it calls
    urls = {name: p.url for name, p in services.items()}
    console = ServiceProcess(
        "console",
        database_url=e2e_database,
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        env={**env, "LOG_LEVEL": "INFO", **{f"{name.upper()}_URL": url for name, url in urls.items()}},
        log_dir=logs,
    )
    *results, console_started = await asyncio.gather(
        *(p.start(45) for p in services.values()), console.start(45), return_exceptions=True
    )
    problems = {
        name: str(result).splitlines()[0]
        for name, result in zip(services, results, strict=True)
        if isinstance(result, BaseException)
    }
    procs = [p for name, p in services.items() if name not in problems]
    try:
        if isinstance(console_started, BaseException):
            raise console_started
        procs.append(console)
        for required in ("reception", "complaint"):
            if required in problems:
                pytest.fail(f"{required} did not start: {problems[required]}")
        yield Stack(console=console.url, urls=urls, database_url=e2e_database, problems=problems)
    finally:
        for p in procs:
            if os.environ.get("E2E_SHOW_LOGS"):
                print(f"--- {p.name} ---\n{p.log_tail(60)}")
        await asyncio.gather(*(p.terminate(15) for p in procs), return_exceptions=True)
        for p in services.values():
            p.kill()
        console.kill()


async def sign_in(context: BrowserContext, console: str, token: str) -> Page:
    """Paste the token into the sign-in form, as a member of staff would; returns the page."""
    page = context.pages[0] if context.pages else await context.new_page()
    await page.goto(f"{console}/login")
    await page.fill("#token", token)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_load_state("domcontentloaded")
    assert "/login" not in page.url, await page.inner_text("main")
    return page
