"""What the follow-up tests do often, on a running follow-up service (tests/support/harness.py).

Other contexts' events are published as their relays would (``tests.support.events.Stream``,
``tests.support.kafka.publish``): the other services need not run. Every test uses branch ids of
its own (the broker is shared by the session)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from tests.support.harness import RECIPES, Running
from tests.support.services import wait_until

#: Monday 2 March 2026, 10:00 in Shanghai: where the service's clock starts
T0 = RECIPES["followup"].t0


def branch() -> str:
    return f"fu-{uuid4().hex[:10]}"


async def list_tasks(
    svc: Running, branch_id: str, status: str = "open", **params: Any
) -> list[dict[str, Any]]:
    """The branch's follow-up tasks of ``status`` (``GET /branches/{b}/follow-ups``)."""
    response = await svc.http.get(f"/branches/{branch_id}/follow-ups", params={"status": status, **params})
    assert response.status_code == 200, response.text
    return response.json()["tasks"]  # type: ignore[no-any-return]


async def wait_tasks(
    svc: Running, branch_id: str, count: int, status: str = "open", timeout: float = 15, **params: Any
) -> list[dict[str, Any]]:
    """Until the branch has ``count`` tasks of ``status`` (exactly that many)."""

    async def enough() -> list[dict[str, Any]] | None:
        found = await list_tasks(svc, branch_id, status, **params)
        return found if len(found) >= count else None

    found = await wait_until(enough, timeout, message=f"{count} {status} task(s) in {branch_id}")
    assert len(found) == count, found
    return found
