"""The HTTP contract over TCP, and the events it puts on reception.events.v1 (read with aiokafka)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.integration.reception.steps import REF, arrive, queued
from tests.support.harness import STAFF, RunService
from tests.support.pii import bank_card, id_number, phone

pytestmark = pytest.mark.integration


def branch() -> str:
    return f"b-{uuid.uuid4().hex[:8]}"


async def test_a_visit_over_http_publishes_its_lifecycle_on_the_topic(
    run_service: RunService,
) -> None:
    b = branch()
    async with run_service("reception") as svc:
        created = await svc.post(
            f"/branches/{b}/visits",
            {"arrival": "appointment", "customer_ref": REF, "display_name": "王*", "returning": True},
        )
        assert created.status_code == 201
        body = created.json()
        assert set(body) >= {"visit_id", "ticket"} and body["ticket"] is None and body["status"] == "arrived"
        assert created.headers["Location"] == f"/visits/{body['visit_id']}"
        visit = body["visit_id"]
        await svc.ok(visit, "greet", {"priority": "elderly", "accessibility": ["hearing"]})
        need = await svc.ok(visit, "confirm-need", {"service_type": "transfer", "notes": "to a relative"})
        assert need["line"] == "deposits"
        guided = await svc.ok(visit, "guide", {"notes": "payee's account number"})
        assert guided["required_materials"] == ["bank_card", "id_card", "payee_details"]
        checked = await svc.ok(visit, "check-documents", {"missing": ["payee_details"]})
        assert checked["status"] == "documents_incomplete" and checked["missing"] == ["payee_details"]
        assert (await svc.ok(visit, "leave", {"to_fetch_documents": True}))["status"] == "away"
        svc.clock.advance(timedelta(minutes=20))
        await svc.ok(visit, "return")
        await svc.ok(visit, "check-documents", {"missing": []})
        queued = await svc.ok(visit, "queue")
        assert queued["ticket"] == "A001" and queued["status"] == "queued"
        svc.clock.advance(timedelta(minutes=7))
        await svc.ok(visit, "call", {"counter_id": "3", "staff_id": "teller-3"})
        svc.clock.advance(timedelta(minutes=6))
        promised = (svc.clock.now() + timedelta(days=2)).isoformat()
        served = await svc.ok(
            visit,
            "serve",
            {"outcome": "transfer sent", "next_steps": "funds arrive within 2 days", "promised_by": promised},
        )
        assert served["status"] == "served" and served["waited_seconds"] == 420
        left = await svc.ok(visit, "leave")
        assert left["status"] == "left" and left["left_reason"] == "served"

        events = await svc.published(f"visit-{visit}", 13)
        assert [e.type for e in events] == [
            "VisitArrived", "VisitGreeted", "VisitPrioritised", "NeedConfirmed", "VisitGuided",
            "DocumentsChecked", "VisitSteppedOut", "VisitReturned", "DocumentsChecked", "VisitQueued",
            "VisitCalled", "VisitServed", "VisitLeft",
        ]  # fmt: skip
        assert [e.stream_version for e in events] == list(range(1, 14))
        assert all(e.actor == STAFF and e.branch_id == b for e in events)
        served_event = next(e for e in events if e.type == "VisitServed")
        assert served_event.data["staff_id"] == "teller-3" and served_event.data["customer_ref"] == REF
        assert served_event.data["promised_by"] is not None and served_event.data["waited_seconds"] == 420


async def test_ticket_machine_arrival_returns_the_ticket(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        body = await arrive(svc, b, service_type="loan_application", notes="mortgage", priority="vip")
        assert body["ticket"] == "C001" and body["status"] == "queued" and body["line"] == "loans"
        routed = await arrive(
            svc, b, service_type="loan_application", returning=True, relationship_manager="rm-1"
        )
        assert routed["ticket"] == "R001" and routed["line"] == "relationship_manager"


async def test_forbidden_transitions_answer_409_with_the_reason(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        visit = (await arrive(svc, b))["visit_id"]
        cases = [
            ("confirm-need", {"service_type": "enquiry"}, "greet the customer"),
            ("serve", {"outcome": "x"}, "call the customer"),
            ("no-show", None, "only a called customer"),
            ("abandon", None, "use leave"),
        ]
        for action, body, reason in cases:
            response = await svc.post(f"/visits/{visit}/{action}", body)
            assert response.status_code == 409, (action, response.text)
            assert reason in response.json()["detail"]
        visit, _ = await queued(svc, b)
        for _ in range(3):
            await svc.ok(visit, "call", {"counter_id": "1"})
        fourth = await svc.post(f"/visits/{visit}/call", {"counter_id": "1"})
        assert fourth.status_code == 409 and "no-show" in fourth.json()["detail"]
        gone = await svc.ok(visit, "no-show")
        assert gone["left_reason"] == "no_show"
        after = await svc.post(f"/visits/{visit}/greet")
        assert after.status_code == 409 and "ended" in after.json()["detail"]


BAD_INPUT: list[tuple[str, dict[str, object]]] = [
    ("/branches/{b}/visits", {"arrival": "walk_in", "vip": True}),  # unknown field
    ("/branches/{b}/visits", {"arrival": "by_helicopter"}),
    ("/branches/{b}/visits", {"display_name": "张三"}),  # not masked: raw PII
    ("/branches/{b}/visits", {"display_name": "张三丰*"}),  # a star, but the name in clear
    ("/branches/{b}/visits", {"display_name": "J*** S****"}),  # more than the first character
    ("/branches/{b}/visits", {"customer_ref": "ab"}),
    ("/branches/{b}/visits", {"relationship_manager": "rm-1"}),  # not returning
    ("/branches/{b}/visits", {"service_type": "complaint"} | {"notes": "x" * 2001}),
    ("/branches/{b}/visits", {"accessibility": ["hearing", "telepathy"]}),
    ("/branches/{b}/calls", {"masked_number": "13812345678"}),  # not masked
    ("/branches/{b}/calls", {"masked_number": "1381234567*"}),  # a star, the number in clear
    ("/branches/{b}/calls", {"masked_number": "1381****5678"}),  # 4 leading digits
    ("/visits/{v}/confirm-need", {"service_type": "complaint"}),  # no description
    ("/visits/{v}/confirm-need", {"service_type": "mortgage"}),
    ("/visits/{v}/check-documents", {"missing": ["Id Card"]}),
    ("/visits/{v}/call", {}),
    ("/visits/{v}/call", {"counter_id": "x" * 33}),
    ("/visits/{v}/serve", {"outcome": ""}),
    ("/visits/{v}/serve", {"outcome": "ok", "promised_by": "2026-03-04T10:00:00"}),
    ("/visits/not-a-uuid/greet", {}),
    ("/branches/{b}/lines/Deposits!/call-next", {"counter_id": "1"}),
]


async def test_bad_input_is_422_and_changes_nothing(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        visit = (await arrive(svc, b))["visit_id"]
        for path, body in BAD_INPUT:
            response = await svc.post(path.format(b=b, v=visit), body)
            assert response.status_code == 422, (path, body, response.text)
        # a raw number where a pseudonymous customer_ref belongs: 422 with the reason, not echoed
        for raw in (phone(), id_number(), bank_card()):
            for path, body in [
                ("/branches/{b}/visits", {"customer_ref": raw}),
                ("/visits/{v}/greet", {"customer_ref": raw}),
                ("/visits/{v}/raise-complaint", {"description": "x", "customer_ref": raw}),
                ("/branches/{b}/calls", {"customer_ref": raw}),
            ]:
                response = await svc.post(path.format(b=b, v=visit), body)
                assert response.status_code == 422, (path, response.text)
                assert "shaped like a phone" in response.text and raw not in response.text
        assert (await svc.get(f"/visits/{visit}")).json()["version"] == 1
        assert (await svc.get(f"/branches/{b}/visits/stats")).json()["visits"] == 1


async def test_unknown_ids_404_and_stale_versions_409(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        missing = uuid.uuid4()
        assert (await svc.post(f"/visits/{missing}/greet")).status_code == 404
        assert (await svc.get(f"/visits/{missing}")).status_code == 404
        assert (await svc.post(f"/calls/{missing}/answer", {"rings": 1})).status_code == 404
        nobody = await svc.post(f"/branches/{b}/lines/loans/call-next", {"counter_id": "1"})
        assert nobody.status_code == 404
        visit = (await arrive(svc, b))["visit_id"]
        assert (await svc.get(f"/visits/{visit}")).headers["ETag"] == '"1"'
        stale = await svc.post(f"/visits/{visit}/greet", None, **{"If-Match": '"0"'})
        assert stale.status_code == 409
        fresh = await svc.post(f"/visits/{visit}/greet", None, **{"If-Match": '"1"'})
        assert fresh.status_code == 200 and fresh.headers["ETag"] == '"2"'
        anonymous = await svc.http.post(f"/visits/{visit}/guide", headers={"X-Staff-Id": STAFF}, auth=None)
        assert anonymous.status_code == 401  # a staff header is no identity
        assert (await svc.get(f"/visits/{visit}")).json()["version"] == 2


async def test_a_phone_call_over_http(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        created = await svc.post(
            f"/branches/{b}/calls", {"customer_ref": REF, "masked_number": "138****5678"}
        )
        assert created.status_code == 201
        call = created.json()["call_id"]
        svc.clock.advance(timedelta(seconds=7))
        answered = (await svc.post(f"/calls/{call}/answer", {"rings": 2})).json()
        assert answered["within_target"] is True and answered["seconds_to_answer"] == 7
        assert (await svc.post(f"/calls/{call}/route", {"routed_to": "loans-desk"})).status_code == 409
        assert (await svc.post(f"/calls/{call}/purpose", {"purpose": "loan_application"})).status_code == 200
        assert (await svc.post(f"/calls/{call}/route", {"routed_to": "loans-desk"})).json()[
            "status"
        ] == "routed"
        ended = (await svc.post(f"/calls/{call}/end")).json()
        assert ended["status"] == "ended" and ended["outcome"] == "routed"
        events = await svc.published(f"call-{call}", 5)
        assert [e.type for e in events] == [
            "CallReceived", "CallAnswered", "CallPurposeRecorded", "CallRouted", "CallEnded",
        ]  # fmt: skip
        assert events[0].data["masked_number"] == "138****5678"
