"""A lifecycle step's view shows the case's texts as read with its stream (``case_read``): the
words for staff of the branch, a text the step itself wrote (read after it), an erased
customer's texts as erased."""

from __future__ import annotations

import pytest

from tests.integration.complaint.steps import new_complaint
from tests.support.harness import RunService

pytestmark = pytest.mark.asyncio


async def test_a_steps_view_shows_the_cases_texts_its_own_and_erased_ones(run_service: RunService) -> None:
    async with run_service("complaint") as svc:
        case = await new_complaint(svc, "b001")
        cid = case["complaint_id"]
        shown = await svc.ok(cid, "acknowledge", {"apology": "Sorry."})
        assert (shown["description"]["status"], shown["description"]["text"]) == ("shown", "card swallowed")
        held = await svc.ok(cid, "hold", {"reason": "waiting on the statement"})
        assert (held["hold_reason"]["status"], held["hold_reason"]["text"]) == (
            "shown",
            "waiting on the statement",
        )
        assert held["description"]["text"] == "card swallowed"
        async with svc.ctx.pool.acquire() as conn:
            assert await svc.app.texts.erase_customer(conn, "cust_ref_0042") >= 2
        resumed = await svc.ok(cid, "resume")
        assert resumed["description"]["status"] == "erased" and resumed["description"]["text"] is None
        assert resumed["hold_reason"] is None
