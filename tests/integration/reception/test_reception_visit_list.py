"""Every terminal of a branch sees the branch's visits: the list, its filters and pages, and the
lobby board's in-progress stages (real PostgreSQL, real broker)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.integration.reception.steps import T0, arrive, lobby, ready_to_queue
from tests.support.auth import bearer
from tests.support.harness import RunService

pytestmark = pytest.mark.integration


def branch() -> str:
    return f"b-{uuid.uuid4().hex[:8]}"


async def test_a_visit_registered_at_one_terminal_is_listed_at_every_other(
    run_service: RunService,
) -> None:
    b = branch()
    async with run_service("reception") as svc:
        desk = (await arrive(svc, b))["visit_id"]  # the lobby manager at the entrance
        await svc.ok(desk, "greet")
        svc.clock.advance(timedelta(minutes=1))
        express = (await arrive(svc, b, service_type="deposit_demand"))["visit_id"]  # ticket machine
        svc.clock.advance(timedelta(minutes=1))
        guided = await ready_to_queue(svc, b)
        # another terminal: a teller of the branch with a token of their own
        teller = bearer("teller-9", [b], ["counter_staff"])
        listed = await svc.http.get(f"/branches/{b}/visits", headers=teller)
        assert listed.status_code == 200, listed.text
        page = listed.json()
        assert [v["visit_id"] for v in page["items"]] == [guided, express, desk]  # newest first
        assert [v["stage"] for v in page["items"]] == ["documents", "waiting", "greeted"]
        assert page["next_cursor"] is None and page["day"] == "2026-03-02"
        assert page["items"][1]["ticket"] == "A001"

        called = await svc.post(f"/branches/{b}/lines/deposits/call-next", {"counter_id": "3"})
        assert called.status_code == 200
        at_3 = (await svc.get(f"/branches/{b}/visits", counter="3")).json()["items"]
        assert [(v["visit_id"], v["stage"]) for v in at_3] == [(express, "being_served")]
        queued = await svc.get(f"/branches/{b}/visits", status=["greeted", "called"])
        assert {v["visit_id"] for v in queued.json()["items"]} == {desk, express}
        assert (await svc.get(f"/branches/{b}/visits", line="loans")).json()["items"] == []

        board = await lobby(svc, b)
        assert board["in_progress"]["counts"] == {
            "greeted": 1, "guided": 0, "documents": 1, "being_served": 1
        }  # fmt: skip
        serving = [p for p in board["in_progress"]["visits"] if p["stage"] == "being_served"]
        assert serving[0]["ticket"] == "A001" and serving[0]["counter_id"] == "3"
        assert "display_name" not in board["in_progress"]["visits"][0]

        other = bearer("teller-x", ["b-elsewhere"], ["counter_staff"])
        assert (await svc.http.get(f"/branches/{b}/visits", headers=other)).status_code == 403


async def test_pages_filters_and_bad_values(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        ids = []
        for _ in range(5):
            ids.append((await arrive(svc, b))["visit_id"])
            svc.clock.advance(timedelta(seconds=30))
        seen: list[str] = []
        cursor = None
        for _ in range(3):
            params = {"limit": 2} | ({"after": cursor} if cursor else {})
            page = (await svc.get(f"/branches/{b}/visits", **params)).json()
            seen += [v["visit_id"] for v in page["items"]]
            cursor = page["next_cursor"]
        assert seen == list(reversed(ids)) and cursor is None
        later = (T0 + timedelta(seconds=59)).isoformat()
        since = (await svc.get(f"/branches/{b}/visits", since=later)).json()
        assert [v["visit_id"] for v in since["items"]] == list(reversed(ids[2:])) and since["day"] is None
        assert (await svc.get(f"/branches/{b}/visits", date="2026-03-01")).json()["items"] == []
        for params in (
            {"status": "napping"},
            {"line": "Deposits!"},
            {"counter": "x" * 33},
            {"since": "2026-03-02T09:00:00"},  # no timezone
            {"since": "yesterday"},
            {"limit": 0},
            {"limit": 201},
            {"after": "not-a-cursor"},
            {"date": "2026-02-30"},
        ):
            response = await svc.get(f"/branches/{b}/visits", **params)
            assert response.status_code == 422, (params, response.text)
            assert response.json()["detail"], params
