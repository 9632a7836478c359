"""Issue 15 in the console: customers are picked through the vault (the raw values go only to
the vault, never into a visit or complaint, never back into a page), and every create form
carries one idempotency key per rendering, so a double click is one visit or one case."""

from __future__ import annotations

import json
import re

import httpx

from tests.support.pii import phone
from tests.unit.console.test_console_pages import Services, console, signed_in, token  # noqa: F401

REF = "Hk3v0Qm7_Zb1xYt9LsWc2Rn8PdFa4Ue6"
VISIT = "00000000-0000-4000-8000-0000000000aa"
CASE = "00000000-0000-4000-8000-0000000000cc"
CATALOGUE = {"lines": [], "materials": {}, "requirements": {"enquiry": []}, "phone": {"max_rings": 3}}


def _key(page: str) -> str:
    found = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert found, "the form carries an idempotency key"
    return found.group(1)


def _registered(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        201, json={"customer_ref": REF, "masked": {"name": "王**", "phone": "138****0000"}, "created": True}
    )


async def test_the_desk_picks_the_customer_in_the_vault_and_a_double_click_is_one_visit(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    signed_in(client, token("cs-1", ["counter_staff"], ["b1"]))
    services.on("GET", "http://reception.test/catalogue", lambda r: httpx.Response(200, json=CATALOGUE))
    services.on("POST", "http://reception.test/branches/b1/customers", _registered)
    arrivals: list[httpx.Request] = []

    def arrive(request: httpx.Request) -> httpx.Response:
        arrivals.append(request)
        replayed = {"Idempotent-Replayed": "true"} if len(arrivals) > 1 else {}
        body = {"visit_id": VISIT, "ticket": None, "status": "arrived", "line": None, "version": 1}
        return httpx.Response(201, json=body, headers=replayed)

    services.on("POST", "http://reception.test/branches/b1/visits", arrive)
    for step in ("greet", "confirm-need", "guide", "queue"):
        services.on(
            "POST",
            f"http://reception.test/visits/{VISIT}/{step}",
            lambda r: httpx.Response(200, json={"visit_id": VISIT, "status": "guided", "version": 2}),
        )

    page = (await client.get("/b/b1/desk")).text
    key = _key(page)
    assert 'name="customer_ref"' not in page, "nobody types a reference"
    assert key != _key((await client.get("/b/b1/desk")).text), "a new key per rendered form"
    mobile = phone()
    form = {
        "idempotency_key": key,
        "service_type": "enquiry",
        "customer_name": "王小明",
        "customer_phone": mobile,
    }
    first = await client.post("/b/b1/desk/visits", data=form)
    second = await client.post("/b/b1/desk/visits", data=form)  # the double click
    assert first.status_code == second.status_code == 303

    vault_calls = [c for c in services.calls if c.url.path == "/branches/b1/customers"]
    assert json.loads(vault_calls[0].content) == {"name": "王小明", "phone": mobile}
    assert {c.headers["idempotency-key"] for c in vault_calls} == {f"{key}.customer"}
    assert [a.headers["idempotency-key"] for a in arrivals] == [key, key]
    arrival = json.loads(arrivals[0].content)
    assert arrival["customer_ref"] == REF and arrival["display_name"] == "王**"
    for call in services.calls:  # the raw values went to the vault only
        if call.url.path != "/branches/b1/customers":
            assert mobile not in call.content.decode() and "王小明" not in call.content.decode()
    greets = [c for c in services.calls if c.url.path.endswith("/greet")]
    assert len(greets) == 1, "the replayed arrival ran no steps again"
    queue = [c for c in services.calls if c.url.path.endswith("/queue")]
    assert [c.headers["idempotency-key"] for c in queue] == [f"{key}.queue"]


async def test_a_refused_lookup_never_shows_the_typed_number_again(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1"]))
    services.on("GET", "http://complaint.test/branches/b1/complaints", lambda r: httpx.Response(200, json={
        "branch_id": "b1", "as_of": "2026-03-02T01:00:00Z", "complaints": []}))  # fmt: skip
    error = [{"type": "value_error", "loc": ["body", "phone"], "msg": "a mainland mobile number"}]
    services.on(
        "POST",
        "http://reception.test/branches/b1/customers",
        lambda r: httpx.Response(422, json={"detail": error}),
    )
    mobile = phone()
    bad = mobile[:-1]
    page = await client.post(
        "/b/b1/complaints",
        data={"channel": "web", "description": "x", "customer_name": "王小明", "customer_phone": bad},
    )
    assert page.status_code == 422 and "a mainland mobile number" in page.text
    assert bad not in page.text and "王小明" not in page.text
    assert not [c for c in services.calls if c.url.host == "complaint.test" and c.method == "POST"]

    missing = await client.post("/b/b1/complaints", data={"channel": "web", "description": "x"})
    assert missing.status_code == 422 and 'id="err-customer_name"' in missing.text


async def test_a_complaint_form_uses_the_vault_answer_and_its_key(
    console: tuple[httpx.AsyncClient, Services],  # noqa: F811
) -> None:
    client, services = console
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1"]))
    services.on("POST", "http://reception.test/branches/b1/customers", _registered)
    services.on(
        "POST",
        "http://complaint.test/branches/b1/complaints",
        lambda r: httpx.Response(201, json={"complaint_id": CASE}),
    )
    form = {"idempotency_key": "k" * 36, "channel": "web", "description": "card swallowed"}
    done = await client.post(
        "/b/b1/complaints", data={**form, "customer_name": "王小明", "customer_phone": phone()}
    )
    assert done.status_code == 303 and CASE in done.headers["location"]
    (created,) = [c for c in services.calls if c.url.host == "complaint.test"]
    assert created.headers["idempotency-key"] == "k" * 36
    assert json.loads(created.content)["customer_ref"] == REF
