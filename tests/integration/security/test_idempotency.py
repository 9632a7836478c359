"""Issue 15: every create takes an ``Idempotency-Key`` — the same create sent twice (one after the
other, or several at once) makes one case / one ticket / one answer with the same id every time;
the same key with another body or on another route is a 422 naming the conflict; the same key in
another branch is another key. Real apps over HTTP on real PostgreSQL and the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import httpx
import pytest

from shared.idempotency import HEADER, REPLAYED_HEADER
from tests.integration.security.seeds import (
    quiet_background,
    seeded,
)
from tests.integration.security.vault_steps import fake_people
from tests.support.auth import bearer
from tests.support.harness import Running

pytestmark = pytest.mark.integration

CONCURRENT = 5


class Creates:
    """Posts one create with a key, as staff of branch A (or B)."""

    def __init__(self, svc: Running) -> None:
        self.svc = svc
        self.staff = {
            svc.params["branch_id"]: bearer("idem-a", [svc.params["branch_id"]]),
            svc.params["other_branch_id"]: bearer("idem-b", [svc.params["other_branch_id"]]),
        }

    async def post(
        self, path: str, body: dict[str, Any] | None, key: str, *, branch: str | None = None
    ) -> httpx.Response:
        headers = {**self.staff[branch or self.svc.params["branch_id"]], HEADER: key}
        if body is None:
            return await self.svc.http.post(path, headers=headers)
        return await self.svc.http.post(path, json=body, headers=headers)

    async def twice(
        self,
        path: str,
        body: dict[str, Any] | None,
        id_field: str,
        burst_path: str | None = None,
        burst_body: dict[str, Any] | None = None,
    ) -> list[httpx.Response]:
        """The same create twice in a row, then ``CONCURRENT`` times at once with another key (on
        ``burst_path`` / with ``burst_body`` if given: a create on a resource happens once per
        resource, a customer registers once): one id per key, the same status every time; the
        replays say so."""
        key = str(uuid4())
        first = await self.post(path, body, key)
        second = await self.post(path, body, key)
        assert first.status_code in (200, 201), first.text
        assert second.status_code == first.status_code, second.text
        assert second.json()[id_field] == first.json()[id_field]
        assert REPLAYED_HEADER not in first.headers and second.headers[REPLAYED_HEADER] == "true"

        key = str(uuid4())
        burst = await asyncio.gather(
            *(self.post(burst_path or path, burst_body or body, key) for _ in range(CONCURRENT))
        )
        assert {r.status_code for r in burst} == {first.status_code}, [r.text for r in burst]
        assert len({r.json()[id_field] for r in burst}) == 1
        assert sum(REPLAYED_HEADER not in r.headers for r in burst) == 1, "exactly one did the work"
        return [first, second, *burst]

    async def conflicts(
        self, path: str, body: dict[str, Any] | None, other: dict[str, Any], used: str | None = None
    ) -> None:
        """A used key with another body → 422 naming the conflict; on another create route of the
        branch (``used``) → 422 too."""
        key = str(uuid4())
        assert (await self.post(path, body, key)).status_code in (200, 201)
        refused = await self.post(path, other, key)
        assert refused.status_code == 422, refused.text
        assert "another body" in refused.json()["detail"] and HEADER in refused.json()["detail"]
        if used is not None:
            elsewhere = await self.post(used, {}, key)
            assert elsewhere.status_code == 422, elsewhere.text
            assert "already used" in elsewhere.json()["detail"]

    async def count(self, sql: str, *args: Any) -> int:
        async with self.svc.ctx.pool.acquire() as conn:
            value: int = await conn.fetchval(sql, *args)
            return value


def _ids(responses: Sequence[httpx.Response], field: str) -> set[str]:
    return {r.json()[field] for r in responses}


async def guided(c: Creates, branch: str) -> str:
    """A visit at the desk, ready for its queue ticket."""
    visit: str = (await c.post(f"/branches/{branch}/visits", {}, str(uuid4()))).json()["visit_id"]
    for step, body in [("greet", None), ("confirm-need", {"service_type": "enquiry"}), ("guide", None)]:
        done = await c.svc.http.post(f"/visits/{visit}/{step}", json=body, headers=c.staff[branch])
        assert done.status_code == 200, done.text
    return visit


async def another_survey(svc: Running) -> str:
    from services.feedback.components import components
    from services.feedback.domain import RequestSurvey, survey_id_for
    from shared.contracts.feedback import SurveyChannel
    from shared.envelope import Metadata
    from tests.integration.security.seeds import T0

    app = components(svc.ctx).app
    subject = f"visit:{uuid4()}"
    survey_id = survey_id_for(subject)
    command = RequestSurvey(
        survey_id=survey_id,
        subject=subject,
        customer_ref="cust_ref_0042",
        channel=SurveyChannel.sms,
        requested_at=T0,
        expires_at=app.window_end(svc.params["branch_id"], T0),
    )
    async with svc.ctx.pool.acquire() as conn, conn.transaction():
        await app.execute_in(
            conn, survey_id, command, meta=Metadata(actor="seed-1"), branch_id=svc.params["branch_id"]
        )
    return str(survey_id)


async def test_reception_creates(database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    quiet_background(monkeypatch)
    async with seeded("reception", database_url, kafka.bootstrap_servers) as svc:
        c = Creates(svc)
        a, b = svc.params["branch_id"], svc.params["other_branch_id"]
        arrivals = "SELECT count(*) FROM events WHERE type = 'VisitArrived' AND branch_id = $1"
        tickets = "SELECT count(*) FROM events WHERE type = 'VisitQueued' AND branch_id = $1"
        before = await c.count(arrivals, a)

        # an arrival at the ticket machine: one visit, one ticket, whatever the retries
        express = {"service_type": "enquiry"}
        visits = await c.twice(f"/branches/{a}/visits", express, "visit_id")
        assert await c.count(arrivals, a) == before + 2 and await c.count(tickets, a) == 2
        assert len({r.json()["ticket"] for r in visits[:2]}) == 1
        await c.conflicts(
            f"/branches/{a}/visits", express, {"service_type": "withdrawal"}, f"/branches/{a}/calls"
        )

        # the same key in branch B is B's own key: another visit
        key = str(uuid4())
        in_a = await c.post(f"/branches/{a}/visits", express, key)
        in_b = await c.post(f"/branches/{b}/visits", express, key, branch=b)
        assert in_a.status_code == in_b.status_code == 201
        assert in_a.json()["visit_id"] != in_b.json()["visit_id"]

        # phone calls
        calls = "SELECT count(*) FROM events WHERE type = 'CallReceived' AND branch_id = $1"
        before_calls = await c.count(calls, a)
        await c.twice(f"/branches/{a}/calls", {}, "call_id")
        assert await c.count(calls, a) == before_calls + 2

        # a queue ticket for a visit at the desk (twice in a row on one visit, at once on another)
        # and a complaint raised during the visit
        ready = [await guided(c, a) for _ in range(2)]
        queued = await c.twice(f"/visits/{ready[0]}/queue", None, "visit_id", f"/visits/{ready[1]}/queue")
        assert len({r.json()["ticket"] for r in queued[:2]}) == 1
        for visit in ready:
            assert await c.count(tickets + " AND stream_id = $2", a, f"visit-{visit}") == 1
        raised = "SELECT count(*) FROM events WHERE type = 'ComplaintRaisedDuringVisit' AND stream_id = $1"
        complaint = {"description": "the queue machine swallowed my ticket", "customer_ref": "cust_ref_0555"}
        await c.twice(f"/visits/{ready[0]}/raise-complaint", complaint, "visit_id")
        assert await c.count(raised, f"visit-{ready[0]}") == 2
        await c.conflicts(
            f"/visits/{ready[0]}/raise-complaint",
            complaint,
            {**complaint, "description": "another matter"},
            f"/visits/{ready[1]}/queue",
        )

        # the vault: one registration, the first answer (201) every time; another person → 422
        people = fake_people(4)
        path = f"/branches/{a}/customers"
        registered = await c.twice(path, people[0].body(), "customer_ref", burst_body=people[3].body())
        assert {r.status_code for r in registered[:2]} == {201}
        await c.conflicts(
            f"/branches/{a}/customers", people[1].body(), people[2].body(), f"/branches/{a}/visits"
        )


async def test_complaint_creates_and_merges(
    database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet_background(monkeypatch)
    async with seeded("complaint", database_url, kafka.bootstrap_servers) as svc:
        c = Creates(svc)
        a, b = svc.params["branch_id"], svc.params["other_branch_id"]
        received = "SELECT count(*) FROM events WHERE type = 'ComplaintReceived' AND branch_id = $1"
        before = await c.count(received, a)
        body = {"channel": "phone_hotline", "customer_ref": "cust_ref_0777", "description": "card swallowed"}
        created = await c.twice(f"/branches/{a}/complaints", body, "complaint_id")
        assert {r.status_code for r in created} == {201}
        assert await c.count(received, a) == before + 2, "one case per key"
        await c.conflicts(f"/branches/{a}/complaints", body, {**body, "channel": "web"})

        # a repeat merged into the open case (cn-2020): the retry answers the same merge, once
        matter = {**body, "customer_ref": "cust_ref_0888", "matter_key": "card:1234"}
        first = await c.post(f"/branches/{a}/complaints", matter, str(uuid4()))
        assert first.status_code == 201
        repeat = {**matter, "channel": "web", "description": "still no card"}
        merged = await c.twice(f"/branches/{a}/complaints", repeat, "complaint_id")
        assert {r.status_code for r in merged} == {200} and all(r.json()["merged"] for r in merged)
        assert _ids(merged, "complaint_id") == {first.json()["complaint_id"]}
        repeats = "SELECT count(*) FROM events WHERE type = 'RepeatComplaintMerged' AND stream_id = $1"
        assert await c.count(repeats, f"complaint-{first.json()['complaint_id']}") == 2

        key = str(uuid4())
        in_a = await c.post(f"/branches/{a}/complaints", body, key)
        in_b = await c.post(f"/branches/{b}/complaints", body, key, branch=b)
        assert in_a.status_code == in_b.status_code == 201
        assert in_a.json()["complaint_id"] != in_b.json()["complaint_id"]

        # two replicas on the same database: the same key sent to both at once is one case
        async with seeded("complaint", database_url, kafka.bootstrap_servers) as replica:
            before = await c.count(received, a)
            key = str(uuid4())
            headers = {**c.staff[a], HEADER: key}
            path = f"/branches/{a}/complaints"
            answers = await asyncio.gather(
                *(http.post(path, json=body, headers=headers) for http in (svc.http, replica.http) * 3)
            )
            assert {r.status_code for r in answers} == {201}
            assert len({r.json()["complaint_id"] for r in answers}) == 1
            assert await c.count(received, a) == before + 1


async def test_survey_answers(database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    quiet_background(monkeypatch)
    async with seeded("feedback", database_url, kafka.bootstrap_servers) as svc:
        c = Creates(svc)
        answered = "SELECT count(*) FROM events WHERE type = 'SurveyAnswered' AND stream_id = $1"
        survey, other_survey = svc.params["survey_id"], await another_survey(svc)
        answer = {"score": 5, "comment": "quick and friendly"}
        responses = await c.twice(
            f"/surveys/{survey}/responses", answer, "survey_id", f"/surveys/{other_survey}/responses"
        )
        assert {r.status_code for r in responses} == {201}
        other = await c.post(
            f"/surveys/{survey}/responses", {"score": 1}, responses[0].request.headers[HEADER]
        )
        assert other.status_code == 422 and "another body" in other.json()["detail"]
        unkeyed = await svc.http.post(
            f"/surveys/{survey}/responses", json=answer, headers=c.staff[svc.params["branch_id"]]
        )
        assert unkeyed.status_code == 409, "without a key a second answer is refused, as before"
        for answered_survey in (survey, other_survey):
            assert await c.count(answered, f"survey-{answered_survey}") == 1


async def test_a_bad_key_is_refused(database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    quiet_background(monkeypatch)
    async with seeded("complaint", database_url, kafka.bootstrap_servers) as svc:
        c = Creates(svc)
        body = {"channel": "web", "customer_ref": "cust_ref_0777", "description": "x"}
        for key in ("short", "x" * 256, "with space inside"):
            refused = await c.post(f"/branches/{svc.params['branch_id']}/complaints", body, key)
            assert refused.status_code == 422, (key, refused.text)
        spec = (await svc.http.get("/openapi.json")).json()
        parameter = spec["components"]["parameters"]["IdempotencyKey"]
        assert (
            parameter["in"] == "header" and parameter["name"] == HEADER and "24 h" in parameter["description"]
        )
        create = spec["paths"]["/branches/{branch_id}/complaints"]["post"]
        assert {"$ref": "#/components/parameters/IdempotencyKey"} in create["parameters"]
