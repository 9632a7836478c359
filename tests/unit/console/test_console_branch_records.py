"""A record is shown and acted on only under its own branch's URL: a staff member of two branches
who opens branch b2's case, visit or task under ``/b/b1/…`` is told it is not b1's, and a step
posted there never reaches the service (``Page.record``)."""

from __future__ import annotations

import httpx

from tests.unit.console.test_console_pages import Services, console, signed_in, token  # noqa: F401

CASE_ID = "00000000-0000-4000-8000-0000000000c1"
VISIT_ID = "00000000-0000-4000-8000-0000000000a1"
TASK_ID = "00000000-0000-4000-8000-0000000000f1"


def _of_b2(record: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, json={**record, "branch_id": "b2", "version": 3})


async def test_a_record_of_another_branch_is_neither_shown_nor_acted_on(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    services.on(
        "GET", f"http://complaint.test/complaints/{CASE_ID}", lambda r: _of_b2({"status": "received"})
    )
    services.on("GET", f"http://reception.test/visits/{VISIT_ID}", lambda r: _of_b2({"status": "arrived"}))
    services.on("GET", f"http://followup.test/follow-ups/{TASK_ID}", lambda r: _of_b2({"status": "open"}))
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1", "b2"]))
    client.cookies.set("bc_lang", "en")

    case = await client.get(f"/b/b1/complaints/{CASE_ID}")
    assert case.status_code == 200
    assert "This record does not belong to branch b1." in case.text
    assert 'id="step-' not in case.text
    visit = await client.get(f"/b/b1/visits/{VISIT_ID}")
    assert "This record does not belong to branch b1." in visit.text and 'id="step-' not in visit.text

    assert (
        await client.post(f"/b/b1/complaints/{CASE_ID}/acknowledge", data={"version": "3"})
    ).status_code == 404
    assert (await client.post(f"/b/b1/visits/{VISIT_ID}/greet", data={"version": "3"})).status_code == 404
    refused = await client.post(
        f"/b/b1/follow-ups/{TASK_ID}/contact", data={"version": "3", "reached": "true"}
    )
    assert refused.status_code == 404 and "This record does not belong to branch b1." in refused.text
    assert [c.method for c in services.calls if c.method != "GET"] == []  # no step reached a service
