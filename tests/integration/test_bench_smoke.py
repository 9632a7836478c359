"""``python -m bench --quick`` runs end to end and prints its table (a smoke run, no figures judged).

The hottest-commands part starts every service twice and is left out here (a minute and more);
its wire counter and HTTP client have unit tests (``tests/unit/bench``)."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest

from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.integration


async def test_the_benchmark_runs(pg_server_url: str, kafka: Any) -> None:
    env = {**os.environ, "DATABASE_URL": pg_server_url, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--skip",
        "commands",
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    finally:
        if proc.returncode is None:
            proc.kill()
    table = out.decode()
    assert proc.returncode == 0, f"bench failed:\n{err.decode()[-3000:]}"
    for heading in (
        "== 1. raw ceilings",
        "== 2. event store",
        "== 4. end to end",
        "== 5. ratios and targets",
    ):
        assert heading in table, table
    assert "not visible at HQ after 30 s" in table and "relay drain" in table
