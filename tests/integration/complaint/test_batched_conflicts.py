"""Concurrent commands on one case with the batched command path (``shared.db_batch``): the
append's version check still decides, and the loser's queued writes (deadlines, board row, texts,
audit row) go with its rolled-back statement."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from tests.integration.complaint.steps import new_complaint
from tests.support.harness import RunService

pytestmark = pytest.mark.asyncio


def _retried() -> float:
    return (
        REGISTRY.get_sample_value(
            "branchcare_command_conflicts_total", {"service": "complaint", "outcome": "retried"}
        )
        or 0.0
    )


async def test_two_acknowledgements_at_once_record_one(run_service: RunService) -> None:
    retried = _retried()
    async with run_service("complaint") as svc:
        for round_ in range(1, 6):
            case = await new_complaint(svc, "b001")
            cid = case["complaint_id"]
            answers = await asyncio.gather(
                *(svc.post(f"/complaints/{cid}/acknowledge", {"apology": f"Sorry {n}."}) for n in range(2))
            )
            assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
            types = await svc.stream_types(f"complaint-{cid}")
            assert types.count("ComplaintAcknowledged") == 1, types
            async with svc.ctx.pool.acquire() as conn:
                board = await conn.fetchrow(
                    "SELECT status, version FROM complaint_board WHERE complaint_id = $1::uuid", cid
                )
                ack = await conn.fetchval(
                    "SELECT state FROM deadlines WHERE subject_id = $1 AND sla = 'complaint.acknowledge'", cid
                )
                # the apologies ("Sorry 0." / "Sorry 1."): the loser's text went with its rollback
                texts = await conn.fetchval("SELECT count(*) FROM private_texts WHERE length = 8")
            assert (board["status"], board["version"], ack) == ("acknowledged", len(types), "met")
            assert texts == round_
    assert _retried() > retried  # the race happened: a loser's flush met the winner's append
