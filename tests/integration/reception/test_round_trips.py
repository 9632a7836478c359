"""Round trips per reception command, counted on the service's pool (``shared.db_statements``), as
``tests/integration/complaint/test_round_trips.py`` does for complaints: the hottest commands
(a visit's arrival with a ticket, call-next at a counter) stay within their budget.

Budgets (issue 19 asks ≤ 5 per create, ≤ 6 per lifecycle step): an arrival with a ticket (and no
``Idempotency-Key``) is the ticket number, taken by a statement of its own, then one statement with
the event, lobby row, wait clock and audit row, without ``BEGIN`` and ``COMMIT``
(``services/reception/tickets.py``, ``shared.one_statement``): 2 (4 before). call-next: one
statement picking the next visit from the lobby board, reading its deadline rows and the counter's
row and loading the visit's stream (``services/reception/locks.py``), locking nothing, then one
statement with the event, lobby and counter rows (the counter's checked unchanged), wait clock and
audit, without ``BEGIN`` and ``COMMIT`` (``call_next.py``): 2. A counter the call opens has its
stream read by that same first statement, and its append joins the visit's
(``shared.append_many``; its row is written once, by the visit's rows): 2 as well (with the
transaction: 4; before issue 19's rework: 7 and 9).

Statements are warmed up first (a statement's first use on a connection costs one more round trip,
Parse, once).
"""

from __future__ import annotations

from typing import Any

import pytest

from shared import db_statements
from tests.integration.reception.steps import REF
from tests.support.harness import Running, RunService
from tests.support.round_trips import ELSEWHERE, INTROSPECTION

pytestmark = pytest.mark.asyncio

ARRIVAL = {"customer_ref": REF, "service_type": "deposit_demand"}


async def _counted(svc: Running, path: str, body: dict[str, Any]) -> tuple[Any, list[str]]:
    with db_statements.counting() as tally:
        response = await svc.post(path, body)
        assert response.status_code in (200, 201), response.text
        await tally.settled()
    # the request's own (not the SLA scheduler's or the gauges' rounds that happened to run)
    own = [s for s in tally.without(*ELSEWHERE) if not any(m in s for m in INTROSPECTION)]
    print(f"\n{path}: {len(own)} round trips", *own, sep="\n  ")
    return response.json(), own


async def test_arrival_and_call_next_stay_within_their_round_trips(run_service: RunService) -> None:
    async with run_service("reception") as svc:
        for n in range(3):  # prepare the statements on the connection the next requests reuse
            made = await svc.post("/branches/b001/visits", ARRIVAL)
            assert made.status_code == 201, made.text
            line = made.json()["line"]
            called = await svc.post(f"/branches/b001/lines/{line}/call-next", {"counter_id": f"w{n}"})
            assert called.status_code == 200, called.text

        visit, arrival = await _counted(svc, "/branches/b001/visits", ARRIVAL)
        assert visit["status"] == "queued" and visit["ticket"]
        called, call_next = await _counted(
            svc, f"/branches/b001/lines/{visit['line']}/call-next", {"counter_id": "c1"}
        )
        assert called["visit_id"] == visit["visit_id"] and called["counter_id"] == "c1"
        # the counter the call opened: its row written once, open and with the customer at it
        async with svc.app.pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT state, state_since, visit_id, staff_id FROM counters
                   WHERE branch_id = $1 AND counter_id = $2""",
                "b001",
                "c1",
            )
        assert row["state"] == "open" and row["state_since"] is not None, row
        assert str(row["visit_id"]) == visit["visit_id"] and row["staff_id"] == called["staff_id"], row
        # at a counter opened before (the usual case): the call leaves the counter's stream alone
        opened = await svc.post("/branches/b001/counters/c2/open", {"staff_id": "t-c2"})
        assert opened.status_code == 200, opened.text
        waiting = (await svc.post("/branches/b001/visits", ARRIVAL)).json()
        called_open, call_next_open = await _counted(
            svc, f"/branches/b001/lines/{waiting['line']}/call-next", {"counter_id": "c2"}
        )
        assert called_open["visit_id"] == waiting["visit_id"] and called_open["counter_id"] == "c2"
        counter = await svc.get("/branches/b001/counters/c2")
        assert counter.status_code == 200 and counter.json()["status"] == "open", counter.text

    assert len(arrival) <= 2, arrival
    assert len(call_next) <= 2, call_next
    assert len(call_next_open) <= 2, call_next_open
