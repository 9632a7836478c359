"""What the complaint tests do often, on a running complaint service (tests/support/harness.py)."""

from __future__ import annotations

from typing import Any

from tests.support.harness import RECIPES, Running

#: a Thursday, 09:00 in Shanghai: where the service's clock starts
T0 = RECIPES["complaint"].t0


async def new_complaint(
    svc: Running, branch: str, channel: str = "phone_hotline", **extra: Any
) -> dict[str, Any]:
    """A complaint received over HTTP (201); its view."""
    body = {"channel": channel, "customer_ref": "cust_ref_0042", "description": "card swallowed", **extra}
    response = await svc.post(f"/branches/{branch}/complaints", body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
