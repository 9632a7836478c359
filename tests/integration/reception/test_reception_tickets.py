"""Ticket numbers: unique per branch, line and local day, also under concurrent arrivals; a number
may be skipped (an arrival failing after taking it, ``services/reception/tickets.py``), never
issued twice, and a refused command takes none."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import pytest

from services.reception.tickets import Taken, take
from shared.contracts.reception import ServiceType
from shared.decider import DomainError
from shared.envelope import Metadata
from tests.integration.reception.steps import arrive, ready_to_queue
from tests.support.harness import RunService

pytestmark = pytest.mark.integration


def branch() -> str:
    return f"b-{uuid.uuid4().hex[:8]}"


async def test_concurrent_arrivals_get_unique_consecutive_tickets(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        responses = await asyncio.gather(
            *(svc.post(f"/branches/{b}/visits", {"service_type": "deposit_demand"}) for _ in range(30)),
            *(svc.post(f"/branches/{b}/visits", {"service_type": "card_service"}) for _ in range(10)),
        )
        assert all(r.status_code == 201 for r in responses), [
            r.text for r in responses if r.status_code != 201
        ]
        tickets = [r.json()["ticket"] for r in responses]
        deposits = sorted(t for t in tickets if t.startswith("A"))
        cards = sorted(t for t in tickets if t.startswith("B"))
        assert deposits == [f"A{n:03d}" for n in range(1, 31)]
        assert cards == [f"B{n:03d}" for n in range(1, 11)]


async def test_concurrent_queue_commands_never_share_a_number(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        visits = await asyncio.gather(*(ready_to_queue(svc, b) for _ in range(12)))
        results = await asyncio.gather(*(svc.ok(v, "queue") for v in visits))
        assert sorted(r["ticket"] for r in results) == [f"A{n:03d}" for n in range(1, 13)]


async def test_numbers_are_per_branch_and_restart_every_local_day(run_service: RunService) -> None:
    b1, b2 = branch(), branch()
    async with run_service("reception") as svc:
        assert (await arrive(svc, b1, service_type="withdrawal"))["ticket"] == "A001"
        assert (await arrive(svc, b1, service_type="withdrawal"))["ticket"] == "A002"
        assert (await arrive(svc, b2, service_type="withdrawal"))["ticket"] == "A001"
        # 23:59 in Shanghai is still the same day; 00:00 the next
        svc.clock.advance(timedelta(hours=14, minutes=59))
        assert (await arrive(svc, b1, service_type="withdrawal"))["ticket"] == "A003"
        svc.clock.advance(timedelta(minutes=1))
        assert (await arrive(svc, b1, service_type="withdrawal"))["ticket"] == "A001"


async def test_a_refused_queue_command_does_not_use_up_a_number(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        visit = (await arrive(svc, b))["visit_id"]
        await svc.ok(visit, "greet")
        await svc.ok(visit, "confirm-need", {"service_type": "transfer"})
        await svc.ok(visit, "guide")
        refused = await svc.post(f"/visits/{visit}/queue")
        assert refused.status_code == 409 and "check the documents" in refused.json()["detail"]
        assert (await arrive(svc, b, service_type="transfer"))["ticket"] == "A001"
        await svc.ok(visit, "check-documents", {"missing": []})
        assert (await svc.ok(visit, "queue"))["ticket"] == "A002"


async def test_a_refused_arrival_does_not_use_up_a_number(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        # an arrival is one statement with its number taken first on its own: decided before it
        # takes one (the HTTP body refuses this one already: the app is asked directly)
        app, meta = svc.app, Metadata(actor="agent-1")
        refused = app.arrival(service_type=ServiceType.deposit_demand, relationship_manager="rm-1")
        with pytest.raises(DomainError, match="returning"):
            await app.arrive(b, refused, meta=meta)
        made = app.arrival(
            service_type=ServiceType.deposit_demand, relationship_manager="rm-1", returning=True
        )
        assert (await app.arrive(b, made, meta=meta)).state.ticket == "R001"


class _RolledBack(Exception):
    pass


async def test_a_number_taken_on_its_own_is_kept_for_a_rerun_and_never_issued_twice(
    run_service: RunService,
) -> None:
    b, day = branch(), date(2026, 3, 2)
    async with run_service("reception") as svc, svc.app.pool.acquire() as conn:
        taken = Taken()
        assert await take(conn, b, "deposits", day, taken) == 1
        # the command run again (its statement never ran): the number it took, not a skipped one
        assert await take(conn, b, "deposits", day, taken) == 1
        assert await take(conn, b, "deposits", day, Taken()) == 2  # another arrival: the next
        in_transaction = Taken()
        with pytest.raises(_RolledBack):
            async with conn.transaction():
                assert await take(conn, b, "deposits", day, in_transaction) == 3
                raise _RolledBack
        # rolled back with its transaction: 3 is free again, so a re-run must not keep it
        assert await take(conn, b, "deposits", day, in_transaction) == 3
        assert await take(conn, b, "deposits", day, Taken()) == 4
