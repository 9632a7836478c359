"""The desk lists the branch's visits of the day from reception (not from a cookie of its own), the
same for every terminal, and keeps the list live like the lobby board."""

from __future__ import annotations

import httpx

from tests.unit.console.test_console_pages import LOBBY, Services, console, signed_in, token  # noqa: F401

CATALOGUE = {"lines": [], "materials": {}, "requirements": {"enquiry": []}, "phone": {"max_rings": 3}}


def _visit(n: int, stage: str, status: str, **more: object) -> dict[str, object]:
    return {
        "visit_id": f"00000000-0000-4000-8000-00000000000{n}", "status": status, "stage": stage,
        "arrival": "walk_in", "display_name": "王**", "customer_ref": None, "priority": None,
        "accessibility": [], "service_type": "enquiry", "line": None, "ticket": None,
        "arrived_at": f"2026-03-02T01:0{n}:00Z", "queued_at": None, "calls": 0, "counter_id": None,
        "staff_id": None, "served_at": None, "left_at": None, "left_reason": None, "wait_sla": None,
        "complaints": 0, "version": 2,
    } | more  # fmt: skip


PAGE = {
    "branch_id": "b1",
    "day": "2026-03-02",
    "items": [
        _visit(3, "left", "left"),
        _visit(2, "being_served", "called", ticket="A001", counter_id="3"),
        _visit(1, "greeted", "greeted"),
    ],
    "next_cursor": None,
}


async def test_every_terminal_lists_the_branch_visits_from_reception(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    services.on("GET", "http://reception.test/catalogue", lambda r: httpx.Response(200, json=CATALOGUE))
    services.on("GET", "http://reception.test/branches/b1/lobby", lambda r: httpx.Response(200, json=LOBBY))
    services.on("GET", "http://reception.test/branches/b1/visits", lambda r: httpx.Response(200, json=PAGE))
    for staff in ("lm-1", "teller-2"):  # two terminals, no shared cookie
        client.cookies.clear()
        signed_in(client, token(staff, ["lobby_manager", "counter_staff"], ["b1"]))
        page = await client.get("/b/b1/desk")
        assert page.status_code == 200
        assert "bc_desk_recent" not in page.headers.get("set-cookie", "")
        html = page.text
        rows = [html.index(f'data-visit="{v["visit_id"]}"') for v in PAGE["items"]]  # type: ignore[index]
        assert rows[1] < rows[2] < rows[0], "open visits first (newest first), the one who left last"
        assert 'data-stream="/b/b1/desk/visits/stream"' in html
        assert "柜台办理中" in html and "请到 3 号柜台" in html
    listed = [c for c in services.calls if c.url.path == "/branches/b1/visits"]
    assert listed and all(c.headers["authorization"].startswith("Bearer ") for c in listed)

    partial = await client.get("/b/b1/desk/visits/partial")
    assert partial.status_code == 200 and 'data-stage="being_served"' in partial.text


async def test_staff_of_another_branch_get_no_list(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    signed_in(client, token("lm-9", ["lobby_manager"], ["b9"]))
    assert (await client.get("/b/b1/desk/visits/partial")).status_code == 403
    assert (await client.get("/b/b1/desk/visits/stream")).status_code == 403
    assert not [c for c in services.calls if c.url.path == "/branches/b1/visits"]


async def test_the_lobby_board_shows_the_in_progress_stages(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    counts = {"greeted": 2, "guided": 1, "documents": 0, "being_served": 3}
    lobby = LOBBY | {"in_progress": {"counts": counts, "visits": []}}
    services.on("GET", "http://reception.test/branches/b1/lobby", lambda r: httpx.Response(200, json=lobby))
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1"]))
    html = (await client.get("/b/b1/lobby/partial")).text
    for stage in counts:
        assert f'data-stage="{stage}"' in html
    assert "迎候中 <strong>2</strong>" in html and "柜台办理中 <strong>3</strong>" in html


async def test_the_board_shows_each_counter_state_and_no_estimate_without_an_open_counter(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    lobby = LOBBY | {
        "counters": [
            {"counter_id": "1", "status": "busy", "ticket": "A001", "state": "open"},
            {"counter_id": "2", "status": "paused", "pause_reason": "lunch", "state": "paused"},
            {"counter_id": "3", "status": "closed", "state": "closed"},
            {"counter_id": "4", "status": "free", "state": "open"},
        ],
        "lines": [line | {"estimated_wait_seconds": None} for line in LOBBY["lines"]],  # type: ignore[attr-defined]
    }
    services.on("GET", "http://reception.test/branches/b1/lobby", lambda r: httpx.Response(200, json=lobby))
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1"]))
    html = (await client.get("/b/b1/lobby/partial")).text
    assert "暂停服务（午餐）" in html and "已关闭" in html and "空闲" in html and "办理中 A001" in html
    assert "counter-paused" in html and "无柜台开放" in html


async def test_a_teller_pauses_their_counter_from_the_desk_and_sees_why_not(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    services.on("GET", "http://reception.test/catalogue", lambda r: httpx.Response(200, json=CATALOGUE))
    services.on("GET", "http://reception.test/branches/b1/lobby", lambda r: httpx.Response(200, json=LOBBY))
    services.on("GET", "http://reception.test/branches/b1/visits", lambda r: httpx.Response(200, json=PAGE))
    paused = {"branch_id": "b1", "counter_id": "3", "status": "paused", "staff_id": "teller-2", "lines": [],
              "pause_reason": "lunch", "since": "2026-03-02T04:00:00Z", "version": 2}  # fmt: skip
    services.on(
        "POST",
        "http://reception.test/branches/b1/counters/3/pause",
        lambda r: httpx.Response(200, json=paused),
    )
    busy = {
        "detail": "counter 3 is busy with ticket A001: serve that customer (or record that they left) first"
    }
    services.on(
        "POST", "http://reception.test/branches/b1/counters/3/close", lambda r: httpx.Response(409, json=busy)
    )
    signed_in(client, token("teller-2", ["counter_staff"], ["b1"]))
    page = (await client.get("/b/b1/desk")).text
    assert 'action="/b/b1/desk/counter"' in page and 'value="lunch"' in page
    done = await client.post(
        "/b/b1/desk/counter", data={"counter_id": "3", "step": "pause", "reason": "lunch"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/b/b1/desk"
    sent = [c for c in services.calls if c.url.path == "/branches/b1/counters/3/pause"]
    assert sent and sent[0].content == b'{"reason":"lunch"}'
    refused = await client.post("/b/b1/desk/counter", data={"counter_id": "3", "step": "close"})
    assert refused.status_code == 409 and "busy with ticket A001" in refused.text
    assert (
        await client.post("/b/b1/desk/counter", data={"counter_id": "3", "step": "nap"})
    ).status_code == 422


async def test_the_satisfaction_page_shows_delivery_failures_apart(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    overall = {
        "requested": 10, "reached": 8, "answered": 6, "expired": 1, "pending": 1, "negative": 1,
        "satisfaction_rate": 0.8333, "csat_average": 4.2, "response_rate": 0.75, "target": 0.95,
        "gap_to_target": 0.1167, "meets_target": False,
        "delivery": {"not_sent_yet": 0, "send_failed": 1, "given_up": 1,
                     "by_reason": {"gateway_error": 1, "no_contact": 1}},
    }  # fmt: skip
    body = {"target": 0.95, "overall": overall, "by_day": [], "by_service_type": [], "by_staff_id": []}
    services.on(
        "GET", "http://feedback.test/branches/b1/satisfaction", lambda r: httpx.Response(200, json=body)
    )
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1"]))
    html = (await client.get("/b/b1/satisfaction")).text
    section = html[html.index('id="sat-delivery"') :]
    assert "未送达的调查（不计入回复率）" in section and "75.0%" in html
    assert 'data-reason="gateway_error"' in section and "无联系方式: 1" in section
    assert "<strong>6</strong> / 8" in html, "answered out of those the survey reached"
