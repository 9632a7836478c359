"""A service without its keys does not start: ``python -m services.<name>`` exits 1 with one line
naming the variable (before it touches PostgreSQL or Kafka), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.auth import DEV_JWT_SECRET
from tests.support.services import REPO_ROOT

UNREACHABLE = {"DATABASE_URL": "postgresql://x@127.0.0.1:1/x", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}


@pytest.mark.parametrize(
    ("service", "change", "named"),
    [
        ("complaint", {"BRANCHCARE_JWT_SECRET": None}, "BRANCHCARE_JWT_SECRET is not set"),
        ("followup", {"BRANCHCARE_JWT_SECRET": DEV_JWT_SECRET}, "public development secret"),
        ("reception", {"BRANCHCARE_MASTER_KEY": None}, "BRANCHCARE_MASTER_KEY is not set"),
        ("reception", {"BRANCHCARE_PII_KEY": None}, "BRANCHCARE_PII_KEY is not set"),
    ],
)
def test_missing_or_unsafe_keys_stop_the_service_with_one_line(
    service: str, change: dict[str, str | None], named: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BRANCHCARE_DEV_MODE"} | UNREACHABLE
    for key, value in change.items():
        env.pop(key, None)
        if value is not None:
            env[key] = value
    run = subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{service}: ") and named in lines[0], run.stderr
