"""The fault-injection script's plumbing, once, on its cheapest fault (``--quick``, ~25 s).

The full run (every fault, ``make chaos``) is for a developer to run and read; this only shows
that the script starts its own stack, loads it, injects a fault, checks and prints its table.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.integration


def test_chaos_quick_run_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--quick", "--faults", "foreign_tx", "--settle", "20"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any("foreign_tx: load stopped" in line for line in lines)  # progress lines
    row = next(line for line in lines if line.startswith("foreign_tx "))
    fields = row.split()
    assert int(fields[1]) > 50  # acknowledged requests
    assert fields[2] == "0/0/0/0", row  # nothing lost in store, topic, HQ, follow-up
