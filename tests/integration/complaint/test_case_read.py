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


async def test_a_new_customers_key_goes_with_the_create_and_a_known_one_is_read_first(
    run_service: RunService,
) -> None:
    from shared import texts

    async with run_service("complaint") as svc:
        fresh = await new_complaint(svc, "b001", customer_ref="cust_ref_fresh_1")
        texts._KEYED.clear()  # a replica that never saw the customer: tries to create the key
        again = await new_complaint(svc, "b001", customer_ref="cust_ref_fresh_1")
        async with svc.ctx.pool.acquire() as conn:
            keys = await conn.fetchval(
                "SELECT count(*) FROM text_keys WHERE owner = 'customer:cust_ref_fresh_1'"
            )
            await svc.app.texts.erase_customer(conn, "cust_ref_fresh_1")
        assert keys == 1
        texts._KEYED.clear()  # the erased owner's row is there: the create reads, a fresh key
        after = await new_complaint(svc, "b001", customer_ref="cust_ref_fresh_1")
        for case, status in ((fresh, "erased"), (again, "erased"), (after, "shown")):
            shown = await svc.ok(case["complaint_id"], "acknowledge")
            assert shown["description"]["status"] == status, (case, shown["description"])
        assert shown["description"]["text"] == "card swallowed"
