"""Round trips per command, counted on the service's pool (``shared.db_statements``): creates and
lifecycle steps stay within their budget, so a regression in the command path fails here.

Counted: every statement any pooled connection sends while the request runs, up to the moment
the pool has the connection back (BEGIN, COMMIT, reads, writes, the pool's reset). Statements are
warmed up first: a statement's first use on a connection costs one more round trip (Parse), once.

Budgets (issue 19: ≤ 5 per create, ≤ 6 per lifecycle step; here fewer): a plain create is the
customer's text key (the description is encrypted under it; read or created by one statement)
and ONE statement with the event, texts, deadlines, board row and audit row — no BEGIN, no
COMMIT (``shared.one_statement``: PostgreSQL's implicit transaction); a new customer's key is
created in that statement too (one round trip). An ``Idempotency-Key``
takes a transaction for its claim (the key's row inserted: lock and look-up in one): BEGIN,
claim, key, statement, COMMIT. A lifecycle step is the stream's load (which is also the branch
check, and reads the customer's text key, the case's deadlines and its texts with it:
``services.complaint.case_read``) and the one statement; a step carrying a free text reads
nothing more.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared import db_statements
from tests.integration.complaint.steps import new_complaint
from tests.support.harness import Running, RunService
from tests.support.round_trips import ELSEWHERE, INTROSPECTION, drop_begun_before

pytestmark = pytest.mark.asyncio

#: the status gauges' round (``ComplaintApp.refresh_gauges``)
GAUGES = ("FROM complaint_board GROUP BY status", "is_open AND on_hold", "visit_departures WHERE left_at <")

BODY = {"channel": "phone_hotline", "customer_ref": "cust_ref_0042", "description": "card swallowed"}


async def _counted(svc: Running, path: str, body: dict[str, Any], **headers: str) -> tuple[Any, list[str]]:
    with db_statements.counting() as tally:
        response = await svc.post(path, body, **headers)
        assert response.status_code in (200, 201), response.text
        await tally.settled()
    # a reaction to another test's events on the shared broker, the SLA scheduler's or the status
    # gauges' round landing in the window, a fresh connection's type introspection: not this
    # request's work
    drop_begun_before(tally)
    own = [s for s in tally.without(*ELSEWHERE, *GAUGES) if not any(m in s for m in INTROSPECTION)]
    others = tally.count - len(own)
    print(f"\n{path} {headers or ''}: {len(own)} round trips (others: {others})", *own, sep="\n  ")
    return response.json(), own


async def test_creates_and_lifecycle_steps_stay_within_their_round_trips(
    run_service: RunService,
) -> None:
    async with run_service("complaint") as svc:
        for n in range(3):  # prepare the statements on the connection the next requests reuse
            created = await new_complaint(svc, "b001")
            await svc.ok(created["complaint_id"], "acknowledge", {"apology": "Sorry."})
            await svc.post("/branches/b001/complaints", BODY, **{"Idempotency-Key": f"warm-up-key-{n}"})
            second = await new_complaint(svc, "b001")
            await svc.ok(second["complaint_id"], "acknowledge")

        for n in range(3):  # a new customer's create, prepared the same way
            await new_complaint(svc, "b001", customer_ref=f"cust_ref_warm_{n}")
        _, first = await _counted(
            svc, "/branches/b001/complaints", {**BODY, "customer_ref": "cust_ref_first"}
        )
        case, create = await _counted(svc, "/branches/b001/complaints", BODY)
        assert len(case["deadlines"]) == 4  # the answer's deadlines come from the transaction
        _, keyed = await _counted(
            svc, "/branches/b001/complaints", BODY, **{"Idempotency-Key": "round-trips-1"}
        )
        shown, step = await _counted(svc, f"/complaints/{case['complaint_id']}/acknowledge", {})
        assert shown["status"] == "acknowledged"
        # the view's texts as read with the stream: the words, for staff of the branch
        assert (shown["description"]["status"], shown["description"]["text"]) == ("shown", "card swallowed")
        other = await new_complaint(svc, "b001")
        _, step_with_text = await _counted(
            svc, f"/complaints/{other['complaint_id']}/acknowledge", {"apology": "Sorry."}
        )

    assert len(first) <= 1, first
    assert len(create) <= 2, create
    assert len(keyed) <= 5, keyed
    assert len(step) <= 2, step
    assert len(step_with_text) <= 2, step_with_text
