"""What the reception tests do often, on a running reception service (tests/support/harness.py):
drive a visit to the queue, read the lobby."""

from __future__ import annotations

from typing import Any

from tests.support.harness import RECIPES, Running

#: a Monday, 09:00 in Shanghai: where the service's clock starts
T0 = RECIPES["reception"].t0
REF = "cust_ref_0042"


async def arrive(svc: Running, branch: str, **body: Any) -> dict[str, Any]:
    """A visit arrived (201); its view."""
    response = await svc.post(f"/branches/{branch}/visits", {"customer_ref": REF, **body})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def ready_to_queue(svc: Running, branch: str, service_type: str = "deposit_demand", **body: Any) -> str:
    """Arrived, greeted, need confirmed, guided, documents complete: returns the visit id."""
    visit_id = (await arrive(svc, branch, **body))["visit_id"]
    await svc.ok(visit_id, "greet")
    await svc.ok(visit_id, "confirm-need", {"service_type": service_type, "notes": "at the desk"})
    await svc.ok(visit_id, "guide")
    await svc.ok(visit_id, "check-documents", {"missing": []})
    return str(visit_id)


async def queued(
    svc: Running, branch: str, service_type: str = "deposit_demand", **body: Any
) -> tuple[str, str]:
    """A visit in the queue: its id and ticket."""
    visit_id = await ready_to_queue(svc, branch, service_type, **body)
    ticket = (await svc.ok(visit_id, "queue"))["ticket"]
    return visit_id, ticket


async def lobby(svc: Running, branch: str) -> dict[str, Any]:
    response = await svc.get(f"/branches/{branch}/lobby")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
