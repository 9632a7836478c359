"""The simulator against the real services (as processes): a short, fast run of a few branches
reaches HQ, the outage makes HQ suspect a crisis, and a service that is not running is skipped
with a warning instead of failing the run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.simulator.cli import run, summary
from services.simulator.client import default_base_urls
from services.simulator.engine import SimConfig
from shared.devstack import TansuBroker, free_port
from tests.support.auth import hq_analyst
from tests.support.services import ServiceProcess, running_services, wait_until

pytestmark = pytest.mark.integration

ENV = {"BRANCHCARE_DEV_MODE": "1", "LOG_LEVEL": "WARNING", "HQ_GENERATION_POLL_SECONDS": "0.2"}


async def test_a_short_simulation_drives_the_services_and_hq_sees_the_outage(
    database_url: str, private_broker: TansuBroker, tmp_path: Path
) -> None:
    bootstrap = private_broker.bootstrap_servers
    procs = {
        name: ServiceProcess(
            name, database_url=database_url, kafka_bootstrap_servers=bootstrap, env=ENV, log_dir=tmp_path
        )
        for name in ("reception", "complaint", "feedback", "hq")  # follow-up deliberately not running
    }
    urls = default_base_urls()
    urls.update({name: p.url for name, p in procs.items()})
    urls["followup"] = f"http://127.0.0.1:{free_port()}"
    async with running_services(*procs.values(), timeout=60):
        start = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday, busy hour
        config = SimConfig(branches=6, regions=2, minutes=45, speed=600, start=start, seed=3, outage_after=5)
        result = await run(config, urls, out=None)
        report = summary(result)

        assert report["services"]["followup"] == "not reachable"
        assert any("followup is not reachable" in w for w in report["warnings"])
        assert not [s for s in report["statuses"] if s.startswith("5")], report
        assert not {"401", "403"} & set(report["statuses"]), report  # its own tokens, own branches
        done = report["done"]
        assert done["visits"] >= 20 and done["served"] >= 5 and done["complaints"] >= 6, report
        assert 45 <= report["simulated_minutes"] <= 47
        assert done["outages"] == 1
        requests = sum(report["requests"].values())
        assert sum(report["errors"].values()) <= 0.05 * requests, report

        async with httpx.AsyncClient(base_url=procs["hq"].url, timeout=10, headers=hq_analyst()) as http:

            async def crisis() -> bool:
                alerts = (await http.get("/hq/alerts", params={"kind": "spike"})).json()["alerts"]
                return any(a["category"] == "system_failure" and a["published"] for a in alerts)

            await wait_until(crisis, timeout=30, message="HQ never suspected the outage's crisis")
            ranked = (await http.get("/hq/branches", params={"sort": "visits", "limit": 10})).json()
            assert ranked["total"] == 6 and all(b["region"] in ("r01", "r02") for b in ranked["branches"])
            region = (await http.get("/hq/regions/r01")).json()
            assert region["branches"] == 3 and region["kpis"]["visits"] > 0
