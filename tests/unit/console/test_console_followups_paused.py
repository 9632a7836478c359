"""The follow-up page marks tasks paused while their complaint is on hold (follow-up's
``paused_at``): follow-up leaves them out of "due" and "overdue", so the page lists them in a panel
of their own, labelled, in both console languages, without a countdown that would mislead."""

from __future__ import annotations

import httpx

from tests.unit.console.test_console_pages import Services, console, signed_in, token  # noqa: F401

URL = "http://followup.test/branches/b1/follow-ups"


def _task(n: int, **more: object) -> dict[str, object]:
    return {
        "task_id": f"00000000-0000-4000-8000-00000000000{n}", "branch_id": "b1", "kind": "progress_update",
        "status": "scheduled", "owner": "cm-1", "due_at": "2026-03-09T01:00:00Z", "overdue": False,
        "reason": "progress update every 5 days", "about": [],
        "subject": "complaint:00000000-0000-4000-8000-0000000000c1", "customer_ref": None,
        "cause_event_id": None, "previous_task_id": None, "scheduled_at": "2026-03-02T01:00:00Z",
        "attempts": 0, "reached": False, "last_note": None, "closed_at": None, "close_note": None,
        "verified": None, "breached_at": None, "paused_at": None, "version": 1,
    } | more  # fmt: skip


PAUSED = _task(1, paused_at="2026-03-04T02:00:00Z")
RUNNING = _task(2)


def _lists(request: httpx.Request) -> httpx.Response:
    status = request.url.params.get("status")
    tasks = {"open": [PAUSED, RUNNING], "due": [RUNNING], "overdue": []}[status or "open"]
    return httpx.Response(200, json={"branch_id": "b1", "status": status, "as_of": "2026-03-05T00:00:00Z",
                                     "count": len(tasks), "tasks": tasks})  # fmt: skip


async def test_a_paused_task_is_listed_and_labelled_in_both_languages(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    services.on("GET", URL, _lists)
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1"]))
    statuses = set()
    for lang, label, panel in (
        ("en", "Paused while the complaint is on hold", "Paused (complaint on hold)"),
        ("zh", "投诉暂停期间已暂停", "已暂停（投诉暂停处理中）"),
    ):
        client.cookies.set("bc_lang", lang)
        page = await client.get("/b/b1/follow-ups")
        assert page.status_code == 200, page.text
        html = page.text
        assert html.count(label) == 1 and panel in html  # the paused task only, in its own panel
        row = html[html.index(f'data-task="{PAUSED["task_id"]}"') :]
        row = row[: row.index("</tr>")]
        assert label in row and 'class="countdown"' not in row  # its due time moves: no countdown
        running = html[html.index(f'data-task="{RUNNING["task_id"]}"') :]
        assert label not in running[: running.index("</tr>")] and 'class="countdown"' in running
        statuses |= {c.url.params.get("status") for c in services.calls}
    assert statuses == {"overdue", "due", "open"}


async def test_without_paused_tasks_there_is_no_paused_panel(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    listed = {
        "branch_id": "b1",
        "status": "open",
        "as_of": "2026-03-05T00:00:00Z",
        "count": 1,
        "tasks": [RUNNING],
    }
    services.on("GET", URL, lambda r: httpx.Response(200, json=listed))
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1"]))
    client.cookies.set("bc_lang", "en")
    page = await client.get("/b/b1/follow-ups")
    assert page.status_code == 200 and "Paused" not in page.text
