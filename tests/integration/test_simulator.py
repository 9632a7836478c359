"""The demo as a newcomer runs it, against the real services (real PostgreSQL, real broker): the
dev runner starts the whole stack on moved ports (``<NAME>_PORT``) and every URL its banner prints
answers; the simulator — with the ports the banner tells it — runs on the fresh system and then
again on the same system with another seed, both without a single error, and HQ notices the
outage. A service that is not there is skipped with a warning instead of failing the run."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.simulator.cli import run, summary
from services.simulator.client import default_base_urls, parse_base_urls
from services.simulator.engine import SimConfig
from shared.devstack import TansuBroker, free_port
from shared.topology import DEFAULT_PORTS, port_env_var
from tests.support.auth import hq_analyst
from tests.support.services import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")
SERVICES = (*DEFAULT_PORTS, "console")
#: what the banner's curls promise (its "Try them" comment)
CURL_STATUS = {"BC_TOKEN_LOBBY_B001": 200, "BC_TOKEN_LOBBY_B002": 403, "BC_TOKEN_HQ": 200}
URL = re.compile(r"http://[^\s'\"]+")
#: a line a service printed (``reception | ...``), not the runner's banner
CHILD_LINE = re.compile(r"^[a-z_]+\s*\| ")
TABLE_ROW = re.compile(r"^\s+([a-z_]+)\s+(http://\S+|—)")


class Runner:
    """``python -m services`` as a newcomer starts it (here on the test's database and broker),
    its output read continuously so the children never block on a full pipe."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.pump = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())

    def banner(self) -> list[str]:
        start = next(i for i, line in enumerate(self.lines) if "BranchCare is up" in line)
        end = next(i for i, line in enumerate(self.lines) if "Ctrl-C stops everything" in line)
        return [line for line in self.lines[start : end + 1] if not CHILD_LINE.match(line)]

    async def up(self, timeout: float) -> list[str]:
        async def ready() -> bool:
            if self.proc.returncode is not None:
                raise AssertionError("the dev runner exited:\n" + "\n".join(self.lines[-60:]))
            return any("Ctrl-C stops everything" in line for line in self.lines)

        await wait_until(ready, timeout=timeout, message="the dev runner did not come up")
        return self.banner()


@asynccontextmanager
async def dev_runner(env: dict[str, str], state_dir: Path) -> AsyncIterator[Runner]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", "--no-embedded", "--state-dir", str(state_dir),
        cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    runner = Runner(proc)
    try:
        yield runner
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=40)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.wait_for(runner.pump, timeout=5)


async def check_banner(banner: list[str], ports: dict[str, int]) -> None:
    """Every URL printed answers, on a port in use; the curls answer as their comment says."""
    tokens = dict(
        line.strip().removeprefix("export ").replace("'", "").split("=", 1)
        for line in banner
        if line.strip().startswith("export BC_TOKEN_")
    )
    moved = set(ports.values())
    checked = 0
    async with httpx.AsyncClient(timeout=10) as http:
        for line in banner:
            for url in URL.findall(line):
                port = int(url.split(":")[2].split("/")[0])
                assert port in moved, f"{url} is not on a port in use ({line!r})"
                var = next((v for v in CURL_STATUS if f"${v}" in line), None)
                headers = {"Authorization": f"Bearer {tokens[var]}"} if var else {}
                status = (await http.get(url, headers=headers)).status_code
                expected = CURL_STATUS[var] if var else None
                assert status == expected if expected else status < 400, f"{url}: {status} ({line!r})"
                checked += 1
    table = [m.group(1) for line in banner if (m := TABLE_ROW.match(line))]
    assert sorted(table) == sorted(SERVICES), banner
    assert not any("—" in line for line in banner if TABLE_ROW.match(line)), banner
    assert checked >= 3 * len(SERVICES) + 4


def simulator_ports(banner: list[str]) -> dict[str, str]:
    """The ``<NAME>_PORT=…`` the banner's simulator command passes on."""
    [line] = [line for line in banner if "-m services.simulator" in line]
    command = shlex.split(line.split(":", 1)[1])
    return dict(word.split("=", 1) for word in command if "=" in word)


async def test_the_demo_with_moved_ports_tells_the_truth_and_the_simulator_runs_twice_without_errors(
    database_url: str, private_broker: TansuBroker, tmp_path: Path
) -> None:
    ports = {name: free_port() for name in SERVICES}
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": private_broker.bootstrap_servers,
        "LOG_LEVEL": "WARNING",
        "HQ_GENERATION_POLL_SECONDS": "0.2",
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        **{port_env_var(name): str(port) for name, port in ports.items()},
    }
    async with dev_runner(env, tmp_path) as runner:
        banner = await runner.up(timeout=120)
        await check_banner(banner, ports)
        passed_on = simulator_ports(banner)
        assert passed_on == {port_env_var(n): str(ports[n]) for n in DEFAULT_PORTS}, passed_on
        urls = parse_base_urls(None, environ=passed_on)  # what the printed command would use

        monday = datetime(2026, 3, 2, 10, 0, tzinfo=SH)  # a busy morning
        fresh = SimConfig(branches=6, regions=2, minutes=30, speed=600, start=monday, seed=3, outage_after=5)
        first = summary(await run(fresh, urls, out=None))
        again = SimConfig(
            branches=6, regions=2, minutes=20, speed=600, start=monday, seed=4, outage_after=None
        )
        second = summary(await run(again, urls, out=None))

        for report in (first, second):
            assert set(report["services"].values()) == {"up"}, report
            assert report["errors"] == {} and report["failures"] == [], report
            assert report["warnings"] == [], report
        done = first["done"]
        assert done["visits"] >= 20 and done.get("served", 0) >= 5 and done["complaints"] >= 6, done
        # it stops at its 30 minutes; the clock runs 600× real time, so a 1 s stall of a loaded
        # machine at the end reads as 10 more simulated minutes (a whole run saw 40.0)
        assert 30 <= first["simulated_minutes"] < 60 and done["outages"] == 1
        resumed = second["done"]
        assert resumed["visits"] >= 10 and resumed.get("served", 0) >= 5, resumed
        # the second run started where the first left the branches: customers waiting, counters busy
        assert resumed.get("resumed visits", 0) + resumed.get("resumed at counter", 0) > 0, second
        assert resumed.get("cases taken from the board", 0) > 0, second

        async with httpx.AsyncClient(base_url=urls["hq"], timeout=10, headers=hq_analyst()) as http:

            async def crisis() -> bool:
                alerts = (await http.get("/hq/alerts", params={"kind": "spike"})).json()["alerts"]
                return any(a["category"] == "system_failure" and a["published"] for a in alerts)

            await wait_until(crisis, timeout=30, message="HQ never suspected the outage's crisis")
            ranked = (await http.get("/hq/branches", params={"sort": "visits", "limit": 10})).json()
            assert ranked["total"] == 6 and all(b["region"] in ("r01", "r02") for b in ranked["branches"])
    assert runner.proc.returncode == 0, "\n".join(runner.lines[-40:])


async def test_a_service_that_is_not_there_is_skipped_with_a_warning() -> None:
    urls = default_base_urls(environ={})
    urls.update({name: f"http://127.0.0.1:{free_port()}" for name in urls})
    config = SimConfig(
        branches=2, regions=1, minutes=20, speed=3600, start=datetime(2026, 3, 2, 10, tzinfo=SH)
    )
    report = summary(await run(config, urls, out=None))
    assert set(report["services"].values()) == {"not reachable"}
    assert any("followup is not reachable" in w for w in report["warnings"])
    assert report["requests"] == {} and report["errors"] == {}
