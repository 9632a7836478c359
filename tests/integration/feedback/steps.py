"""What the feedback tests do often, on a running feedback service (tests/support/harness.py):
answer a survey, read one, wait for one to be requested or sent."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx

from services.feedback.domain import survey_id_for
from tests.support.harness import RECIPES, Running
from tests.support.services import wait_until

#: Monday 2 March 2026, 10:00 in Shanghai: where the service's clock starts
T0 = RECIPES["feedback"].t0


def branch() -> str:
    return f"fb-{uuid4().hex[:10]}"


async def answer_survey(svc: Running, survey_id: UUID | str, body: dict[str, Any]) -> httpx.Response:
    return await svc.http.post(f"/surveys/{survey_id}/responses", json=body)


async def survey_view(svc: Running, survey_id: UUID | str) -> dict[str, Any]:
    response = await svc.http.get(f"/surveys/{survey_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def wait_survey(
    svc: Running, subject: str, status: str | None = None, timeout: float = 15
) -> dict[str, Any]:
    """Until the survey of ``subject`` exists (in ``status``, if given); its view. Surveys come from
    events: ``svc.auth.allow(branch)`` first."""
    survey_id = survey_id_for(subject)

    async def there() -> dict[str, Any] | None:
        response = await svc.http.get(f"/surveys/{survey_id}")
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if status is None or body["status"] == status else None

    return await wait_until(there, timeout, message=f"survey of {subject} ({status or 'any'})")
